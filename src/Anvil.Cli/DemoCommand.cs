using System.Diagnostics;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pressure;
using Grpc.Net.Client;

namespace Anvil.Cli;

/// <summary>
/// `anvil demo`: the whole suite as separate processes on 127.0.0.1 (free ports, a fresh broker), one simulated
/// acquisition (or a replay of a folder of Lambda files) through it, the NeXus result in the output folder,
/// throughput and end-of-run latency printed, everything stopped.
/// </summary>
public static class DemoCommand
{
    public const string Usage = "anvil demo [--frames N] [--detectors N] [--replay DIR] [--poni F] " + SettingsFlags.Usage + " " + SettingsFlags.PressureUsage + " [--out DIR] [--rate HZ] [--config F] [--tracing on|off] [--keep]";

    public static async Task<int> RunAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var config = PipelineConfig.Load(args.Get("config"));
        var replay = args.Get("replay");
        var frames = args.GetInt("frames", 800);
        var rate = args.GetDouble("rate", 0);
        var keep = args.Has("keep");
        var detectorCount = args.Get("detectors") is null ? (int?)null : args.GetInt("detectors", 1);
        if (detectorCount is not null && replay is not null)
        {
            throw new UsageException("--detectors plays simulated detectors: give it without --replay (a replay is one detector's files; `./anvil replay DIR --detector NAME` announces them as one of several)");
        }

        var tracing = args.Get("tracing");
        if (tracing is not (null or "on" or "off"))
        {
            throw new UsageException($"--tracing takes on or off, not '{tracing}'");
        }

        config.Override("Poni", args.Get("poni") ?? (replay is not null ? SinglePoni(replay) : null));
        config.Override("Mask", args.Get("mask") is "none" ? string.Empty : args.Get("mask"));
        config.Override("Npt", args.Get("npt"));
        config.Override("Unit", args.Get("unit"));
        config.Override("Method", args.Get("method"));
        config.Override("Polarization", args.Get("polarization") is "none" ? string.Empty : args.Get("polarization"));
        config.Override("Dark", args.Get("dark") is "none" ? string.Empty : args.Get("dark"));
        config.Override("Flat", args.Get("flat") is "none" ? string.Empty : args.Get("flat"));
        config.Override("OutputDir", args.Get("out") ?? "out");

        // The simulated ramp compresses gold: unless configured or told otherwise, merge tracks Au 111 online.
        config.OverridePressure(args.Get("pressure") ?? (replay is null && !config.PressureEnabled ? "Au 111" : null));
        args.RejectUnknown();
        var work = Path.Combine(Path.GetTempPath(), $"anvil-demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}");
        if (detectorCount is { } n && !config.ValidDetectors().Configured)
        {
            // No Detectors section: N Lambda 2M detectors, the first with the configured PONI, each further one farther
            // away with its beam centre elsewhere (LambdaSimulator.DetectorGeometry), its PONI written to the work folder.
            if (n is < 1 or > 8)
            {
                throw new UsageException($"--detectors {n}: give 1 to 8 simulated detectors");
            }

            var poni = config.ValidSettings().Poni;
            var first = PoniFile.Load(poni);
            var folder = Directory.CreateDirectory(Path.Combine(work, "detectors")).FullName;
            config.OverrideDetectors(Enumerable.Range(0, n).Select(k =>
            {
                var name = $"lambda{k + 1}";
                var path = k == 0 ? poni : Path.Combine(folder, name + ".poni");
                if (k > 0)
                {
                    File.WriteAllText(path, PoniFile.Format(LambdaSimulator.DetectorGeometry(first, k), $"anvil demo: simulated detector {name}, derived from {poni}"));
                }

                return (name, DetectorKinds.Lambda2M.Name, path);
            }));
        }

        var settings = config.ValidSettings();
        config.Override("DataRoot", replay is not null ? Path.GetFullPath(replay) : Path.Combine(work, "data"));
        var detectors = replay is null ? DriverCommands.SimulatedDetectors(config, detectorCount) : [];
        var output = config["OutputDir"];
        Directory.CreateDirectory(output);
        var before = ExistingResults(output);
        if (replay is not null && AcquisitionDriver.ReplayAcquisitions(replay).Select(a => Path.Combine(output, $"{a}.nxs")).FirstOrDefault(File.Exists) is { } existing)
        {
            // Merge never overwrites a result, so this replay would produce nothing new to wait for.
            throw new UsageException($"{existing} already exists and merge never overwrites a result: replay into another folder with --out DIR, move the old results away, or make a new result of the same data with `./anvil reprocess`.");
        }

        log.WriteLine($"starting the suite on 127.0.0.1 (work folder {work})");
        var clock = Stopwatch.StartNew();
        using var sink = tracing == "on" && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")) ? new OtlpSink() : null;
        var suite = await Suite.StartAsync(new SuiteOptions { WorkDir = work, Ports = PortPlan.Free(), Pipeline = config.Values, Environment = TracingEnvironment(tracing, sink), Console = keep ? ConsolePorts.Free() : null },
            TimeSpan.FromSeconds(60), cancellationToken);
        var ok = false;
        try
        {
            foreach (var service in suite.Services.Where(s => s.Name != "console"))
            {
                log.WriteLine($"  {service.Name,-12} {service.Address[7..]}{(service.MetricsUrl is { } metrics ? $"  metrics {metrics}" : "")}");
            }

            if (suite.ConsoleUrl is { } consoleUrl)
            {
                log.WriteLine($"console {consoleUrl}");
            }

            log.WriteLine($"suite ready in {clock.Elapsed.TotalSeconds:0.0} s");
            var idle = tracing is null ? 0 : await IdleCpuRateAsync(suite, cancellationToken);
            var cpuAtStart = SuiteCpuSeconds(suite);
            var cpuByServiceAtStart = suite.Services.Select(s => SuiteCpuSeconds(s)).ToArray();
            var cpuClock = Stopwatch.StartNew();
            using var channel = GrpcChannel.ForAddress(suite.IngestAddress);
            var ingest = RetryWhileUnavailable.Ingest(channel, log);
            var result = replay is not null
                ? await AcquisitionDriver.ReplayAsync(ingest, replay, log, cancellationToken)
                : await AcquisitionDriver.SimulateAsync(ingest, config["DataRoot"], detectors,
                    new SimulationOptions { Acquisition = $"sim_{DateTime.UtcNow:HHmmss}_00001", Frames = frames, FrameRate = rate }, log, cancellationToken);

            var written = await WaitForResultsAsync(output, before, result.Acquisitions, suite, TimeSpan.FromMinutes(15), cancellationToken);
            var done = DateTime.UtcNow;
            var seconds = (done - result.FirstAnnouncedUtc).TotalSeconds;
            foreach (var path in written)
            {
                log.WriteLine($"wrote {path}");
                if (PressureSummary(path) is { } summary)
                {
                    log.WriteLine(summary);
                }
            }

            var combined = detectors.Count > 1 ? $" combined, {detectors.Count} detectors × {result.Frames / detectors.Count} frames" : string.Empty;
            log.WriteLine($"frames: {result.Frames}{(detectors.Count > 1 ? $" ({detectors.Count} detectors × {result.Frames / detectors.Count})" : string.Empty)}");
            // The chain's own rate: a simulation is drawn and written before the clock starts (AcquisitionDriver.SimulateAsync),
            // a replay's files exist already; with --rate the chain can go no faster than the detector it is fed by.
            var fedBy = rate > 0 && replay is null
                ? detectors.Count > 1 ? $"fed at {rate:0.#} frames/s per detector, {detectors.Count * rate:0.#} frames/s together" : $"fed at the detector rate of {rate:0.#} frames/s"
                : "every chunk announced at once";
            log.WriteLine($"throughput: {result.Frames / seconds:0.0} frames/s{combined}, the chain's own rate ({fedBy}; first chunk announced → {(written.Count > 1 ? "last file" : "file")} final, {seconds:0.00} s)");
            log.WriteLine($"latency: {(done - result.LastWrittenUtc).TotalMilliseconds:0} ms from the last chunk announced to the file being final");
            var cpu = SuiteCpuSeconds(suite) - cpuAtStart;
            log.WriteLine($"cpu: {result.Frames / cpu:0.0} frames per CPU-second of the services (start-up excluded){(tracing is null ? "" : $" (tracing {tracing})")}");
            if (tracing is not null)
            {
                // Idle polling and exporter threads cost CPU per second of wall time, and a loaded machine stretches wall time.
                log.WriteLine($"cpu: {result.Frames / (cpu - (idle * cpuClock.Elapsed.TotalSeconds)):0.0} frames per CPU-second without the idle rate ({idle:0.000} CPU-s/s measured for 5 s before the run)");
                log.WriteLine("cpu by service: " + string.Join(", ", suite.Services.Select((s, i) => $"{s.Name} {SuiteCpuSeconds(s) - cpuByServiceAtStart[i]:0.0} s")));
            }

            if (sink is not null)
            {
                log.WriteLine($"otlp sink {sink.Endpoint}: {sink.Requests} exports, {sink.Bytes / 1024.0:0} KiB so far");
            }

            ok = true;
            if (keep && suite.ConsoleUrl is { } url)
            {
                // --keep: the suite and its results console stay up on the acquisition just processed until Ctrl-C.
                log.WriteLine($"console {url}?acquisition={Uri.EscapeDataString(Path.GetFileNameWithoutExtension(written[0]))}");
                log.WriteLine("suite and console kept running (--keep); Ctrl-C or SIGTERM stops them");
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
                {
                    c.Cancel = true;
                    stop.Cancel();
                });
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    log.WriteLine("stopping");
                }
            }

            return 0;
        }
        finally
        {
            await suite.DisposeAsync();
            if (ok && !keep)
            {
                Directory.Delete(work, recursive: true);
            }
            else
            {
                log.WriteLine($"service logs kept in {Path.Combine(work, "logs")}");
            }
        }
    }

    // --tracing on: every span sampled (unless the caller sets OTEL_TRACES_SAMPLER) and exported over OTLP/HTTP (to the caller's OTEL_EXPORTER_OTLP_ENDPOINT, or to
    // an in-process sink); off: OTEL_SDK_DISABLED, no telemetry at all. Without the flag the caller's OTEL_* apply.
    // One line about the result's /processed/pressure group (merge's online stage), or null without one.
    private static string? PressureSummary(string path)
    {
        using var file = Anvil.Hdf5.Hdf5File.OpenRead(path);
        if (!file.Exists(PressureGroup.Path + "/pressure"))
        {
            return null;
        }

        var p = file.ReadDataset<double>(PressureGroup.Path + "/pressure");
        var good = p.Where(double.IsFinite).ToArray();
        var marker = $"{file.GetAttributeString(PressureGroup.Path, "marker")} {file.GetAttributeString(PressureGroup.Path, "hkl")}";
        return good.Length == 0
            ? $"pressure ({marker}): no frame gave a pressure ({p.Length} flagged: {file.ReadStrings(PressureGroup.Path + "/reason").FirstOrDefault(r => r.Length > 0)})"
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"pressure ({marker}): {good.Length} of {p.Length} frames, {good.Min():F2}–{good.Max():F2} GPa (/processed/pressure)");
    }

    private static Dictionary<string, string> TracingEnvironment(string? tracing, OtlpSink? sink) => tracing switch
    {
        "off" => new() { ["OTEL_SDK_DISABLED"] = "true" },
        "on" => new()
        {
            ["OTEL_SDK_DISABLED"] = "false",
            ["OTEL_TRACES_SAMPLER"] = Environment.GetEnvironmentVariable("OTEL_TRACES_SAMPLER") ?? "always_on",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink?.Endpoint ?? Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")!,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = sink is not null ? "http/protobuf" : Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "grpc",
        },
        _ => [],
    };

    private static async Task<double> IdleCpuRateAsync(Suite suite, CancellationToken cancellationToken)
    {
        var before = SuiteCpuSeconds(suite);
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
        return (SuiteCpuSeconds(suite) - before) / clock.Elapsed.TotalSeconds;
    }

    // User + system CPU time of the chain's processes so far (read before they stop; the --keep console is not part of the chain).
    private static double SuiteCpuSeconds(Suite suite) => suite.Services.Where(s => s.Name != "console").Sum(SuiteCpuSeconds);

    private static double SuiteCpuSeconds(ServiceProcess service)
    {
        try
        {
            service.Process.Refresh();
            return service.Process.TotalProcessorTime.TotalSeconds;
        }
        catch (InvalidOperationException)
        {
            return 0;
        }
    }

    private static string? SinglePoni(string directory)
    {
        var ponis = Directory.Exists(directory) ? Directory.GetFiles(directory, "*.poni") : [];
        return ponis.Length == 1 ? ponis[0] : null;
    }

    private static HashSet<string> ExistingResults(string output) => [.. Directory.GetFiles(output, "*.nxs")];

    // Merge renames a result into place only when it is complete: a new .nxs named after the acquisition means done.
    private static async Task<List<string>> WaitForResultsAsync(string output, HashSet<string> before, IReadOnlyList<string> acquisitions,
        Suite suite, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var fresh = Directory.GetFiles(output, "*.nxs").Where(f => !before.Contains(f)).ToList();
            var found = acquisitions.Select(a => fresh.FirstOrDefault(f => Path.GetFileName(f).StartsWith(a, StringComparison.Ordinal))).ToList();
            if (found.All(f => f is not null))
            {
                return found!;
            }

            if (suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited with code {dead.Process.ExitCode}:\n{Suite.Tail(dead)}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no result for {string.Join(", ", acquisitions)} in {output} within {timeout.TotalMinutes:0} min; merge log:\n{Suite.Tail(suite.Services.First(s => s.Name == "merge"))}");
            }

            await Task.Delay(10, cancellationToken);
        }
    }
}
