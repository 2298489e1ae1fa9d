using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Anvil.Broker.V1;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.Broker.Tests;

/// <summary>
/// The built broker service (<c>Anvil.Broker.Service.dll</c>, copied next to the tests) as a separate process on
/// 127.0.0.1 port 0; the bound port is read from its "Now listening on" log line.
/// </summary>
public sealed partial class BrokerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder log;

    private BrokerProcess(Process process, StringBuilder log, string address)
    {
        this.process = process;
        this.log = log;
        Address = address;
        Channel = GrpcChannel.ForAddress(address);
        Producer = new Producer.ProducerClient(Channel);
        Consumer = new Consumer.ConsumerClient(Channel);
    }

    public string Address { get; }

    public GrpcChannel Channel { get; }

    public Producer.ProducerClient Producer { get; }

    public Consumer.ConsumerClient Consumer { get; }

    public string Log
    {
        get
        {
            lock (log)
            {
                return log.ToString();
            }
        }
    }

    public static async Task<BrokerProcess> StartAsync(string dataDir, string fsync)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Anvil.Broker.Service.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            dll, "--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:0", "--Kestrel:Endpoints:Grpc:Protocols=Http2",
            $"--Broker:DataDir={dataDir}", $"--Broker:Fsync={fsync}", "--Broker:Auth:Enabled=false",
            "--Logging:LogLevel:Default=Information", "--Logging:Console:FormatterName=simple",
        })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        var process = new Process { StartInfo = info };
        var log = new StringBuilder();
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (log)
            {
                log.AppendLine(line);
            }

            if (ListeningLine().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(match.Groups[1].Value);
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("The broker process exited during startup."));
        process.EnableRaisingEvents = true;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await listening.Task.DefaultTimeout(TimeSpan.FromSeconds(60));
            var broker = new BrokerProcess(process, log, address);

            // The broker listens while it replays its data directory (docs/broker.md §7): ready once health says SERVING.
            var health = new Grpc.Health.V1.Health.HealthClient(broker.Channel);
            await TaskTimeoutExtensions.Until("the broker has replayed its data directory", () =>
            {
                try
                {
                    return health.Check(new Grpc.Health.V1.HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2)).Status
                        == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving;
                }
                catch (Grpc.Core.RpcException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60));
            return broker;
        }
        catch (Exception ex)
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new InvalidOperationException($"The broker did not start: {ex.Message}\n{log}", ex);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed beyond what already reached the OS.</summary>
    public async Task KillAsync()
    {
        if (!process.HasExited)
        {
            process.Kill();
        }

        await process.WaitForExitAsync().DefaultTimeout();
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await KillAsync();
        process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();
}
