using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Cli;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Net.Client;

namespace Anvil.Bench;

/// <summary>
/// `anvil bench pipeline`: the whole chain on real P02.2 frames, against a DESY-style Python pipeline (h5py reads,
/// numpy stitch, pyFAI CSR, 2 worker processes) on the same files in the same run. The 50 shared frames (3 modules ×
/// 5 chunk parts of 10 frames) are copied into an N-frame acquisition whose sequence numbers and
/// collection/frame_numbers are rewritten to match, so stitch, integrate and merge see a consistent Lambda scan.
/// The chain runs as `anvil demo` runs it: separate processes from deploy/topology.json and a durable broker.
/// Batch: every chunk announced at once (throughput); live: chunks moved into place and announced at a detector rate,
/// up a ladder of rates, to find the highest rate the chain keeps up with. <c>--reprocess</c>: the reprocess pool runs
/// too, and a live acquisition's rate alone and with a reprocessing running beside it are measured in turns, side by side.
/// </summary>
internal static class PipelineBench
{
    private const int FramesPerPart = 10;
    private const int Modules = 3;
    private const int Npt = 4038;
    private const string Method = "bbox";

    // A live rate is sustained when the file is final within this long after the last chunk was announced: the backlog
    // the run built up drained at once, so it stayed bounded.
    private static readonly TimeSpan SustainedLatency = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var frames = BenchArgs.Int(args, "--frames") ?? (quick ? 400 : 2000);
        if (frames < FramesPerPart || frames % FramesPerPart != 0)
        {
            Console.Error.WriteLine($"--frames must be a positive multiple of {FramesPerPart} (a chunk part holds {FramesPerPart} frames)");
            return 2;
        }

        var replicaCounts = BenchArgs.IntList(args, "--replicas") ?? [Suite.Topology.Services.Single(s => s.Name == "integrate").Replicas];
        var liveRates = args.Contains("--no-live") ? [] : BenchArgs.IntList(args, "--live") ?? (quick ? [25, 50, 100, 200] : [25, 50, 100, 200, 400, 800]);
        var liveFrames = BenchArgs.Int(args, "--live-frames") ?? (quick ? 300 : 1000);
        var warmupFrames = BenchArgs.Int(args, "--warmup") ?? (quick ? 200 : 1000);
        if (warmupFrames < FramesPerPart || warmupFrames % FramesPerPart != 0)
        {
            Console.Error.WriteLine($"--warmup must be a positive multiple of {FramesPerPart} (a chunk part holds {FramesPerPart} frames)");
            return 2;
        }

        var baseline = !args.Contains("--no-baseline");
        var reprocessPairs = args.Contains("--reprocess") ? BenchArgs.Int(args, "--reprocess-pairs") ?? 3 : 0;
        var reprocessFrames = BenchArgs.Int(args, "--reprocess-frames") ?? (quick ? 300 : 1000);
        var detectorCount = BenchArgs.Int(args, "--detectors") ?? 1;
        if (detectorCount is < 1 or > 8 || frames % (detectorCount * FramesPerPart) != 0)
        {
            Console.Error.WriteLine($"--detectors takes 1 to 8 detectors, and --frames must then be a multiple of {FramesPerPart} × the detectors (each detector gets its share)");
            return 2;
        }

        if (detectorCount > 1 && reprocessPairs > 0)
        {
            Console.Error.WriteLine("--reprocess measures one detector's chain: leave out --detectors");
            return 2;
        }

        var root = IntegrateBench.FindRoot();
        var source = BenchArgs.String(args, "--source") ?? Path.Combine(root, "tests", "fixtures", "lambda");
        var poni = Path.Combine(source, "L2.poni");
        var mask = Directory.GetFiles(source, "*.mask").Single();

        var work = Directory.CreateTempSubdirectory("anvil-bench-pipeline-").FullName;
        try
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"pipeline bench {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: {frames} real frames ({frames / FramesPerPart} chunk parts × {Modules} modules, copied from the 50 in {source}), {Method}, npt {Npt}, 2th_deg, {Path.GetFileName(poni)} + {Path.GetFileName(mask)}; {Environment.ProcessorCount} cores (shared: compare side by side)"));
            var detectors = BenchDetectors(root, poni, work, detectorCount);
            if (detectors.Length > 1)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{detectors.Length} Lambda 2M detectors interleaved part by part ({string.Join(", ", detectors.Select(d => $"{d.Name}: {Path.GetFileName(d.Poni)}"))}; the same mask, npt and method), {frames / detectors.Length} frames each: the rates below are combined"));
            }

            var clock = Stopwatch.StartNew();
            var batch = BuildRun(source, Path.Combine(work, "data", "batch"), "bench_1009_00001", frames, detectors);
            Console.WriteLine($"built the acquisition in {clock.Elapsed.TotalSeconds:0.0} s");

            BatchResult? anvilBatch = null;
            foreach (var replicas in replicaCounts)
            {
                var run = await RunSuiteAsync(work, poni, mask, detectors, replicas, batch, replicas == replicaCounts[0] ? liveRates : [], liveFrames, source, replicaCounts.Length > 1,
                    replicas == replicaCounts[0] ? reprocessPairs : 0, reprocessFrames, warmupFrames);
                anvilBatch ??= run;
            }

            if (baseline && anvilBatch is not null)
            {
                // With several detectors the baseline integrates every detector's frames with the first one's PONI: the same work.
                var python = RunBaseline(root, batch, poni, mask, Path.Combine(work, "baseline.npy"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"baseline (python3 h5py + numpy stitch + pyFAI {python.Version} CSR, 2 worker processes): {frames} frames in {python.Seconds:0.0} s, {frames / python.Seconds:0.0} frames/s, {frames / python.CpuSeconds:0.0} frames per CPU-second"));
                var fps = anvilBatch.Frames / anvilBatch.Seconds;
                var baseFps = frames / python.Seconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pipeline/batch: {fps:0.0} fps vs {baseFps:0.0} fps: {fps / baseFps:0.00} x baseline"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"pipeline/cpu: {anvilBatch.Frames / anvilBatch.CpuSeconds:0.0} frames per CPU-s vs {frames / python.CpuSeconds:0.0} frames per CPU-s: {(anvilBatch.Frames / anvilBatch.CpuSeconds) / (frames / python.CpuSeconds):0.00} x baseline"));
            }

            Console.WriteLine($"total bench time {clock.Elapsed.TotalMinutes:0.0} min");
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>What a batch run measured (chain only).</summary>
    private sealed record BatchResult(int Frames, double Seconds, double CpuSeconds);

    private static async Task<BatchResult> RunSuiteAsync(string work, string poni, string mask, BenchDetector[] detectors, int replicas, BenchRun batch,
        int[] liveRates, int liveFrames, string source, bool scaleOut, int reprocessPairs, int reprocessFrames, int warmupFrames)
    {
        var config = PipelineConfig.Load(null);
        var output = Path.Combine(work, $"out-{replicas}");
        config.Override("Poni", poni);
        config.Override("Mask", mask);
        config.Override("Npt", Npt.ToString(CultureInfo.InvariantCulture));
        config.Override("Method", Method);
        config.Override("Unit", "2th_deg");
        config.Override("OutputDir", output);
        config.Override("DataRoot", Path.Combine(work, "data"));
        if (detectors.Length > 1)
        {
            // As `anvil demo --detectors N` configures them: each its own PONI; here each the bench's mask too.
            config.OverrideDetectors(detectors.Select(d => (d.Name, DetectorKinds.Lambda2M.Name, d.Poni)));
            foreach (var d in detectors)
            {
                config.Override($"Detectors:{d.Name}:Mask", mask);
            }

            config.ValidDetectors();
        }

        Directory.CreateDirectory(output);
        config.ValidSettings();

        var suiteWork = Path.Combine(work, $"suite-{replicas}");
        var suite = await Suite.StartAsync(new SuiteOptions { WorkDir = suiteWork, Ports = PortPlan.Free(replicas), Pipeline = config.Values, IntegrateReplicas = replicas, ReprocessPool = reprocessPairs > 0 },
            TimeSpan.FromSeconds(90), CancellationToken.None);
        try
        {
            Console.WriteLine($"suite up ({string.Join(", ", suite.Services.Select(s => s.Name))})");
            using var channel = GrpcChannel.ForAddress(suite.IngestAddress);
            var ingest = new Ingest.IngestClient(channel);
            using var broker = BrokerClient.Connect(suite.BrokerAddress, new BrokerClientOptions { Beamtime = config.Values.GetValueOrDefault("Beamtime", "demo"), Token = suite.BrokerToken });

            // An acquisition first, as a running `anvil up` has had: JIT, connections and the integration engines (the CSR
            // matrix of these settings, built once per replica and cached) are warm before the clock starts. 1,000 frames
            // by default (200 with --quick): services that have run a while, as through a beamtime, their tiered JIT done;
            // --warmup 50 measures the first acquisition after a start (bench/FINDINGS-pipeline.md, third round).
            var warmup = BuildRun(source, Path.Combine(work, "data", $"warmup{replicas}"), $"warmup{replicas}_1009_00001", warmupFrames * detectors.Length, detectors);
            var warm = await AnnounceAndWaitAsync(ingest, broker, warmup, output, rate: 0, suite);
            Console.WriteLine($"warm-up acquisition of {warmup.Frames} frames in {warm.Seconds:0.0} s (not counted)");

            // Batch: every chunk of the acquisition announced as fast as ingest takes them.
            var passesBefore = IntegratePasses(suite);
            var before = Snapshot(suite);
            var run = await AnnounceAndWaitAsync(ingest, broker, batch, output, rate: 0, suite);
            var after = Snapshot(suite);
            var passesAfter = await IntegratePassesAfterAsync(suite, passesBefore);
            var cpu = after.Sum(s => s.Value.Cpu - before[s.Key].Cpu);
            var label = scaleOut ? $"anvil (batch, integrate × {replicas})" : "anvil (batch)";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{label}: {batch.Frames} frames in {run.Seconds:0.00} s, {batch.Frames / run.Seconds:0.0} frames/s, {batch.Frames / cpu:0.0} frames per CPU-second of the services; latency {run.Latency.TotalMilliseconds:0} ms from the last chunk announced to the file final"));
            PrintServices(batch.Frames, before, after);
            var integrations = passesAfter.Integrations - passesBefore.Integrations;
            var passes = passesAfter.Passes - passesBefore.Passes;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  integrate: {integrations} integrations in {passes} passes over the matrix, {(passes > 0 ? (double)integrations / passes : 0):0.00} frames per pass (at most {IntegrationEngine.FramesPerPass})"));
            if (scaleOut)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"pipeline/scale-out integrate × {replicas}: {batch.Frames / run.Seconds:0.0} fps, {batch.Frames / run.Seconds / Environment.ProcessorCount:0.0} fps per core"));
            }

            // Live: chunks moved into place and announced at the detector's rate, up the ladder until one is not sustained.
            var highest = 0;
            foreach (var rate in liveRates)
            {
                var acquisition = BuildRun(source, Path.Combine(work, "staging", $"live{rate}"), $"live{rate}_1009_00001", liveFrames, detectors);
                var liveBefore = Snapshot(suite);
                var live = await AnnounceAndWaitAsync(ingest, broker, acquisition, output, rate, suite, Path.Combine(work, "data", $"live{rate}"));
                var liveAfter = Snapshot(suite);
                var liveCpu = liveAfter.Sum(s => s.Value.Cpu - liveBefore[s.Key].Cpu);
                // Sustained: the detector's rate was really offered (the announcing loop kept within 10% of it) and the
                // backlog drained at once after the last chunk.
                var offered = live.AnnouncedRate >= 0.9 * rate;
                var sustained = offered && live.Latency <= SustainedLatency;
                var verdict = sustained ? "sustained" : offered ? "NOT sustained" : "NOT offered (the announcing loop fell behind the rate)";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"live at {rate} frames/s ({liveFrames} frames): {verdict}; announced at {live.AnnouncedRate:0.0} frames/s, peak backlog {live.PeakBacklog} frames, latency {live.Latency.TotalMilliseconds:0} ms from the last chunk announced to the file final, {liveFrames / liveCpu:0.0} frames per CPU-second"));
                if (!sustained)
                {
                    break;
                }

                highest = rate;
            }

            if (reprocessPairs > 0)
            {
                await MeasureReprocessIsolationAsync(ingest, broker, suite, batch, source, work, output, reprocessPairs, reprocessFrames);
            }

            if (liveRates.Length > 0)
            {
                Console.WriteLine(highest > 0
                    ? $"pipeline/live: highest rate sustained with a bounded backlog: {highest} frames/s (ladder {string.Join(", ", liveRates)})"
                    : $"pipeline/live: no rate of the ladder ({string.Join(", ", liveRates)}) sustained");
            }

            return new BatchResult(batch.Frames, run.Seconds, cpu);
        }
        finally
        {
            await suite.DisposeAsync();
        }
    }

    // A live acquisition's rate (its frames over the time from its first chunk announced to its file final, every chunk
    // announced at once: the chain's throughput, which any CPU a reprocessing took would lower) alone and with a
    // reprocessing of the batch acquisition running in the reprocess pool beside it, in turns (alone, with, alone, with,
    // …) so that a drift of the shared machine's load falls on both. Before each "alone" run the previous reprocessing
    // has finished; each "with" run starts right after ingest re-announced the batch acquisition for the pool.
    private static async Task MeasureReprocessIsolationAsync(Ingest.IngestClient ingest, BrokerClient broker, Suite suite, BenchRun batch,
        string source, string work, string output, int pairs, int frames)
    {
        using var channel = GrpcChannel.ForAddress(suite.IngestAddress);
        var control = new Control.ControlClient(channel);
        var pool = string.Join(", ", suite.Services.Where(s => s.Name.StartsWith(TopologyService.PoolPrefix, StringComparison.Ordinal)).Select(s => s.Name));
        Console.WriteLine($"reprocess isolation: a live acquisition of {frames} frames (all chunks at once) alone and beside a reprocessing of {batch.Name} ({batch.Frames} frames) in the reprocess pool ({pool}, nice {Suite.Topology.ReprocessNice}{(Suite.Topology.ReprocessIdle ? ", SCHED_IDLE" : "")}), {pairs} turns each");
        var alone = new List<double>();
        var beside = new List<double>();
        for (var turn = 1; turn <= pairs; turn++)
        {
            var first = BuildRun(source, Path.Combine(work, "data", $"alone{turn}"), $"alone{turn}_1009_00001", frames, [BenchDetector.None]);
            var run = await AnnounceAndWaitAsync(ingest, broker, first, output, rate: 0, suite);
            alone.Add(frames / run.Seconds);

            var reprocessing = await control.ReprocessAsync(new ReprocessRequest { Acquisition = batch.Name });
            var second = BuildRun(source, Path.Combine(work, "data", $"beside{turn}"), $"beside{turn}_1009_00001", frames, [BenchDetector.None]);
            var reprocessClock = Stopwatch.StartNew();
            run = await AnnounceAndWaitAsync(ingest, broker, second, output, rate: 0, suite);
            beside.Add(frames / run.Seconds);
            var reprocessed = Path.Combine(output, reprocessing.Acquisition + ".nxs");
            var overlapped = !File.Exists(reprocessed);
            var merged = await MergedFramesAsync(broker, reprocessing.Acquisition);
            await WaitForFileAsync(reprocessed, suite, TimeSpan.FromMinutes(20));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  turn {turn}: alone {alone[^1]:0.0} frames/s, beside {reprocessing.Acquisition} {beside[^1]:0.0} frames/s ({beside[^1] / alone[^1]:0.00}); the reprocessing had {merged} of {batch.Frames} frames merged when the live file was final{(overlapped ? "" : " (it had already finished: no overlap)")}, its file final {reprocessClock.Elapsed.TotalSeconds:0.0} s after it started"));
        }

        // Each turn's two runs follow each other, so a turn's ratio sees the machine's load of that moment twice: the
        // median of the turns' ratios is the paired figure; the ratio of the medians is printed beside it.
        var aloneMedian = Median(alone);
        var besideMedian = Median(beside);
        var ratio = Median(alone.Zip(beside, (a, b) => b / a).ToList());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"pipeline/reprocess: live acquisition alone {aloneMedian:0.0} frames/s, beside a reprocessing {besideMedian:0.0} frames/s (medians of {pairs}; ratio of the medians {besideMedian / aloneMedian:0.00}); median of the turns' ratios {ratio:0.00} x alone ({(ratio >= 0.9 ? "within" : "NOT within")} 10 %)"));
    }

    // Frames merge has acknowledged of an acquisition (its group on the profiles stream).
    private static async Task<ulong> MergedFramesAsync(BrokerClient broker, string acquisition)
    {
        try
        {
            var groups = await broker.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = broker.Address(PipelineStreams.Profiles, acquisition) }, broker.Headers);
            return groups.Groups.FirstOrDefault(g => g.Group == "merge")?.Acknowledged ?? 0;
        }
        catch (Grpc.Core.RpcException ex) when (ex.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument)
        {
            return 0;
        }
    }

    private static async Task WaitForFileAsync(string path, Suite suite, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!File.Exists(path))
        {
            if (suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited with code {dead.Process.ExitCode}:\n{Suite.Tail(dead)}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no {path} within {timeout.TotalMinutes:0} min");
            }

            await Task.Delay(50);
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>A detector of the run: its name ("" = no detectors configured, the single detector of before) and PONI.</summary>
    private sealed record BenchDetector(string Name, string Poni)
    {
        public static readonly BenchDetector None = new(string.Empty, string.Empty);

        /// <summary>The broker stream and result name of an acquisition's data of this detector.</summary>
        public string Stream(string acquisition) => Name.Length == 0 ? acquisition : DetectorSet.StreamName(acquisition, Name);
    }

    // One detector: none configured. Two or more: Lambda 2M detectors lambda1…N as `anvil demo --detectors N` plays them,
    // lambda1 with the bench's PONI, lambda2 with config/L2-far.poni (20 % farther, beam centre elsewhere), further ones
    // with LambdaSimulator's geometry of that detector written to the work folder.
    private static BenchDetector[] BenchDetectors(string root, string poni, string work, int count)
    {
        if (count == 1)
        {
            return [BenchDetector.None];
        }

        var first = PoniFile.Load(poni);
        return [.. Enumerable.Range(0, count).Select(k =>
        {
            var name = $"lambda{k + 1}";
            var path = k switch
            {
                0 => poni,
                1 => Path.Combine(root, "config", "L2-far.poni"),
                _ => Path.Combine(work, name + ".poni"),
            };
            if (k > 1)
            {
                File.WriteAllText(path, PoniFile.Format(LambdaSimulator.DetectorGeometry(first, k), $"anvil bench pipeline: detector {name}, derived from {poni}"));
            }

            return new BenchDetector(name, path);
        })];
    }

    /// <summary>An acquisition's chunk files of one detector: per part, the module files in module order.</summary>
    private sealed record Acquisition(BenchDetector Detector, string[][] Parts);

    /// <summary>An acquisition of every detector of the run (<see cref="Frames"/> in all, the same share each).</summary>
    private sealed record BenchRun(string Name, int Frames, Acquisition[] Detectors)
    {
        /// <summary>Every chunk part of every detector, detector by detector (the Python baseline's input).</summary>
        public string[][] Parts => [.. Detectors.SelectMany(d => d.Parts)];
    }

    private static BenchRun BuildRun(string source, string folder, string name, int frames, BenchDetector[] detectors) =>
        new(name, frames, [.. detectors.Select(d => new Acquisition(d,
            BuildAcquisition(source, d.Name.Length == 0 ? folder : Path.Combine(folder, d.Name), name, frames / detectors.Length)))]);

    // The shared chunk files copied part by part, with each copy's sequence numbers, error codes and
    // collection/frame_numbers rewritten as the detector writes them (RealFrameAcquisition): the pixels stay compressed
    // as they are.
    private static string[][] BuildAcquisition(string source, string folder, string name, int frames) =>
        [.. RealFrameAcquisition.Plan(source, folder, name, frames, FramesPerPart).WriteAll().Select(p => p.Modules.ToArray())];

    private sealed record RunResult(double Seconds, TimeSpan Latency, double AnnouncedRate, long PeakBacklog);

    // Announces every chunk part (rate 0: at once; else part p when its frames are due at the rate, counted over every
    // detector, its files moved from the staging folder into liveFolder just before, as a detector closes them), the
    // detectors' parts interleaved (part p of each detector, then part p + 1), and waits for every result file.
    private static async Task<RunResult> AnnounceAndWaitAsync(Ingest.IngestClient ingest, BrokerClient broker, BenchRun run, string output,
        double rate, Suite suite, string? liveFolder = null)
    {
        using var sampling = new CancellationTokenSource();
        var backlog = SampleBacklogAsync(broker, [.. run.Detectors.Select(d => d.Detector.Stream(run.Name))], sampling.Token);
        var results = run.Detectors.Select(d => Path.Combine(output, d.Detector.Stream(run.Name) + ".nxs")).ToArray();
        var parts = run.Detectors[0].Parts.Length;
        var first = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        for (var p = 0; p < parts; p++)
        {
            for (var d = 0; d < run.Detectors.Length; d++)
            {
                var detector = run.Detectors[d];
                if (rate > 0)
                {
                    var due = TimeSpan.FromSeconds(((p * run.Detectors.Length) + d + 1) * FramesPerPart / rate);
                    if (due > clock.Elapsed)
                    {
                        await Task.Delay(due - clock.Elapsed);
                    }
                }

                var files = new ChunkPartFiles(p, FramesPerPart, detector.Parts[p]);
                if (liveFolder is not null)
                {
                    files = files.MoveTo(detector.Detector.Name.Length == 0 ? liveFolder : Path.Combine(liveFolder, detector.Detector.Name));
                }

                await AcquisitionDriver.AnnouncePartsAsync(ingest, run.Name, [files], CancellationToken.None, detector: detector.Detector.Name);
            }
        }

        foreach (var detector in run.Detectors)
        {
            await ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = run.Name, Parts = (uint)parts, Detector = detector.Detector.Name });
        }

        var lastAnnounced = DateTime.UtcNow;
        var announcedRate = run.Frames / clock.Elapsed.TotalSeconds;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(20);
        while (!results.All(File.Exists))
        {
            if (suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited with code {dead.Process.ExitCode}:\n{Suite.Tail(dead)}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no {string.Join(" and ", results.Where(r => !File.Exists(r)))} within 20 min; merge log:\n{Suite.Tail(suite.Services.First(s => s.Name == "merge"))}");
            }

            await Task.Delay(5);
        }

        var done = DateTime.UtcNow;
        await sampling.CancelAsync();
        return new RunResult((done - first).TotalSeconds, done - lastAnnounced, announcedRate, await backlog);
    }

    // The largest number of frames waiting anywhere in the chain (stored but not yet read by the next stage) during a run.
    private static async Task<long> SampleBacklogAsync(BrokerClient broker, string[] streams, CancellationToken cancellationToken)
    {
        long peak = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                long total = 0;
                foreach (var (source, perMessage) in new[] { (PipelineStreams.Raw, FramesPerPart), (PipelineStreams.Frames, 1), (PipelineStreams.Profiles, 1) })
                {
                    foreach (var acquisition in streams)
                    {
                        try
                        {
                            var groups = await broker.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = broker.Address(source, acquisition) }, broker.Headers, cancellationToken: cancellationToken);
                            total += groups.Groups.Sum(g => (long)g.Backlog) * perMessage;
                        }
                        catch (Grpc.Core.RpcException ex) when (ex.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument)
                        {
                            // The stream does not exist yet.
                        }
                    }
                }

                peak = Math.Max(peak, total);
                await Task.Delay(250, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException || (ex is Grpc.Core.RpcException rpc && rpc.StatusCode == Grpc.Core.StatusCode.Cancelled))
        {
        }

        return peak;
    }

    // Integrations and passes over the matrix so far, summed over the integrate replicas: each logs its totals when an
    // acquisition finishes ("… has run N integrations … in M passes …", IntegrateWorker); Lines counts those lines.
    private static (long Integrations, long Passes, int Lines) IntegratePasses(Suite suite)
    {
        long integrations = 0, passes = 0;
        var lines = 0;
        foreach (var service in suite.Services.Where(s => s.Name.StartsWith("integrate", StringComparison.Ordinal)))
        {
            var matches = System.Text.RegularExpressions.Regex.Matches(Suite.Tail(service, 1000), @"has run (\d+) integrations .* in (\d+) passes");
            lines += matches.Count;
            if (matches.LastOrDefault() is { } match)
            {
                integrations += long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
                passes += long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            }
        }

        return (integrations, passes, lines);
    }

    // The totals once every replica has logged the acquisition just finished (its line comes before merge's file is final,
    // but a replica's log file may lag by a moment).
    private static async Task<(long Integrations, long Passes, int Lines)> IntegratePassesAfterAsync(Suite suite, (long Integrations, long Passes, int Lines) before)
    {
        var replicas = suite.Services.Count(s => s.Name.StartsWith("integrate", StringComparison.Ordinal));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        var after = IntegratePasses(suite);
        while (DateTime.UtcNow < deadline && after.Lines < before.Lines + replicas)
        {
            await Task.Delay(100);
            after = IntegratePasses(suite);
        }

        return after;
    }

    private sealed record ServiceSample(double Cpu, long PeakRssKb, long RssKb);

    private static Dictionary<string, ServiceSample> Snapshot(Suite suite) => suite.Services.ToDictionary(s => s.Name, s =>
    {
        s.Process.Refresh();
        var (peak, rss) = Rss(s.Process.Id);
        return new ServiceSample(s.Process.TotalProcessorTime.TotalSeconds, peak, rss);
    });

    // VmHWM (the peak resident set since the process started) and VmRSS from /proc.
    private static (long PeakKb, long RssKb) Rss(int pid)
    {
        long peak = 0, rss = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return (peak, rss);
    }

    private static void PrintServices(int frames, Dictionary<string, ServiceSample> before, Dictionary<string, ServiceSample> after)
    {
        Console.WriteLine($"  {"service",-12} {"CPU-s",7} {"ms/frame",9} {"frames/CPU-s",13} {"RSS MiB before→after",21} {"peak RSS MiB",13}");
        foreach (var (name, a) in after)
        {
            var b = before[name];
            var cpu = a.Cpu - b.Cpu;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-12} {cpu,7:0.00} {cpu * 1000 / frames,9:0.00} {frames / Math.Max(cpu, 1e-3),13:0} {$"{b.RssKb / 1024.0:0}→{a.RssKb / 1024.0:0}",21} {a.PeakRssKb / 1024.0,13:0}"));
        }

        var total = after.Sum(s => s.Value.Cpu - before[s.Key].Cpu);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"all",-12} {total,7:0.00} {total * 1000 / frames,9:0.00} {frames / total,13:0.0}"));
    }

    private sealed record BaselineResult(double Seconds, double CpuSeconds, string Version);

    private static BaselineResult RunBaseline(string root, BenchRun acquisition, string poni, string mask, string output)
    {
        var script = Path.Combine(root, "bench", "pyfai_pipeline.py");
        var parts = Path.Combine(Path.GetDirectoryName(output)!, "baseline-parts.json");
        File.WriteAllText(parts, JsonSerializer.Serialize(acquisition.Parts));
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { script, "--poni", poni, "--mask", mask, "--npt", Npt.ToString(CultureInfo.InvariantCulture), "--method", Method, "--workers", "2", "--out", output, parts })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"the Python baseline exited with code {process.ExitCode}: {text}");
        }

        using var json = JsonDocument.Parse(text.Trim().Split('\n')[^1]);
        var r = json.RootElement;
        if (r.GetProperty("frames").GetInt32() != acquisition.Frames)
        {
            throw new InvalidOperationException($"the Python baseline integrated {r.GetProperty("frames").GetInt32()} frames, not {acquisition.Frames}");
        }

        return new BaselineResult(r.GetProperty("seconds").GetDouble(), r.GetProperty("cpu_seconds").GetDouble(), r.GetProperty("pyfai").GetString()!);
    }
}
