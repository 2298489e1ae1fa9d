using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Anvil.Broker.Auth;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Anvil.Bench;

/// <summary>The Anvil broker service as its own process (as redis-server is), on a free 127.0.0.1 port, auth on.</summary>
internal sealed class BrokerProcess : IDisposable
{
    private readonly Process process;

    private BrokerProcess(Process process, string address, string token)
    {
        this.process = process;
        Address = address;
        Token = token;
    }

    public string Address { get; }

    /// <summary>A read/write token for the benchmark's beamtime.</summary>
    public string Token { get; }

    public const string Fsync = "Broker:Fsync=interval, FsyncIntervalMs=10 (group commit)";

    public TimeSpan Cpu
    {
        get
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
    }

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
        var port = FreePort();
        var address = $"http://127.0.0.1:{port}";
        var dll = ServiceDll();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll },
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["Kestrel__Endpoints__Grpc__Url"] = address;
        start.Environment["Kestrel__Endpoints__Grpc__Protocols"] = "Http2";
        start.Environment["Broker__DataDir"] = Path.Combine(dir, "broker");
        start.Environment["Broker__Fsync"] = "interval";
        start.Environment["Broker__FsyncIntervalMs"] = "10";
        start.Environment["Broker__Auth__Enabled"] = "true";
        start.Environment["Broker__Auth__SecretFile"] = secretFile;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment.Remove(SigningKeys.EnvironmentVariable);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Console.Error.WriteLine("broker: " + line);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var channel = GrpcChannel.ForAddress(address);
        var health = new Health.HealthClient(channel);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return new BrokerProcess(process, address, token);
                }
            }
            catch (Grpc.Core.RpcException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
            }

            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"the broker at {address} did not start (exit code {(process.HasExited ? process.ExitCode.ToString(CultureInfo.InvariantCulture) : "-")})");
            }

            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        process.Dispose();
    }

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
