using System.Diagnostics;
using System.Globalization;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Net.Client;

namespace Anvil.Bench;

/// <summary>
/// `anvil bench soak`: the paper's oscillation run played live against a real supervised suite (separate processes from
/// deploy/topology.json, a durable broker, as `anvil demo` and `bench pipeline` run it): by default 31,000 real P02.2
/// frames (the 50 shared ones, repeated) in chunk files of 2,000 frames, each written while the detector would take its
/// frames and moved into place and announced when its last frame is due at 20 frames/s. It samples every service's
/// resident memory and every consumer group's backlog, prints them as a table while it runs, judges both at the end
/// (RSS flat: its least-squares slope over the run's second half; backlog bounded: its peak over the second half no
/// higher than one chunk part), and compares the result row for row with an offline `anvil integrate` of the same files.
/// </summary>
internal static class SoakBench
{
    private const int Npt = 4038;
    private const string Method = "bbox";
    private const string Acquisition = "soak_1009_00001";

    // RSS is flat when it grows by less than this per minute over the run's second half: a leak of 1 KB a frame at
    // 20 frames/s (1.2 MB a minute) is above it, a garbage collector's sawtooth averages out below it.
    private const double FlatMiBPerMinute = 1.0;

    // RSS is judged over a second half of at least this long; a shorter run (--quick) prints its figures unjudged.
    private static readonly TimeSpan JudgedHalf = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(2);

    public static async Task<int> RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var frames = BenchArgs.Int(args, "--frames") ?? (quick ? 1500 : 31_000);
        var chunk = BenchArgs.Int(args, "--chunk") ?? (quick ? 250 : 2000);
        var rate = BenchArgs.Double(args, "--rate") ?? 20;
        var every = TimeSpan.FromSeconds(BenchArgs.Int(args, "--every") ?? (quick ? 10 : 60));
        var keep = args.Contains("--keep");
        if (frames < 1 || chunk < 1 || rate <= 0 || every <= TimeSpan.Zero)
        {
            Console.Error.WriteLine("--frames, --chunk, --rate and --every must be positive");
            return 2;
        }

        var root = IntegrateBench.FindRoot();
        var source = BenchArgs.String(args, "--source") ?? Path.Combine(root, "tests", "fixtures", "lambda");
        var poni = Path.Combine(source, "L2.poni");
        var mask = Directory.GetFiles(source, "*.mask").Single();
        var work = Directory.CreateTempSubdirectory("anvil-bench-soak-").FullName;
        try
        {
            var plan = RealFrameAcquisition.Plan(source, Path.Combine(work, "staging"), Acquisition, frames, chunk);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"soak {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: {frames} real frames in {plan.PartCount} chunk files of {chunk} frames per module (3 modules, the {plan.SourceFrames} frames of {source} repeated), written and announced at {rate:0.#} frames/s ({frames / rate / 60:0.0} min); {Method}, npt {Npt}, 2th_deg, {Path.GetFileName(poni)} + {Path.GetFileName(mask)}; {Environment.ProcessorCount} cores, load average {LoadAverage()}"));
            var outcome = await SoakAsync(work, plan, poni, mask, rate, every);
            return outcome ? 0 : 1;
        }
        finally
        {
            if (keep)
            {
                Console.WriteLine($"kept {work}");
            }
            else
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static async Task<bool> SoakAsync(string work, RealFrameAcquisition plan, string poni, string mask, double rate, TimeSpan every)
    {
        var config = PipelineConfig.Load(null);
        var output = Path.Combine(work, "out");
        var data = Path.Combine(work, "data");
        var live = Path.Combine(data, "soak");
        config.Override("Poni", poni);
        config.Override("Mask", mask);
        config.Override("Npt", Npt.ToString(CultureInfo.InvariantCulture));
        config.Override("Method", Method);
        config.Override("Unit", "2th_deg");
        config.Override("OutputDir", output);
        config.Override("DataRoot", data);
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(live);
        var settings = config.ValidSettings();

        var suite = await Suite.StartAsync(new SuiteOptions { WorkDir = Path.Combine(work, "suite"), Ports = PortPlan.Free(), Pipeline = config.Values },
            TimeSpan.FromSeconds(120), CancellationToken.None);
        using var stopSupervising = new CancellationTokenSource();
        var supervision = suite.SuperviseAsync(TextWriter.Synchronized(Console.Out), stopSupervising.Token);
        try
        {
            var services = suite.Services.Select(s => s.Name).ToArray();
            Console.WriteLine($"suite up, supervised ({string.Join(", ", services)}); RSS in MiB (VmRSS), backlog in messages (raw: chunk parts; frames and profiles: frames)");
            using var channel = GrpcChannel.ForAddress(suite.IngestAddress);
            var ingest = RetryWhileUnavailable.Ingest(channel, Console.Out);
            using var broker = BrokerClient.Connect(suite.BrokerAddress, new BrokerClientOptions { Beamtime = config.Values.GetValueOrDefault("Beamtime", "demo"), Token = suite.BrokerToken });

            var samples = new List<Sample>();
            var announced = 0;
            using var sampling = new CancellationTokenSource();
            var clock = Stopwatch.StartNew();
            var sampler = SampleAsync(suite, broker, samples, clock, () => Volatile.Read(ref announced), every, sampling.Token);

            // Part p is written (in a staging folder, as the detector fills it) while part p − 1 is being taken, moved into
            // place and announced when its last frame is due at the rate, as the detector closes it.
            var next = plan.WritePart(0);
            var taken = 0;
            for (var p = 0; p < plan.PartCount; p++)
            {
                var part = next;
                taken += part.Frames;
                var due = TimeSpan.FromSeconds(taken / rate);
                if (p + 1 < plan.PartCount)
                {
                    next = plan.WritePart(p + 1);
                }

                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed);
                }

                await AcquisitionDriver.AnnouncePartsAsync(ingest, Acquisition, [part.MoveTo(live)], CancellationToken.None);
                Volatile.Write(ref announced, taken);
            }

            await ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = Acquisition, Parts = (uint)plan.PartCount });
            var lastAnnounced = clock.Elapsed;
            var result = Path.Combine(output, Acquisition + ".nxs");
            var deadline = DateTime.UtcNow.AddMinutes(30);
            while (!File.Exists(result))
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"no {result} 30 min after the last chunk; merge log:\n{Suite.Tail(suite.Services.First(s => s.Name == "merge"))}");
                }

                await Task.Delay(100);
            }

            var final = clock.Elapsed;
            await sampling.CancelAsync();
            await sampler;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"result final {(final - lastAnnounced).TotalSeconds:0.0} s after the last chunk was announced, {final.TotalMinutes:0.0} min after the start; {plan.Frames / final.TotalSeconds:0.0} frames/s over the run"));

            var restarts = suite.Services.Where(s => s.Restarts > 0).Select(s => $"{s.Name} × {s.Restarts}").ToArray();
            Console.WriteLine(restarts.Length == 0 ? "restarts: none" : $"restarts: {string.Join(", ", restarts)} (the RSS of a restarted service starts again)");
            var flat = JudgeRss(samples, services, final);
            var bounded = JudgeBacklog(samples, plan.FramesPerPart, final);
            var identical = CompareWithOffline(result, live, poni, mask, settings.PolarizationFactor, Path.Combine(work, "offline.nxs"), plan.Frames);
            Console.WriteLine($"soak: RSS {(flat is null ? "not judged (too short)" : flat.Value ? "flat" : "NOT flat")}, backlog {(bounded ? "bounded" : "NOT bounded")}, result {(identical ? "identical to" : "DIFFERENT from")} the offline integration; {(restarts.Length == 0 ? "no restarts" : "restarts")}");
            return flat != false && bounded && identical && restarts.Length == 0;
        }
        finally
        {
            await stopSupervising.CancelAsync();
            try
            {
                await supervision;
            }
            catch (OperationCanceledException)
            {
            }

            await suite.DisposeAsync();
        }
    }

    /// <summary>One sample: time since the start, frames announced and merged, each service's RSS (MiB), each group's backlog.</summary>
    private sealed record Sample(TimeSpan At, int Announced, long Merged, Dictionary<string, double> RssMiB, Dictionary<string, long> Backlog);

    private static async Task SampleAsync(Suite suite, BrokerClient broker, List<Sample> samples, Stopwatch clock, Func<int> announced,
        TimeSpan every, CancellationToken cancellationToken)
    {
        var printed = TimeSpan.Zero;
        string[]? columns = null;
        try
        {
            while (true)
            {
                var rss = suite.Services.ToDictionary(s => s.Name, s => RssMiB(s.Process));
                var backlog = new Dictionary<string, long>(StringComparer.Ordinal);
                long merged = 0;
                foreach (var stream in new[] { PipelineStreams.Raw, PipelineStreams.Frames, PipelineStreams.Profiles })
                {
                    try
                    {
                        var groups = await broker.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = broker.Address(stream, Acquisition) }, broker.Headers,
                            cancellationToken: cancellationToken);
                        foreach (var group in groups.Groups)
                        {
                            backlog[$"{stream}/{group.Group}"] = (long)group.Backlog;
                            if (stream == PipelineStreams.Profiles && group.Group == "merge")
                            {
                                merged = (long)group.Acknowledged;
                            }
                        }
                    }
                    catch (Grpc.Core.RpcException ex) when (ex.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument or Grpc.Core.StatusCode.Unavailable)
                    {
                        // Not created yet, or the broker is restarting: no figure this time.
                    }
                }

                var sample = new Sample(clock.Elapsed, announced(), merged, rss, backlog);
                samples.Add(sample);
                if (sample.At - printed >= every || samples.Count == 1)
                {
                    printed = sample.At;
                    // The header again once the acquisition's streams exist, with its consumer groups.
                    if (samples.Count == 1 || (columns is null && backlog.Count > 0))
                    {
                        columns = backlog.Count > 0 ? [.. backlog.Keys.Order(StringComparer.Ordinal)] : null;
                        Console.WriteLine($"  {"min",5} {"announced",9} {"merged",7} {string.Join(" ", rss.Keys.Select(k => $"{k,11}"))} | backlog {string.Join(" ", (columns ?? []).Select(c => $"{c,16}"))}");
                    }

                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {sample.At.TotalMinutes,5:0.0} {sample.Announced,9} {sample.Merged,7} {string.Join(" ", rss.Values.Select(v => $"{v,11:0}"))} | backlog {string.Join(" ", (columns ?? []).Select(c => $"{backlog.GetValueOrDefault(c),16}"))}"));
                }

                await Task.Delay(SampleEvery, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException || (ex is Grpc.Core.RpcException rpc && rpc.StatusCode == Grpc.Core.StatusCode.Cancelled))
        {
        }
    }

    // RSS flat: per service, the least-squares slope of RSS over the second half of the run (after the engines were
    // built and the first chunks' bursts), beside the first, lowest, highest and last sample. A second half shorter than
    // JudgedHalf is too short to tell a leak from the start-up ramp: its figures are printed, not judged.
    private static bool? JudgeRss(List<Sample> samples, string[] services, TimeSpan end)
    {
        var judged = end / 2 >= JudgedHalf;
        Console.WriteLine($"RSS per service (MiB): start, min, max, end; slope over the second half ({end.TotalMinutes / 2:0.0}–{end.TotalMinutes:0.0} min), "
            + (judged ? $"flat below {FlatMiBPerMinute} MiB/min" : $"not judged (a second half under {JudgedHalf.TotalMinutes:0} min)"));
        var flat = true;
        foreach (var name in services)
        {
            var series = samples.Where(s => s.RssMiB.TryGetValue(name, out var v) && !double.IsNaN(v)).Select(s => (Minutes: s.At.TotalMinutes, Mib: s.RssMiB[name])).ToArray();
            var half = series.Where(s => s.Minutes >= end.TotalMinutes / 2).ToArray();
            var slope = Slope(half);
            var ok = !judged || Math.Abs(slope) < FlatMiBPerMinute;
            flat &= ok;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-12} {series[0].Mib,6:0} {series.Min(s => s.Mib),6:0} {series.Max(s => s.Mib),6:0} {series[^1].Mib,6:0}   slope {slope,6:+0.00;-0.00} MiB/min  {(!judged ? "" : ok ? "flat" : "NOT flat")}"));
        }

        return judged ? flat : null;
    }

    // Backlog bounded: every group's peak over the second half is no more than one chunk part, the most a single
    // announcement adds: each chunk's frames were worked off before the next chunk came, so the backlog does not grow
    // with the run.
    private static bool JudgeBacklog(List<Sample> samples, int framesPerPart, TimeSpan end)
    {
        var groups = samples.SelectMany(s => s.Backlog.Keys).Distinct().Order(StringComparer.Ordinal).ToArray();
        Console.WriteLine($"backlog per consumer group: peak over the first and the second half, bounded when the second is ≤ one chunk part ({framesPerPart} frames)");
        var bounded = true;
        foreach (var group in groups)
        {
            var first = samples.Where(s => s.At < end / 2).Select(s => s.Backlog.GetValueOrDefault(group)).DefaultIfEmpty().Max();
            var second = samples.Where(s => s.At >= end / 2).Select(s => s.Backlog.GetValueOrDefault(group)).DefaultIfEmpty().Max();
            var ok = second <= framesPerPart;
            bounded &= ok;
            Console.WriteLine($"  {group,-20} {first,7} {second,7}  {(ok ? "bounded" : "NOT bounded")}");
        }

        return bounded;
    }

    // The online result against `anvil integrate` of the same chunk files (a separate process, as an operator runs it).
    private static bool CompareWithOffline(string online, string folder, string poni, string mask, double? polarization, string offline, int frames)
    {
        var anvil = Path.Combine(Suite.RepoRoot, "src", "Anvil.Cli", "bin", new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name, "net10.0", "anvil.dll");
        var files = Directory.GetFiles(folder, $"{Acquisition}_m1_part*.nxs").Order(StringComparer.Ordinal).ToArray();
        string[] arguments = ["integrate", .. files, "--poni", poni, "--mask", mask, "--npt", Npt.ToString(CultureInfo.InvariantCulture), "--method", Method, "--unit", "2th_deg",
            "--polarization", polarization is { } p ? p.ToString("R", CultureInfo.InvariantCulture) : "none", "--out", offline];
        Console.WriteLine($"offline: anvil integrate {folder}/{Acquisition}_m1_part*.nxs ({files.Length} files) {string.Join(' ', arguments[(files.Length + 1)..])}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(anvil);
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        var clock = Stopwatch.StartNew();
        using (var process = Process.Start(psi)!)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"anvil integrate exited with code {process.ExitCode}: {stdout}{stderr.Result}");
            }

            Console.WriteLine($"  {stdout.Trim().Split('\n')[^1]} ({clock.Elapsed.TotalSeconds:0} s)");
        }

        using var a1 = Hdf5File.OpenRead(online);
        using var b1 = Hdf5File.OpenRead(offline);
        var shapeOnline = a1.GetDatasetInfo("/processed/result/data").Shape;
        var shapeOffline = b1.GetDatasetInfo("/processed/result/data").Shape;
        var flagged = a1.ReadDataset<long>("/processed/process/failed_frames").Length + a1.ReadDataset<long>("/processed/process/missing_frames").Length;
        var hashes = (Online: a1.ReadStrings("/processed/process/settings_hash").Distinct().ToArray(), Offline: b1.ReadStrings("/processed/process/settings_hash").Distinct().ToArray());
        if (!shapeOnline.SequenceEqual(shapeOffline) || shapeOnline[0] != frames)
        {
            Console.WriteLine($"identity: DIFFERENT shapes, online {string.Join("×", shapeOnline)}, offline {string.Join("×", shapeOffline)}, {frames} frames announced");
            return false;
        }

        var npt = (int)shapeOnline[1];
        var x = a1.ReadDataset<float>("/processed/result/data");
        var y = b1.ReadDataset<float>("/processed/result/data");
        var binning = a1.ReadDataset<double>("/processed/result/binning").SequenceEqual(b1.ReadDataset<double>("/processed/result/binning"));
        // Bitwise: online and offline run the one engine path (EngineCache, StitchPlan.Stitch) with the same settings, so
        // each frame goes through the same float32 operations in the same order, however frames are batched or spread
        // over replicas; any difference is a different computation, not rounding, so no tolerance is allowed.
        var bitwise = 0;
        double maxAbs = 0;
        for (var row = 0; row < frames; row++)
        {
            var a = x.AsSpan(row * npt, npt);
            var b = y.AsSpan(row * npt, npt);
            if (a.SequenceEqual(b))
            {
                bitwise++;
                continue;
            }

            for (var i = 0; i < npt; i++)
            {
                maxAbs = Math.Max(maxAbs, Math.Abs((double)a[i] - b[i]));
            }
        }

        var same = bitwise == frames && flagged == 0 && binning && hashes.Online.SequenceEqual(hashes.Offline);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"identity: {frames} rows × {npt} bins, {bitwise} rows bitwise identical{(bitwise < frames ? $" (largest difference {maxAbs:0.###e0})" : "")}; 2θ axis {(binning ? "identical" : "DIFFERENT")}; settings hash online {string.Join(",", hashes.Online)}, offline {string.Join(",", hashes.Offline)}; {flagged} frames failed or missing online: {(same ? "IDENTICAL" : "DIFFERENT")}"));
        return same;
    }

    private static double Slope((double X, double Y)[] points)
    {
        if (points.Length < 2)
        {
            return 0;
        }

        var mx = points.Average(p => p.X);
        var my = points.Average(p => p.Y);
        var sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
        return sxx == 0 ? 0 : points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx;
    }

    private static double RssMiB(Process process)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // Exited (the supervisor restarts it).
        }

        return double.NaN;
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
