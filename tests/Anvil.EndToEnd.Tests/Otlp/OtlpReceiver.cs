using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using Google.Protobuf;

namespace Anvil.EndToEnd.Tests.Otlp;

/// <summary>One span as exported, decoded with the test-only OTLP subset.</summary>
public sealed record ReceivedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name, Span.Types.SpanKind Kind,
    IReadOnlyDictionary<string, string> Attributes, bool Error, IReadOnlyList<(string TraceId, string SpanId)> Links)
{
    public string? this[string attribute] => Attributes.TryGetValue(attribute, out var v) ? v : null;
}

/// <summary>One log record as exported.</summary>
public sealed record ReceivedLog(string Service, string Severity, string Body, string TraceId, string SpanId);

/// <summary>
/// A small OTLP/HTTP receiver on 127.0.0.1 (no OTLP collector can be installed on the build machines): accepts <c>POST /v1/traces</c>, <c>/v1/metrics</c> and
/// <c>/v1/logs</c> (protobuf, maybe gzip), decodes them with <c>otlp_subset.proto</c> and keeps what arrived for the
/// tests. Services point at it with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> and <c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c>.
/// </summary>
public sealed class OtlpReceiver : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Task loop;
    private readonly ConcurrentQueue<ReceivedSpan> spans = new();
    private readonly ConcurrentQueue<ReceivedLog> logs = new();
    private readonly ConcurrentDictionary<(string Service, string Metric), bool> metrics = new();
    private long errors;

    public OtlpReceiver()
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Endpoint = $"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}";
        }

        listener.Prefixes.Add(Endpoint + "/");
        listener.Start();
        loop = Task.Run(ServeAsync);
    }

    public string Endpoint { get; }

    public IReadOnlyCollection<ReceivedSpan> Spans => spans;

    public IReadOnlyCollection<ReceivedLog> Logs => logs;

    /// <summary>(service, metric name) pairs received.</summary>
    public ICollection<(string Service, string Metric)> Metrics => metrics.Keys;

    /// <summary>Requests that could not be decoded.</summary>
    public long DecodeErrors => Interlocked.Read(ref errors);

    /// <summary>The environment that makes a service export here, quickly (batch delays of 200 ms, metrics each second).</summary>
    public Dictionary<string, string> Environment() => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
    };

    public void Dispose()
    {
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(2));
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                using var body = new MemoryStream();
                Stream input = context.Request.InputStream;
                if (string.Equals(context.Request.Headers["Content-Encoding"], "gzip", StringComparison.OrdinalIgnoreCase))
                {
                    input = new GZipStream(input, CompressionMode.Decompress);
                }

                await input.CopyToAsync(body);
                var status = Decode(context.Request.Url!.AbsolutePath, body.ToArray()) ? 200 : 404;
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.ContentLength64 = 0;
                context.Response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or InvalidProtocolBufferException)
            {
                Interlocked.Increment(ref errors);
                context.Response.Abort();
            }
        }
    }

    private bool Decode(string path, byte[] body)
    {
        switch (path)
        {
            case "/v1/traces":
                foreach (var resource in ExportTraceServiceRequest.Parser.ParseFrom(body).ResourceSpans)
                {
                    var service = ServiceName(resource.Resource);
                    foreach (var span in resource.ScopeSpans.SelectMany(s => s.Spans))
                    {
                        spans.Enqueue(new ReceivedSpan(service, Hex(span.TraceId), Hex(span.SpanId), Hex(span.ParentSpanId), span.Name, span.Kind,
                            span.Attributes.ToDictionary(a => a.Key, a => Text(a.Value), StringComparer.Ordinal),
                            span.Status?.Code == Status.Types.StatusCode.Error,
                            [.. span.Links.Select(l => (Hex(l.TraceId), Hex(l.SpanId)))]));
                    }
                }

                return true;
            case "/v1/metrics":
                foreach (var resource in ExportMetricsServiceRequest.Parser.ParseFrom(body).ResourceMetrics)
                {
                    var service = ServiceName(resource.Resource);
                    foreach (var metric in resource.ScopeMetrics.SelectMany(s => s.Metrics))
                    {
                        metrics[(service, metric.Name)] = true;
                    }
                }

                return true;
            case "/v1/logs":
                foreach (var resource in ExportLogsServiceRequest.Parser.ParseFrom(body).ResourceLogs)
                {
                    var service = ServiceName(resource.Resource);
                    foreach (var log in resource.ScopeLogs.SelectMany(s => s.LogRecords))
                    {
                        logs.Enqueue(new ReceivedLog(service, log.SeverityText, Text(log.Body), Hex(log.TraceId), Hex(log.SpanId)));
                    }
                }

                return true;
            default:
                return false;
        }
    }

    private static string ServiceName(Resource? resource) =>
        resource?.Attributes.FirstOrDefault(a => a.Key == "service.name") is { } name ? Text(name.Value) : "";

    private static string Hex(ByteString bytes) => Convert.ToHexStringLower(bytes.Span);

    private static string Text(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BytesValue => Convert.ToHexStringLower(value.BytesValue.Span),
        _ => "",
    };
}
