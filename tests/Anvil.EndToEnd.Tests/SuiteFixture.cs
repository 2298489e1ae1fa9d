using Anvil.Cli;
using Anvil.EndToEnd.Tests.Otlp;
using Anvil.Pipeline;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// One suite (broker, ingest, stitch, two integrate replicas, merge, and the reprocess pool's stitch, integrate and merge —
/// separate processes on free 127.0.0.1 ports) per test collection. Each test writes its own acquisition below the suite's
/// data root. A derived fixture adds to the pipeline configuration (<see cref="Configure"/>).
/// </summary>
public class SuiteFixture : IAsyncLifetime
{
    public string WorkDir { get; } = Path.Combine(Path.GetTempPath(), "anvil-e2e-" + Guid.NewGuid().ToString("N")[..8]);

    public string DataRoot => Path.Combine(WorkDir, "data");

    public string OutputDir => Path.Combine(WorkDir, "out");

    public string Poni => Path.Combine(TestPaths.LambdaFixtures, "L2.poni");

    public int Npt => 1500;

    public Suite Suite { get; private set; } = null!;

    public GrpcChannel IngestChannel { get; private set; } = null!;

    public Anvil.Pipeline.V1.Ingest.IngestClient Ingest => new(IngestChannel);

    /// <summary>Where every service of the suite exports traces, metrics and logs (OTLP/HTTP).</summary>
    public OtlpReceiver Otlp { get; } = new();

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(DataRoot);
        var pipeline = new Dictionary<string, string>
        {
            ["DataRoot"] = DataRoot,
            ["OutputDir"] = OutputDir,
            ["Poni"] = Poni,
            ["Npt"] = Npt.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Unit"] = "2th_deg",
            ["Method"] = "bbox",
            ["Polarization"] = "0.99",
            ["ResendDelay"] = "00:00:05",
        };
        var environment = new Dictionary<string, string>(Otlp.Environment())
        {
            ["OTEL_EXPORTER_PROMETHEUS_PORT"] = FreeConsecutivePorts(9).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        Configure(pipeline, environment);
        Suite = await Suite.StartAsync(new SuiteOptions
        {
            WorkDir = WorkDir,
            Ports = PortPlan.Free(),
            Environment = environment,
            ReprocessPool = true,
            Pipeline = pipeline,
        }, TimeSpan.FromSeconds(90), CancellationToken.None);
        IngestChannel = GrpcChannel.ForAddress(Suite.IngestAddress);
    }

    /// <summary>The 50 real P02.2 frames copied below the data root under another acquisition name; returns their folder.</summary>
    public string CopyRealFrames(string subfolder, string acquisition)
    {
        var folder = Path.Combine(DataRoot, subfolder);
        RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, acquisition);
        return folder;
    }

    /// <summary>Announces the given chunk parts (3 modules, 10 frames each) of frames copied by <see cref="CopyRealFrames"/>.</summary>
    public Task AnnounceAsync(string acquisition, string folder, int[] parts)
    {
        var copied = RealFrameAcquisition.Copied(TestPaths.LambdaFixtures, folder, acquisition);
        return AcquisitionDriver.AnnouncePartsAsync(Ingest, acquisition, parts.Select(p => copied[p]), CancellationToken.None).DefaultTimeout();
    }

    /// <summary>Waits until the supervisor has restarted <paramref name="name"/> (more than <paramref name="restartsBefore"/> restarts) and it serves.</summary>
    public Task WaitRestartedAndServingAsync(string name, int restartsBefore, TimeSpan timeout) =>
        TaskTimeoutExtensions.UntilAsync($"{name} restarted and serving", async () =>
        {
            var current = Suite.Services.Single(s => s.Name == name);
            if (current.Restarts <= restartsBefore || current.Process.HasExited)
            {
                return false;
            }

            using var channel = GrpcChannel.ForAddress(current.Address);
            try
            {
                var health = await new Grpc.Health.V1.Health.HealthClient(channel).CheckAsync(new Grpc.Health.V1.HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                return health.Status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving;
            }
            catch (Grpc.Core.RpcException)
            {
                return false;
            }
        }, timeout);

    /// <summary>Waits for merge to rename the acquisition's result into place.</summary>
    public async Task<string> WaitForResultAsync(string acquisition, TimeSpan? timeout = null)
    {
        var path = Path.Combine(OutputDir, acquisition + ".nxs");
        await TaskTimeoutExtensions.Until($"{path} is written", () =>
        {
            if (Suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited:\n{Suite.Tail(dead)}");
            }

            return File.Exists(path);
        }, timeout ?? TimeSpan.FromMinutes(3));
        return path;
    }

    /// <summary>
    /// Adds to (or changes) the pipeline configuration the suite starts with (<c>Key → value</c>, nested keys with ':') and
    /// the services' environment (e.g. <c>Ingest__Watch</c>).
    /// </summary>
    protected virtual void Configure(Dictionary<string, string> pipeline, Dictionary<string, string> environment)
    {
    }

    public async Task DisposeAsync()
    {
        IngestChannel?.Dispose();
        if (Suite is not null)
        {
            await Suite.DisposeAsync();
        }

        Otlp.Dispose();

        Directory.Delete(WorkDir, recursive: true);
    }

    // The suite gives service k the Prometheus port first + k: find a run of free ones.
    private static int EphemeralStart()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0],
                System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return 32768;
        }
    }

    private static int FreeConsecutivePorts(int count)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            // Below the kernel's ephemeral range (ip_local_port_range), where free ports (bind to 0) and outgoing
            // connections take their ports: a suite's gRPC port or a connection can never land on these.
            var first = Random.Shared.Next(20000, EphemeralStart() - count);
            var listeners = new List<System.Net.Sockets.TcpListener>();
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, first + i);
                    l.Start();
                    listeners.Add(l);
                }

                return first;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Taken: try another run.
            }
            finally
            {
                listeners.ForEach(l => l.Stop());
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free loopback ports found");
    }
}

[CollectionDefinition(Name)]
public sealed class SuiteCollection : ICollectionFixture<SuiteFixture>
{
    public const string Name = "suite";
}
