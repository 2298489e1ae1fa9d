using System.Net;
using System.Net.Sockets;
using Anvil.Broker.Auth;
using Anvil.Hosting;

namespace Anvil.Bench;

/// <summary>
/// The Anvil broker service as its own process (as redis-server is), on a free 127.0.0.1 port, auth on, started by the
/// suite's own launcher (<see cref="ServiceLauncher"/>).
/// </summary>
internal sealed class BrokerProcess : IDisposable
{
    private readonly ServiceLauncher launcher;

    private BrokerProcess(ServiceLauncher launcher, string token)
    {
        this.launcher = launcher;
        Token = token;
    }

    public string Address => launcher.Address;

    /// <summary>A read/write token for the benchmark's beamtime.</summary>
    public string Token { get; }

    public const string Fsync = "Broker:Fsync=interval, FsyncIntervalMs=10 (group commit)";

    public TimeSpan Cpu => launcher.Cpu;

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<BrokerProcess> StartAsync(string dir, string beamtime)
    {
        var secret = SigningKeys.NewSecret();
        var secretFile = Path.Combine(dir, "broker.secret");
        await File.WriteAllTextAsync(secretFile, secret);
        var token = new BrokerTokens(SigningKeys.Parse(secret)).Mint(beamtime, BrokerAccess.Any, TimeSpan.FromHours(2));
        var launcher = await ServiceLauncher.StartAsync(new LaunchOptions
        {
            Dll = ServiceDll(),
            Port = FreePort(),
            Environment = new Dictionary<string, string?>
            {
                ["Broker__DataDir"] = Path.Combine(dir, "broker"),
                ["Broker__Fsync"] = "interval",
                ["Broker__FsyncIntervalMs"] = "10",
                ["Broker__Auth__Enabled"] = "true",
                ["Broker__Auth__SecretFile"] = secretFile,
                ["Logging__LogLevel__Default"] = "Warning",
                [SigningKeys.EnvironmentVariable] = null,
            },
        }, TimeSpan.FromSeconds(60));
        return new BrokerProcess(launcher, token);
    }

    public void Dispose() => launcher.DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static string ServiceDll()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var dll = Path.Combine(dir.FullName, "services", "broker", "bin", configuration, "net10.0", "Anvil.Broker.Service.dll");
            if (File.Exists(dll))
            {
                return dll;
            }
        }

        throw new FileNotFoundException($"services/broker is not built in {configuration}; `./anvil bench broker` builds it.");
    }
}
