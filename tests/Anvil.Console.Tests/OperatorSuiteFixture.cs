using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Anvil.Cli;
using Anvil.Cli.Supervision;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.Console.Tests;

/// <summary>
/// The real suite (broker, ingest, stitch, two integrate replicas, merge, the reprocess pool and the console, separate
/// processes on free ports, started by the CLI's <see cref="Suite"/> as <c>./anvil up</c> starts it) for the operator controls. The console's
/// page listens on 127.0.0.1 and ::1 and only 127.0.0.1 may operate, so a client on ::1 stands in for another PC, all on loopback.
/// One acquisition is under way (two of its five chunk parts announced, real Lambda frames), so the table has a row.
/// As under `./anvil up`, a supervisor restarts a service that dies and serves its JSON API to the console's Status tab.
/// </summary>
public class OperatorSuiteFixture : IAsyncLifetime
{
    public const string Acquisition = "op_1009_00001";

    public string WorkDir { get; } = Path.Combine(Path.GetTempPath(), "anvil-console-op-" + Guid.NewGuid().ToString("N")[..8]);

    public string DataRoot => Path.Combine(WorkDir, "data");

    public string Poni => Path.Combine(DataRoot, "calib", "L2.poni");

    public Suite Suite { get; private set; } = null!;

    /// <summary>The console's page on loopback, e.g. http://127.0.0.1:PORT (no trailing slash).</summary>
    public string ConsoleUrl { get; private set; } = string.Empty;

    // The page listens on both loopback addresses, 127.0.0.1 and ::1 (Kestrel's "localhost"): a console without accounts
    // refuses to start on a non-loopback address such as [::].
    public ConsolePorts Ports { get; } = ConsolePorts.Free() with { Bind = "localhost" };

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>The supervisor's JSON API (`anvil up --web`), on a free port the console is told of.</summary>
    public SupervisorApi Supervisor { get; private set; } = null!;

    private readonly CancellationTokenSource stopSupervision = new();
    private Task supervision = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Poni)!);
        File.Copy(Path.Combine(TestPaths.LambdaFixtures, "L2.poni"), Poni);
        var pipeline = new Dictionary<string, string>
        {
            ["DataRoot"] = DataRoot,
            ["OutputDir"] = Path.Combine(WorkDir, "out"),
            ["Poni"] = Poni,
            ["Npt"] = "1500",
            ["Unit"] = "2th_deg",
            ["Method"] = "bbox",
            ["ChunkReadableTimeout"] = "00:00:03",
        };
        Configure(pipeline);
        Suite = await Suite.StartAsync(new SuiteOptions
        {
            WorkDir = WorkDir,
            Ports = PortPlan.Free(),
            Console = Ports,
            SupervisorPort = Supervised ? FreePort() : null,
            ReprocessPool = Supervised,

            // Only 127.0.0.1 may operate here, so a client on ::1 stands in for another PC without leaving loopback.
            Environment = new Dictionary<string, string> { ["Console__OperatorAddresses__0"] = "127.0.0.1" },
            Pipeline = pipeline,
        }, TimeSpan.FromSeconds(120), CancellationToken.None);
        ConsoleUrl = Suite.ConsoleUrl!.TrimEnd('/');
        if (Supervised)
        {
            Supervisor = await SupervisorApi.StartAsync(Suite, Suite.Options.SupervisorPort!.Value, CancellationToken.None).DefaultTimeout();
            supervision = Suite.SuperviseAsync(TextWriter.Null, stopSupervision.Token);
        }

        await StartAcquisitionsAsync();
    }

    /// <summary>Supervised as `./anvil up` supervises, with the reprocess pool (the operator and Status tests); false: the chain and the console only.</summary>
    protected virtual bool Supervised => true;

    /// <summary>Adds to the pipeline configuration the suite starts with (a subclass's detectors).</summary>
    protected virtual void Configure(Dictionary<string, string> pipeline)
    {
    }

    /// <summary>An acquisition under way: parts 0 and 1 of five (10 frames each), not finished.</summary>
    protected virtual Task StartAcquisitionsAsync() => AnnounceAsync(Acquisition, parts: 2);

    /// <summary>Announces the first <paramref name="parts"/> chunk parts (3 modules, 10 frames each) of a copy of the real Lambda frames.</summary>
    public async Task AnnounceAsync(string acquisition, int parts, string detector = "")
    {
        var copied = RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, Path.Combine(DataRoot, detector, acquisition), acquisition);
        using var channel = GrpcChannel.ForAddress(Suite.IngestAddress);
        await AcquisitionDriver.AnnouncePartsAsync(new Ingest.IngestClient(channel), acquisition, copied.Take(parts), CancellationToken.None, detector: detector).DefaultTimeout();
    }

    /// <summary>Announces all five chunk parts of a copy of the real Lambda frames and finishes the acquisition (50 frames).</summary>
    public async Task AnnounceFinishedAsync(string acquisition)
    {
        await AnnounceAsync(acquisition, parts: 5);
        using var channel = GrpcChannel.ForAddress(Suite.IngestAddress);
        await new Ingest.IngestClient(channel).FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
    }

    /// <summary>Where merge writes the results.</summary>
    public string OutputDir => Path.Combine(WorkDir, "out");

    /// <summary>The address a "remote" client uses: IPv6 loopback, which this fixture's console does not let operate.</summary>
    public static IPAddress RemoteStandIn() => IPAddress.IPv6Loopback;

    /// <summary>The console's page as reached from <paramref name="address"/>.</summary>
    public string ConsoleAt(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"http://[{address}]:{Ports.Http.ToString(CultureInfo.InvariantCulture)}"
            : $"http://{address}:{Ports.Http.ToString(CultureInfo.InvariantCulture)}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await stopSupervision.CancelAsync();
        await Task.WhenAny(supervision, Task.Delay(TimeSpan.FromSeconds(30)));
        stopSupervision.Dispose();
        if (Supervisor is not null)
        {
            await Supervisor.DisposeAsync();
        }

        if (Suite is not null)
        {
            await Suite.DisposeAsync();
        }

        Directory.Delete(WorkDir, recursive: true);
    }
}

// Runs alone: starting seven service processes on a small machine must not eat into LiveTests' latency measurement.
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OperatorCollection : ICollectionFixture<OperatorSuiteFixture>, ICollectionFixture<BrowserFixture>
{
    public const string Name = "operator";
}
