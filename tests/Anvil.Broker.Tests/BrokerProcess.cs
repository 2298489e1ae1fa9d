using Anvil.Broker.V1;
using Anvil.Hosting;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.Broker.Tests;

/// <summary>
/// The built broker service (<c>Anvil.Broker.Service.dll</c>, copied next to the tests) as a separate process on
/// 127.0.0.1 port 0, started by the suite's own launcher (<see cref="ServiceLauncher"/>); ready once it has replayed
/// its data directory (docs/broker.md §7) and answers its health check.
/// </summary>
public sealed class BrokerProcess : IAsyncDisposable
{
    private readonly ServiceLauncher launcher;

    private BrokerProcess(ServiceLauncher launcher)
    {
        this.launcher = launcher;
        Address = launcher.Address;
        Channel = GrpcChannel.ForAddress(Address);
        Producer = new Producer.ProducerClient(Channel);
        Consumer = new Consumer.ConsumerClient(Channel);
    }

    public string Address { get; }

    public GrpcChannel Channel { get; }

    public Producer.ProducerClient Producer { get; }

    public Consumer.ConsumerClient Consumer { get; }

    public string Log => launcher.Log;

    public static async Task<BrokerProcess> StartAsync(string dataDir, string fsync)
    {
        var options = new LaunchOptions
        {
            Dll = Path.Combine(AppContext.BaseDirectory, "Anvil.Broker.Service.dll"),
            Arguments =
            [
                $"--Broker:DataDir={dataDir}", $"--Broker:Fsync={fsync}", "--Broker:Auth:Enabled=false",
                "--Logging:LogLevel:Default=Information", "--Logging:Console:FormatterName=simple",
            ],
            Environment = new Dictionary<string, string?> { ["DOTNET_ENVIRONMENT"] = "Production", ["OTEL_EXPORTER_OTLP_ENDPOINT"] = null },
        };
        return new BrokerProcess(await ServiceLauncher.StartAsync(options, TimeSpan.FromSeconds(60)).DefaultTimeout(TimeSpan.FromSeconds(90)));
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed beyond what already reached the OS.</summary>
    public Task KillAsync() => launcher.KillAsync().DefaultTimeout();

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await launcher.DisposeAsync();
    }
}
