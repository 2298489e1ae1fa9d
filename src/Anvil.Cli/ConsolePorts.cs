using System.Net;
using System.Net.Sockets;

namespace Anvil.Cli;

/// <summary>
/// Where the suite's results console listens (services/console): its gRPC health endpoint (h2c, what the suite's
/// health wait and supervisor call) and its page (HTTP/1.1). <paramref name="Bind"/> is the page's address:
/// 127.0.0.1 by default; 0.0.0.0 (or a NIC's address) lets other PCs open it.
/// </summary>
public sealed record ConsolePorts(int Grpc, int Http, string Bind = "127.0.0.1")
{
    /// <summary>The documented defaults (README, services/console/appsettings.json).</summary>
    public static ConsolePorts Defaults { get; } = new(5106, 5181);

    /// <summary>Free loopback ports (demo, tests).</summary>
    public static ConsolePorts Free() => new(FreePort(), FreePort());

    /// <summary>The page's address as this machine opens it.</summary>
    public string Url => $"http://{(Bind is "0.0.0.0" or "[::]" or "*" or "localhost" ? "127.0.0.1" : Bind)}:{Http}/";

    /// <summary>The environment that puts the page's HTTP/1.1 endpoint on <see cref="Bind"/>:<see cref="Http"/>.</summary>
    public Dictionary<string, string> Environment() => new()
    {
        ["Kestrel__Endpoints__Http__Url"] = $"http://{(Bind.Contains(':', StringComparison.Ordinal) && !Bind.StartsWith('[') ? $"[{Bind}]" : Bind)}:{Http}",
        ["Kestrel__Endpoints__Http__Protocols"] = "Http1",
    };

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
