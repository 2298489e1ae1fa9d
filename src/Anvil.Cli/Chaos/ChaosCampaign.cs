using System.Diagnostics;
using Anvil.Broker.Auth;
using Anvil.Broker.V1;
using Anvil.Hdf5;
using Anvil.Hosting;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Anvil.Cli.Chaos;

/// <summary>
/// A fault campaign against a real suite (separate processes on free loopback ports, supervised as under `anvil up`):
/// each trial replays the 50 real P02.2 frames (tests/fixtures/lambda) as a new acquisition while one fault strikes,
/// then compares the result row for row with an undisturbed run of the same input.
/// </summary>
public sealed class ChaosCampaign : IAsyncDisposable
{
    private const int Frames = 50;
    private const int Parts = 5;

    // The input arrives as a detector writes it, one chunk part (10 frames) every half second, so every run lasts a few
    // seconds and a fault drawn within that time strikes while the acquisition is still being taken and processed.
    private static readonly TimeSpan PartPeriod = TimeSpan.FromMilliseconds(500);
    private const int DamagedPart = 2;

    // How long "broker disk full" keeps the broker's disk full.
    private static readonly TimeSpan FullFor = TimeSpan.FromSeconds(5);

    private readonly string work;
    private readonly Suite suite;
    private readonly CancellationTokenSource stopSupervising = new();
    private readonly Task supervising;
    private readonly GrpcChannel ingestChannel;
    private readonly TextWriter log;
    private readonly bool keep;
    private readonly FullDisk? brokerDisk;
    private float[] baseline = [];
    private int npt;
    private int trials;

    private ChaosCampaign(string work, Suite suite, TextWriter log, bool keep, FullDisk? brokerDisk)
    {
        this.work = work;
        this.brokerDisk = brokerDisk;
        this.keep = keep;
        this.suite = suite;
        this.log = log;
        ingestChannel = GrpcChannel.ForAddress(suite.IngestAddress, new GrpcChannelOptions { MaxSendMessageSize = null });
        supervising = suite.SuperviseAsync(TextWriter.Synchronized(log), stopSupervising.Token, maxRestartsPerMinute: 20);
    }

    /// <summary>The services a fault can strike, in the topology's order.</summary>
    public IReadOnlyList<string> Services => [.. suite.Services.Select(s => s.Name).Where(n => n != "console")];

    private static string Fixtures => Path.Combine(Suite.RepoRoot, "tests", "fixtures", "lambda");

    private string DataRoot => Path.Combine(work, "data");

    private string OutputDir => Path.Combine(work, "out");

    /// <summary>
    /// Starts the suite with the pipeline configuration (config/pipeline.json), on the fixture's calibration; with
    /// <paramref name="keep"/> its work folder (data, results, broker, every service's log) is left for a look afterwards.
    /// </summary>
    /// <remarks>
    /// With <paramref name="brokerDiskFull"/> the broker's data directory is a 512 MB tmpfs the "broker disk full" fault can
    /// fill (<see cref="BrokerDiskFull"/> says whether it could be mounted: that needs root).
    /// </remarks>
    public static async Task<ChaosCampaign> StartAsync(TimeSpan resendDelay, TextWriter log, bool keep, bool brokerDiskFull, CancellationToken cancellationToken)
    {
        var work = Directory.CreateTempSubdirectory("anvil-chaos-").FullName;
        FullDisk? disk = null;
        if (brokerDiskFull)
        {
            try
            {
                disk = FullDisk.Mount(megabytes: 512);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                log.WriteLine($"{ChaosFault.BrokerDiskFullName}: left out, the broker's data directory cannot be a tmpfs here ({ex.Message})");
            }
        }

        var config = PipelineConfig.Load(null);
        config.Override("DataRoot", Path.Combine(work, "data"));
        config.Override("OutputDir", Path.Combine(work, "out"));
        config.Override("Poni", Path.Combine(Fixtures, "L2.poni"));
        config.Override("ResendDelay", resendDelay.ToString("c"));
        Directory.CreateDirectory(Path.Combine(work, "data"));
        var suite = await Suite.StartAsync(new SuiteOptions { WorkDir = work, BrokerDataDir = disk?.Path, Ports = PortPlan.Free(), Pipeline = config.Values },
            TimeSpan.FromSeconds(120), cancellationToken);
        return new ChaosCampaign(work, suite, log, keep, disk);
    }

    /// <summary>Whether the "broker disk full" fault can strike (its tmpfs is mounted).</summary>
    public bool BrokerDiskFull => brokerDisk is not null;

    /// <summary>The undisturbed run every trial is compared with.</summary>
    public async Task<TimeSpan> RunBaselineAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var acquisition = NextAcquisition();
        await AnnounceAsync(acquisition, Copy(acquisition), cancellationToken);
        var result = await WaitForResultAsync(acquisition, cancellationToken);
        using var nxs = Hdf5File.OpenRead(result);
        npt = (int)nxs.GetDatasetInfo("/processed/result/data").Shape[1];
        baseline = nxs.ReadDataset<float>("/processed/result/data");
        if (nxs.ReadDataset<long>("/processed/process/failed_frames").Length > 0 || baseline.Any(float.IsNaN))
        {
            throw new InvalidOperationException($"the undisturbed run {result} has failed frames: nothing to compare the trials with");
        }

        return clock.Elapsed;
    }

    /// <summary>
    /// One trial of <paramref name="fault"/>; it strikes at a moment drawn by <paramref name="random"/> while the chunk parts
    /// are still arriving, so it hits the acquisition while it is being taken and processed.
    /// </summary>
    public async Task<TrialOutcome> RunTrialAsync(ChaosFault fault, Random random, CancellationToken cancellationToken)
    {
        // The last trial's result can be final before its struck service is serving again (the supervisor restarts it):
        // each fault meets a whole suite.
        await suite.WaitHealthyAsync(TimeSpan.FromMinutes(2), cancellationToken, supervised: true);
        var acquisition = NextAcquisition();
        var folder = Copy(acquisition);
        var damaged = fault.Kind == FaultKind.BadFile ? Damage(folder, acquisition, fault.Target, random) : null;
        var unexpected = 0;
        var struck = DateTime.UtcNow;
        var announcing = AnnounceAsync(acquisition, folder, cancellationToken);
        switch (fault.Kind)
        {
            case FaultKind.Kill:
                await Task.Delay(StrikeAt(random), cancellationToken);
                struck = DateTime.UtcNow;
                await Service(fault.Target).Launcher.KillAsync();
                break;
            case FaultKind.Stop:
                await Task.Delay(StrikeAt(random), cancellationToken);
                struck = DateTime.UtcNow;
                var pid = Service(fault.Target).Process.Id;
                await SignalAsync("STOP", pid);
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
                await SignalAsync("CONT", pid);
                break;
            case FaultKind.KillMergeAtFinish:
                await announcing;
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(0, 300)), cancellationToken);
                struck = DateTime.UtcNow;
                await Service("merge").Launcher.KillAsync();
                break;
            case FaultKind.BadRequests:
                unexpected = await SendBadRequestsAsync(acquisition, cancellationToken);
                break;
            case FaultKind.BrokerDiskFull:
                await Task.Delay(StrikeAt(random), cancellationToken);
                struck = DateTime.UtcNow;
                brokerDisk!.Fill(bytesLeft: 0);
                await Task.Delay(FullFor, cancellationToken);
                brokerDisk.MakeRoom();
                break;
        }

        await announcing;
        var result = await WaitForResultAsync(acquisition, cancellationToken);
        var recovery = DateTime.UtcNow - struck;
        return await CompareAsync(acquisition, result, damaged, unexpected, recovery, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await stopSupervising.CancelAsync();
        try
        {
            await supervising;
        }
        catch (OperationCanceledException)
        {
        }

        ingestChannel.Dispose();
        await suite.DisposeAsync();
        stopSupervising.Dispose();
        if (brokerDisk is not null)
        {
            if (keep)
            {
                // The broker's data would go with the tmpfs: keep a copy beside the logs.
                CopyDirectory(brokerDisk.Path, Path.Combine(work, "broker"));
            }

            brokerDisk.Dispose();
        }

        if (keep)
        {
            log.WriteLine($"kept {work} (services' logs in {Path.Combine(work, "logs")})");
        }
        else
        {
            Directory.Delete(work, recursive: true);
        }
    }

    // Within 10-90 % of the time the chunk parts take to arrive: the acquisition is still being taken and processed.
    private static TimeSpan StrikeAt(Random random) => PartPeriod * (Parts - 1) * (0.1 + (0.8 * random.NextDouble()));

    private ServiceProcess Service(string name) => suite.Services.Single(s => s.Name == name);

    private string NextAcquisition() => $"chaos{++trials:D3}_00001";

    private string Copy(string acquisition)
    {
        var folder = Path.Combine(DataRoot, acquisition);
        RealFrameAcquisition.Copy(Fixtures, folder, acquisition);
        return folder;
    }

    // Damages module 2 of chunk part 2; returns the frames of that part (which may fail, and then must be flagged).
    private static HashSet<long> Damage(string folder, string acquisition, string damage, Random random)
    {
        var path = Path.Combine(folder, ChunkFileName.Format(acquisition, 2, DamagedPart));
        switch (damage)
        {
            case "truncated":
                using (var stream = new FileStream(path, FileMode.Open))
                {
                    stream.SetLength(stream.Length / 2);
                }

                break;
            case "corrupt-gzip":
                using (var stream = new FileStream(path, FileMode.Open))
                {
                    var noise = new byte[4096];
                    random.NextBytes(noise);
                    stream.Position = (stream.Length / 2) + random.Next(0, (int)(stream.Length / 4));
                    stream.Write(noise);
                }

                break;
            case "missing":
                File.Delete(path);
                break;
            case "non-hdf5":
                File.WriteAllText(path, "not an HDF5 file\n");
                break;
        }

        return [.. Enumerable.Range((DamagedPart * 10) + 1, 10).Select(f => (long)f)];
    }

    // Announces every chunk part as a detector driver does, through a client that retries while ingest is unavailable.
    private async Task AnnounceAsync(string acquisition, string folder, CancellationToken cancellationToken)
    {
        var ingest = RetryWhileUnavailable.Ingest(ingestChannel, TextWriter.Null);
        await AcquisitionDriver.AnnouncePartsAsync(ingest, acquisition, RealFrameAcquisition.Copied(Fixtures, folder, acquisition), cancellationToken, PartPeriod);
        await ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = Parts }, cancellationToken: cancellationToken);
    }

    private async Task<string> WaitForResultAsync(string acquisition, CancellationToken cancellationToken)
    {
        var path = Path.Combine(OutputDir, acquisition + ".nxs");
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (!File.Exists(path))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{acquisition} did not complete within 5 minutes (service logs in {Path.Combine(work, "logs")})");
            }

            await Task.Delay(100, cancellationToken);
        }

        return path;
    }

    private async Task<TrialOutcome> CompareAsync(string acquisition, string result, HashSet<long>? damaged, int unexpected, TimeSpan recovery,
        CancellationToken cancellationToken)
    {
        float[] data;
        HashSet<long> flaggedFrames;
        using (var nxs = Hdf5File.OpenRead(result))
        {
            data = nxs.ReadDataset<float>("/processed/result/data");
            flaggedFrames = nxs.ReadDataset<long>("/processed/process/failed_frames")
                .Concat(nxs.ReadDataset<long>("/processed/process/missing_frames")).ToHashSet();
        }

        int identical = 0, lost = 0, wrong = 0;
        for (var frame = 1; frame <= Frames; frame++)
        {
            if (flaggedFrames.Contains(frame))
            {
                continue;
            }

            var row = data.Length < frame * npt ? [] : data[((frame - 1) * npt)..(frame * npt)];
            if (row.Length == 0 || row.All(float.IsNaN))
            {
                lost++;
            }
            else if (row.AsSpan().SequenceEqual(baseline.AsSpan((frame - 1) * npt, npt)))
            {
                identical++;
            }
            else
            {
                wrong++;
            }
        }

        unexpected += flaggedFrames.Count(f => damaged is null || !damaged.Contains(f));
        // Ingest may still be restarting after the fault: ask as a driver would, retrying while it is unavailable.
        var control = new Control.ControlClient(ingestChannel.Intercept(new RetryWhileUnavailable(TextWriter.Null)));
        var progress = (await control.ListAcquisitionsAsync(new ListAcquisitionsRequest { Acquisition = acquisition }, cancellationToken: cancellationToken)).Acquisitions.Single();
        var duplicated = (int)Math.Max(0, Math.Max((long)progress.FramesStitched, (long)progress.FramesIntegrated) - Frames);
        return new TrialOutcome(identical, lost, wrong, duplicated, flaggedFrames.Count, unexpected, recovery);
    }

    // Every request below must be refused with the status named; each one that is not counts as unexpected.
    private async Task<int> SendBadRequestsAsync(string acquisition, CancellationToken cancellationToken)
    {
        var misses = 0;
        async Task Expect(StatusCode code, Func<Task> call)
        {
            try
            {
                await call();
                misses++;
            }
            catch (RpcException ex) when (ex.StatusCode == code)
            {
            }
            catch (RpcException)
            {
                misses++;
            }
        }

        var control = new Control.ControlClient(ingestChannel);
        var ingest = new Ingest.IngestClient(ingestChannel);
        await Expect(StatusCode.ResourceExhausted, () => control.UpdateSettingsAsync(new UpdateSettingsRequest { Poni = new string('x', 200_000) }, cancellationToken: cancellationToken).ResponseAsync);
        await Expect(StatusCode.InvalidArgument, () => control.UpdateSettingsAsync(new UpdateSettingsRequest { Npt = 0 }, cancellationToken: cancellationToken).ResponseAsync);
        await Expect(StatusCode.InvalidArgument, () => control.UpdateSettingsAsync(new UpdateSettingsRequest { Poni = "/etc/hostname" }, cancellationToken: cancellationToken).ResponseAsync);
        await Expect(StatusCode.InvalidArgument, () => ingest.AnnounceChunkAsync(new AnnounceChunkRequest { Acquisition = acquisition, Module = 1, Modules = 3, Part = 7, Frames = 4_000_000_000, Path = "/x.nxs" }, cancellationToken: cancellationToken).ResponseAsync);
        await Expect(StatusCode.InvalidArgument, () => ingest.AnnounceChunkAsync(new AnnounceChunkRequest { Acquisition = "../x", Module = 1, Modules = 3 }, cancellationToken: cancellationToken).ResponseAsync);
        await Expect(StatusCode.InvalidArgument, () => control.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = "no such/acquisition" }, cancellationToken: cancellationToken).ResponseAsync);

        foreach (var worker in suite.Services.Where(s => s.Name is not ("broker" or "ingest" or "console")))
        {
            using var channel = GrpcChannel.ForAddress(worker.Address, new GrpcChannelOptions { MaxSendMessageSize = null });
            await Expect(StatusCode.ResourceExhausted, () => new Grpc.Health.V1.Health.HealthClient(channel)
                .CheckAsync(new Grpc.Health.V1.HealthCheckRequest { Service = new string('s', 200_000) }, cancellationToken: cancellationToken).ResponseAsync);
        }

        // The broker: no token, a forged one, an expired one, and one message over its limit.
        using var broker = GrpcChannel.ForAddress(suite.BrokerAddress, new GrpcChannelOptions { MaxSendMessageSize = null });
        var producer = new Producer.ProducerClient(broker);
        var send = new SendRequest { Address = new Address { Beamtime = "demo", DataSource = "chaos", Stream = acquisition }, Id = 1, Name = "x" };
        var keys = SigningKeys.Parse(File.ReadAllText(suite.BrokerSecretFile));
        var expired = new BrokerTokens(keys, time: new PastTime()).Mint("demo", BrokerAccess.Any, TimeSpan.FromMinutes(1));
        foreach (var token in new[] { null, "not.a.token", expired })
        {
            var headers = token is null ? new Metadata() : new Metadata { { "authorization", $"Bearer {token}" } };
            await Expect(StatusCode.Unauthenticated, () => producer.SendAsync(send, headers, cancellationToken: cancellationToken).ResponseAsync);
        }

        var authorised = new Metadata { { "authorization", $"Bearer {suite.BrokerToken}" } };
        await Expect(StatusCode.ResourceExhausted, () => producer.SendAsync(new SendRequest(send) { Payload = Google.Protobuf.ByteString.CopyFrom(new byte[40 * 1024 * 1024]) },
            authorised, cancellationToken: cancellationToken).ResponseAsync);
        return misses;
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != ".filler"))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    private static async Task SignalAsync(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { RedirectStandardError = true })!;
        await kill.WaitForExitAsync();
    }

    // Tokens minted an hour ago with a minute to live: expired now.
    private sealed class PastTime : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow.AddHours(-1);
    }
}
