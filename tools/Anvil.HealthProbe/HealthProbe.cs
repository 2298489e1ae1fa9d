using System.Net;

namespace Anvil.HealthProbe;

/// <summary>
/// One gRPC health check (<c>grpc.health.v1.Health/Check</c>, empty service name) over plaintext HTTP/2.
/// The request and reply are tiny fixed protobuf messages, so they are written and read by hand.
/// </summary>
public static class HealthProbe
{
    /// <summary>gRPC frame of an empty <c>HealthCheckRequest</c>: not compressed, length 0.</summary>
    private static readonly byte[] EmptyRequest = [0, 0, 0, 0, 0];

    /// <summary>The address to probe: the argument, else ANVIL_HEALTH_URL, else the service's own Kestrel endpoint.</summary>
    public static Uri ResolveAddress(string? argument, Func<string, string?> environment)
    {
        var text = argument is { Length: > 0 } ? argument
            : environment("ANVIL_HEALTH_URL") is { Length: > 0 } explicitUrl ? explicitUrl
            : environment("Kestrel__Endpoints__Grpc__Url") is { Length: > 0 } kestrel ? kestrel
            : throw new ArgumentException("no address: pass http://HOST:PORT, or set ANVIL_HEALTH_URL or Kestrel__Endpoints__Grpc__Url.");

        // A wildcard listen address (http://+:5100, http://0.0.0.0:5100, http://[::]:5100) is probed on loopback.
        foreach (var wildcard in new[] { "://+:", "://*:", "://0.0.0.0:", "://[::]:" })
        {
            text = text.Replace(wildcard, "://127.0.0.1:", StringComparison.Ordinal);
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException($"'{text}' is not an http:// address (the services serve h2c).");
        }

        return uri;
    }

    /// <summary>The serving status (1 = SERVING, 2 = NOT_SERVING, ...) or throws with what went wrong.</summary>
    public static async Task<int> CheckAsync(Uri address, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var handler = new SocketsHttpHandler { UseProxy = false, ConnectTimeout = timeout };
        using var client = new HttpClient(handler) { Timeout = timeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "/grpc.health.v1.Health/Check"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(EmptyRequest),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        using var response = await client.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        var grpcStatus = response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.FirstOrDefault()
            : response.Headers.TryGetValues("grpc-status", out var header) ? header.FirstOrDefault() : null;
        if (response.StatusCode != HttpStatusCode.OK || grpcStatus != "0")
        {
            throw new InvalidOperationException($"HTTP {(int)response.StatusCode}, grpc-status {grpcStatus ?? "missing"}");
        }

        return ParseStatus(body);
    }

    /// <summary>Reads <c>HealthCheckResponse.status</c> (field 1, varint) from one gRPC frame; absent means UNKNOWN (0).</summary>
    public static int ParseStatus(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 5 || frame[0] != 0)
        {
            throw new InvalidOperationException($"not an uncompressed gRPC frame ({frame.Length} bytes)");
        }

        var length = (frame[1] << 24) | (frame[2] << 16) | (frame[3] << 8) | frame[4];
        var message = frame[5..];
        if (message.Length != length)
        {
            throw new InvalidOperationException($"frame says {length} bytes, got {message.Length}");
        }

        // The message holds at most field 1 (tag 0x08) with a small varint.
        return message.Length switch
        {
            0 => 0,
            2 when message[0] == 0x08 && message[1] < 0x80 => message[1],
            _ => throw new InvalidOperationException($"unexpected HealthCheckResponse of {message.Length} bytes"),
        };
    }
}
