using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Anvil.Broker.Auth;
using Anvil.Hosting;
using Anvil.Pipeline;

namespace Anvil.Cli;

/// <summary>One running service of the suite.</summary>
public sealed record ServiceProcess(string Name, string Address, Process Process, string LogPath)
{
    /// <summary>The process's launcher (health, stop).</summary>
    public required ServiceLauncher Launcher { get; init; }

    /// <summary>The service's Prometheus scrape URL (HTTP/1.1), when OTEL_EXPORTER_PROMETHEUS_PORT was given.</summary>
    public string? MetricsUrl { get; init; }

    /// <summary>How often the supervisor restarted it after it died.</summary>
    public int Restarts { get; init; }

    /// <summary>Exit code of the last process that died, if any.</summary>
    public int? LastExitCode { get; init; }

    /// <summary>When the last process that died exited (UTC), if any.</summary>
    public DateTime? LastExitUtc { get; init; }

    /// <summary>When this process was started (UTC).</summary>
    public DateTime StartedUtc { get; init; } = DateTime.UtcNow;
}

/// <summary>The port of each service instance (broker, ingest, stitch, integrate, integrate-2, merge, …).</summary>
public sealed record PortPlan(IReadOnlyDictionary<string, int> Ports)
{
    /// <summary>The documented defaults: deploy/topology.json's ports, replica k on port + k − 1, the reprocess pool's too.</summary>
    public static PortPlan Defaults { get; } = new(Suite.Topology.Chain.SelectMany(s => s.Instances().Concat(s.ReprocessInstances())).ToDictionary(i => i.Instance, i => i.Port));

    public int Broker => this["broker"];
    public int Ingest => this["ingest"];
    public int Stitch => this["stitch"];
    public int Integrate => this["integrate"];
    public int Integrate2 => this["integrate-2"];
    public int Merge => this["merge"];

    public int this[string instance] => Ports.TryGetValue(instance, out var port) ? port : throw new KeyNotFoundException($"no port planned for {instance}");

    /// <summary>
    /// How to choose these ports again when one was taken between choosing and binding (another process's connection got
    /// it as its local port, say): set for <see cref="Free()"/> plans, which <see cref="Suite.StartAsync"/> then retries.
    /// </summary>
    public Func<PortPlan>? Replan { get; init; }

    /// <summary>Free loopback ports for every instance, for runs beside another suite (demo, tests).</summary>
    public static PortPlan Free() => new(FreePorts(Defaults.Ports.Keys)) { Replan = Free };

    /// <summary>Free loopback ports for every instance with <paramref name="integrateReplicas"/> integrate replicas (`bench pipeline --replicas`).</summary>
    public static PortPlan Free(int integrateReplicas) => new(FreePorts(Suite.Topology.Services
        .SelectMany(s => (s.Name == "integrate" ? s with { Replicas = integrateReplicas } : s).Instances().Concat(s.ReprocessInstances()))
        .Select(i => i.Instance)))
    { Replan = () => Free(integrateReplicas) };

    // One free port per name, all held open until every one is chosen, so no two names get the same port.
    private static Dictionary<string, int> FreePorts(IEnumerable<string> names)
    {
        var listeners = new List<(string Name, TcpListener Listener)>();
        try
        {
            foreach (var name in names)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listeners.Add((name, listener));
                listener.Start();
            }

            return listeners.ToDictionary(l => l.Name, l => ((IPEndPoint)l.Listener.LocalEndpoint).Port);
        }
        finally
        {
            listeners.ForEach(l => l.Listener.Stop());
        }
    }
}

/// <summary>What a suite runs on.</summary>
public sealed record SuiteOptions
{
    /// <summary>Working folder: broker storage and service logs go below it.</summary>
    public required string WorkDir { get; init; }

    public PortPlan Ports { get; init; } = PortPlan.Defaults;

    /// <summary>The broker's data directory; null = <c>broker</c> below <see cref="WorkDir"/>.</summary>
    public string? BrokerDataDir { get; init; }

    /// <summary>Pipeline settings passed to every service as <c>Pipeline__Key</c> environment variables.</summary>
    public IReadOnlyDictionary<string, string> Pipeline { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra environment for every service (OTEL_* variables pass through from the caller anyway).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Integrate replicas (they share one consumer group); null = deploy/topology.json's.</summary>
    public int? IntegrateReplicas { get; init; }

    /// <summary>
    /// Whether to start the reprocess pool too (deploy/topology.json's <c>reprocess</c> instances of stitch, integrate and
    /// merge, with <c>Pipeline__Pool=reprocess</c> at its <c>reprocessNice</c>): `anvil up` does, so a reprocessing
    /// never runs on the live chain's workers; without it a reprocessing waits in the broker until a pool runs.
    /// </summary>
    public bool ReprocessPool { get; init; }

    /// <summary>The results console's ports (services/console), or null to run the chain without it.</summary>
    public ConsolePorts? Console { get; init; }

    /// <summary>
    /// The port of the supervisor's JSON API (<see cref="Supervision.SupervisorApi"/>, `anvil up --web`) that the console's
    /// Status tab reads restarts, exit codes and logs from; null when nothing serves it (the tab then says so).
    /// </summary>
    public int? SupervisorPort { get; init; }
}

/// <summary>
/// Starts the services of deploy/topology.json as separate processes on 127.0.0.1, in its order — broker, ingest,
/// stitch, integrate (two replicas), merge — then the reprocess pool when <see cref="SuiteOptions.ReprocessPool"/> is set
/// and the results console when <see cref="SuiteOptions.Console"/> is set,
/// each from its own build output, with its log in the work folder; waits
/// for every gRPC health check to answer SERVING; stops them all (SIGTERM, then kill) on dispose.
/// </summary>
public sealed class Suite : IAsyncDisposable
{
    private readonly List<ServiceProcess> services = [];
    private readonly Dictionary<string, (TopologyService Service, int Port, Dictionary<string, string> Environment, (int Nice, bool Idle) Priority)> launches = new(StringComparer.Ordinal);
    private readonly Lock servicesGate = new();

    private Suite(SuiteOptions options)
    {
        Options = options;
    }

    public SuiteOptions Options { get; }

    public IReadOnlyList<ServiceProcess> Services
    {
        get
        {
            lock (servicesGate)
            {
                return services.ToArray();
            }
        }
    }

    public string BrokerAddress => Address(Options.Ports.Broker);

    public string IngestAddress => Address(Options.Ports.Ingest);

    /// <summary>The results console's page, e.g. http://127.0.0.1:5181/, when the suite runs one.</summary>
    public string? ConsoleUrl => Options.Console?.Url;

    /// <summary>The token every pipeline service uses (read, write and writeraw on the suite's beamtime).</summary>
    public string BrokerToken { get; private set; } = string.Empty;

    /// <summary>The broker's signing secret file (in the work folder, readable by the owner only).</summary>
    public string BrokerSecretFile => Path.Combine(Options.WorkDir, "broker.secret");

    /// <summary>The repository root (the folder holding global.json), found from this assembly.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The suite's services, ports and replicas (deploy/topology.json).</summary>
    public static Topology Topology { get; } = Topology.Load(RepoRoot);

    /// <summary>Starts every service and waits until all answer health checks.</summary>
    public static async Task<Suite> StartAsync(SuiteOptions options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // A free port is free when chosen, not always when bound: a plan of free ports is chosen again (twice at most) when
        // a service found its port taken.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(options, timeout, cancellationToken);
            }
            catch (InvalidOperationException ex) when (attempt < 3 && options.Ports.Replan is { } replan
                && ex.Message.Contains("address already in use", StringComparison.Ordinal))
            {
                options = options with { Ports = replan() };
            }
        }
    }

    private static async Task<Suite> StartOnceAsync(SuiteOptions options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var suite = new Suite(options);
        try
        {
            Directory.CreateDirectory(Path.Combine(options.WorkDir, "logs"));
            var p = options.Ports;
            var tokenFile = suite.PrepareAuth();
            var brokerEnvironment = new Dictionary<string, string>
            {
                ["Broker__DataDir"] = options.BrokerDataDir ?? Path.Combine(options.WorkDir, "broker"),
                ["Broker__DataRoot"] = options.Pipeline.TryGetValue("DataRoot", out var root) ? root : Path.Combine(options.WorkDir, "data"),
                ["Broker__Auth__Enabled"] = "true",
                ["Broker__Auth__SecretFile"] = suite.BrokerSecretFile,
            };
            var workerEnvironment = new Dictionary<string, string> { ["Pipeline__Broker"] = Address(p.Broker), ["Pipeline__BrokerToken"] = tokenFile };
            // Ingest checks Control tokens with the broker's secret when it must (beyond loopback, or Control:Auth:Enabled).
            var ingestEnvironment = new Dictionary<string, string>(workerEnvironment) { ["Control__Auth__SecretFile"] = suite.BrokerSecretFile };
            foreach (var service in Topology.Chain)
            {
                var replicas = service.Name == "integrate" ? options.IntegrateReplicas ?? service.Replicas : service.Replicas;
                foreach (var (instance, _) in (service with { Replicas = replicas }).Instances())
                {
                    suite.Start(instance, service, p[instance], service.Name switch { "broker" => brokerEnvironment, "ingest" => ingestEnvironment, _ => workerEnvironment });
                }
            }

            if (options.ReprocessPool)
            {
                // The same stages again, in their own pool: they follow only the reprocessings' control stream, at the
                // lowest CPU priority (nice 19, SCHED_IDLE, a niced session), so the live chain keeps its workers and gets
                // the CPU first; integrate works on one frame at a time there, so the pool keeps little of the broker,
                // the caches and memory busy at once (bench pipeline --reprocess: 0.90 of the live rate with 4, as with 1, but steadier).
                var poolEnvironment = new Dictionary<string, string>(workerEnvironment) { ["Pipeline__Pool"] = PipelineStreams.ReprocessPool, ["Integrate__Consumers"] = "1" };
                foreach (var service in Topology.ReprocessPool)
                {
                    foreach (var (instance, _) in service.ReprocessInstances())
                    {
                        suite.Start(instance, service, p[instance], poolEnvironment, (Topology.ReprocessNice, Topology.ReprocessIdle));
                    }
                }
            }

            if (options.Console is { } console)
            {
                var service = Topology["console"];
                // Console__Ingest: where the operator controls reach ingest's Control service.
                // Console__Services__<instance>: every service's address for the Status tab; Console__Supervisor: the supervisor's API.
                var consoleEnvironment = workerEnvironment.Concat(console.Environment()).Append(new("Console__Ingest", Address(p.Ingest)))
                    .Concat(suite.Services.Select(s => new KeyValuePair<string, string>($"Console__Services__{s.Name}", s.Address)));
                if (options.SupervisorPort is { } supervisor)
                {
                    consoleEnvironment = consoleEnvironment.Append(new("Console__Supervisor", Address(supervisor)));
                }

                suite.Start("console", service, console.Grpc, new Dictionary<string, string>(consoleEnvironment));
            }

            await suite.WaitHealthyAsync(timeout, cancellationToken);
            return suite;
        }
        catch
        {
            await suite.DisposeAsync();
            throw;
        }
    }

    /// <summary>The last lines of a service's log (for failure messages).</summary>
    public static string Tail(ServiceProcess service, int lines = 30) => Tail(service, lines, leadWithCrash: false);

    // With leadWithCrash, the lines are led by the service's unhandled exception's first line when its stack trace pushed
    // it out of them (that line says what went wrong: "address already in use", say).
    private static string Tail(ServiceProcess service, int lines, bool leadWithCrash)
    {
        string[] all;
        try
        {
            using var stream = new FileStream(service.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            all = reader.ReadToEnd().Split('\n');
        }
        catch (IOException ex)
        {
            return $"(no log: {ex.Message})";
        }

        var tail = string.Join('\n', all.TakeLast(lines));
        var crash = leadWithCrash ? Array.FindLastIndex(all, l => l.StartsWith("Unhandled exception.", StringComparison.Ordinal)) : -1;
        return crash >= 0 && crash < all.Length - lines ? all[crash] + "\n…\n" + tail : tail;
    }

    /// <summary>How long a live service may leave its health check unanswered before the supervisor restarts it.</summary>
    public static readonly TimeSpan HungAfter = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Keeps the suite alive until cancelled: a service that dies (a crash, an OOM kill, an operator's kill -9) is
    /// restarted on its port with its settings and its log continued, and it resumes from the broker, which keeps
    /// every unacknowledged delivery for it. A service that lives but has not answered its health check for
    /// <paramref name="hungAfter"/> (default <see cref="HungAfter"/>: stopped, deadlocked) is killed and restarted the
    /// same way. More than <paramref name="maxRestartsPerMinute"/> deaths of one service within a minute end the
    /// supervision with an exception naming it and its last log lines. Cancellation always ends it with an
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task SuperviseAsync(TextWriter log, CancellationToken cancellationToken, int maxRestartsPerMinute = 5, TimeSpan? hungAfter = null)
    {
        var deaths = new Dictionary<string, Queue<DateTime>>(StringComparer.Ordinal);
        var silentSince = new Dictionary<string, DateTime>(StringComparer.Ordinal);
        var nextHealthCheck = DateTime.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            // A service that is alive but has not answered its health check for hungAfter (default 30 s; stopped by
            // SIGSTOP, deadlocked, swapping) is killed, and restarted below like one that died.
            if (DateTime.UtcNow >= nextHealthCheck)
            {
                nextHealthCheck = DateTime.UtcNow.AddSeconds(2);
                var alive = Services.Where(s => !s.Process.HasExited).ToArray();
                var answers = await Task.WhenAll(alive.Select(s => s.Launcher.AnswersHealthAsync(TimeSpan.FromSeconds(2), cancellationToken)));
                for (var i = 0; i < alive.Length; i++)
                {
                    var service = alive[i];
                    if (answers[i])
                    {
                        silentSince.Remove(service.Name);
                    }
                    else if (!silentSince.TryAdd(service.Name, DateTime.UtcNow) && DateTime.UtcNow - silentSince[service.Name] >= (hungAfter ?? HungAfter))
                    {
                        log.WriteLine($"{service.Name} has not answered its health check for {(DateTime.UtcNow - silentSince[service.Name]).TotalSeconds:0} s; killing it to restart it");
                        silentSince.Remove(service.Name);
                        await service.Launcher.KillAsync();
                    }
                }
            }

            foreach (var dead in Services.Where(s => s.Process.HasExited))
            {
                var recent = deaths.TryGetValue(dead.Name, out var q) ? q : deaths[dead.Name] = new Queue<DateTime>();
                recent.Enqueue(DateTime.UtcNow);
                while (recent.Peek() < DateTime.UtcNow.AddMinutes(-1))
                {
                    recent.Dequeue();
                }

                if (recent.Count > maxRestartsPerMinute)
                {
                    throw new InvalidOperationException($"{dead.Name} died {recent.Count} times within a minute (last exit code {dead.Process.ExitCode}); giving up:\n{Tail(dead)}");
                }

                log.WriteLine($"{dead.Name} exited with code {dead.Process.ExitCode}; restarting it (restart {dead.Restarts + 1}). Last lines:\n{Tail(dead, 10)}");
                var (service, port, environment, priority) = launches[dead.Name];
                var restarted = Start(dead.Name, service, port, environment, priority, dead);
                dead.Process.Dispose();
                try
                {
                    await restarted.Launcher.WaitHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken);
                    log.WriteLine($"{dead.Name} is serving again at {restarted.Address[7..]}");
                }
                catch (InvalidOperationException) when (restarted.Process.HasExited)
                {
                    // Died again while starting (killed, or its port not free yet): the next round restarts it, within
                    // the restarts allowed per minute.
                    log.WriteLine($"{dead.Name} died again while starting (exit code {restarted.Process.ExitCode})");
                }
            }

            await Task.Delay(250, cancellationToken);
        }

        // Cancelled between two awaits: end the same way as when cancelled inside one.
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        var running = Services;
        await Task.WhenAll(running.Select(s => s.Launcher.StopAsync(TimeSpan.FromSeconds(5))));
        foreach (var service in running)
        {
            await service.Launcher.DisposeAsync();
        }

        lock (servicesGate)
        {
            services.Clear();
        }
    }

    private static string Address(int port) => $"http://127.0.0.1:{port}";

    // docs/broker.md §8 for the suite: a signing secret for the run (kept across `anvil up` restarts in its work folder, as the broker's
    // data is) and one token for the pipeline services, passed as a file so it never shows in a process listing.
    private string PrepareAuth()
    {
        if (!File.Exists(BrokerSecretFile))
        {
            WriteOwnerOnly(BrokerSecretFile, SigningKeys.NewSecret() + "\n");
        }

        var beamtime = Options.Pipeline.TryGetValue("Beamtime", out var b) && b.Length > 0 ? b : "demo";
        // Control too: the console and the CLI send this token for changes, which an ingest beyond loopback requires.
        BrokerToken = new BrokerTokens(SigningKeys.Parse(File.ReadAllText(BrokerSecretFile))).Mint(beamtime, BrokerAccess.Any | BrokerAccess.Control, TimeSpan.FromDays(30));
        var tokenFile = Path.Combine(Options.WorkDir, "pipeline.token");
        WriteOwnerOnly(tokenFile, BrokerToken + "\n");
        return tokenFile;
    }

    private static void WriteOwnerOnly(string path, string text)
    {
        File.WriteAllText(path, string.Empty);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(path, text);
    }

    private ServiceProcess Start(string name, TopologyService service, int port, Dictionary<string, string> environment, (int Nice, bool Idle) priority = default,
        ServiceProcess? previous = null)
    {
        launches[name] = (service, port, environment, priority);
        var metricsUrl = PrometheusPort(name) is { } metricsPort ? $"{Address(metricsPort)}/metrics" : null;
        var env = new Dictionary<string, string?>
        {
            ["OTEL_SERVICE_NAME"] = System.Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is { Length: > 0 } prefix ? $"{prefix}-{name}" : $"anvil-{name}",

            // The suite's secret comes from its file; an inherited ANVIL_BROKER_SECRET would make the broker refuse to start.
            [SigningKeys.EnvironmentVariable] = null,
        };
        foreach (var (key, value) in Options.Pipeline)
        {
            env["Pipeline__" + key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        foreach (var (key, value) in Options.Environment.Concat(environment))
        {
            env[key] = value;
        }

        if (metricsUrl is not null)
        {
            env["OTEL_EXPORTER_PROMETHEUS_HOST"] = "127.0.0.1";
            env["OTEL_EXPORTER_PROMETHEUS_PORT"] = new Uri(metricsUrl).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var launcher = ServiceLauncher.Start(new LaunchOptions
        {
            Dll = ServiceDll(service),
            Port = port,
            Environment = env,
            LogPath = Path.Combine(Options.WorkDir, "logs", name + ".log"),
            AppendLog = previous is not null,
            Nice = priority.Nice,
            Idle = priority.Idle,
        });
        var started = new ServiceProcess(name, Address(port), launcher.Process, Path.Combine(Options.WorkDir, "logs", name + ".log"))
        {
            Launcher = launcher,
            MetricsUrl = metricsUrl,
            Restarts = previous is null ? 0 : previous.Restarts + 1,
            LastExitCode = previous?.Process.ExitCode,
            LastExitUtc = previous?.Process.ExitTime.ToUniversalTime(),
        };
        lock (servicesGate)
        {
            var index = services.FindIndex(s => s.Name == name);
            if (index < 0)
            {
                services.Add(started);
            }
            else
            {
                services[index] = started;
            }
        }

        return started;
    }

    // OTEL_EXPORTER_PROMETHEUS_PORT (from the options or the caller's environment) is the first of consecutive scrape
    // ports, one per service instance in deploy/topology.json's order: broker, ingest, stitch, integrate, integrate-2, merge.
    private int? PrometheusPort(string name)
    {
        var value = Options.Environment.TryGetValue("OTEL_EXPORTER_PROMETHEUS_PORT", out var v) ? v : System.Environment.GetEnvironmentVariable("OTEL_EXPORTER_PROMETHEUS_PORT");
        if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var first) || first is < 1 or > 65530)
        {
            return null;
        }

        return first + Topology.Services.SelectMany(s => s.Instances()).Concat(Topology.Services.SelectMany(s => s.ReprocessInstances())).Select(i => i.Instance).ToList().IndexOf(name);
    }

    /// <summary>
    /// Waits until every service of the suite answers its gRPC health check SERVING, all within <paramref name="timeout"/>
    /// (start-up, and between the trials of `anvil chaos`). A service that exits ends the wait at once with its last log
    /// lines, unless <paramref name="supervised"/>: then <see cref="SuperviseAsync"/> restarts it, and the wait follows the
    /// restarted process. When the timeout passes, the <see cref="TimeoutException"/> names the services not serving.
    /// </summary>
    public async Task WaitHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken, bool supervised = false)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var all = Services;
            if (!supervised && all.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                // Its last lines reach the log after the exit: wait until its output is drained (a few ms), then read them.
                using (var drained = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    drained.CancelAfter(TimeSpan.FromSeconds(5));
                    await dead.Process.WaitForExitAsync(drained.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                throw new InvalidOperationException($"{dead.Name} exited with code {dead.Process.ExitCode} while starting:\n{Tail(dead, 30, leadWithCrash: true)}");
            }

            var answers = await Task.WhenAll(all.Select(s => s.Launcher.AnswersHealthAsync(TimeSpan.FromSeconds(2), cancellationToken)));
            if (answers.All(a => a))
            {
                return;
            }

            if (DateTime.UtcNow >= deadline)
            {
                var down = all.Where((_, i) => !answers[i]).ToArray();
                throw new TimeoutException($"{string.Join(", ", down.Select(s => s.Name))} not serving within {timeout.TotalSeconds:0} s (logs in {Path.Combine(Options.WorkDir, "logs")}):\n"
                    + string.Join("\n", down.Select(s => $"{s.Name}:\n{Tail(s, 10)}")));
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private static string ServiceDll(TopologyService service)
    {
        // Services are built in the configuration this assembly was built in (…/bin/<Configuration>/net10.0/).
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var dll = Path.Combine(RepoRoot, Path.GetDirectoryName(service.Project)!, "bin", configuration, "net10.0", service.Assembly);
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is not built; run `dotnet build src/Anvil.Cli -c {configuration}` (./anvil builds it for you).", dll);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "global.json")) && Directory.Exists(Path.Combine(dir.FullName, "services")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Anvil checkout (global.json + services/) above {AppContext.BaseDirectory}.");
    }

}
