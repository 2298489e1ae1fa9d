using System.Net;
using System.Net.Sockets;

namespace Anvil.Cli;

/// <summary>
/// A minimal OTLP/HTTP endpoint on 127.0.0.1 for `anvil demo --tracing on`: it accepts every export
/// (<c>POST /v1/traces</c>, <c>/v1/metrics</c>, <c>/v1/logs</c>), counts requests and bytes, and answers with an
/// empty (valid) protobuf response. It decodes nothing: it stands in for a collector so that measuring the cost of
/// tracing includes the exporters' real work (batching, serialising, sending).
/// </summary>
public sealed class OtlpSink : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Task loop;
    private long requests;
    private long bytes;

    public OtlpSink()
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

    /// <summary>The base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT (with protocol http/protobuf).</summary>
    public string Endpoint { get; }

    public long Requests => Interlocked.Read(ref requests);

    public long Bytes => Interlocked.Read(ref bytes);

    public void Dispose()
    {
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(2));
    }

    private async Task ServeAsync()
    {
        var buffer = new byte[81920];
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
                int n;
                while ((n = await context.Request.InputStream.ReadAsync(buffer)) > 0)
                {
                    Interlocked.Add(ref bytes, n);
                }

                Interlocked.Increment(ref requests);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.ContentLength64 = 0;
                context.Response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException)
            {
                // The exporter gave up on this request; it retries or drops, as it would with a collector.
            }
        }
    }
}
