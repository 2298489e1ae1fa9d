using System.Net;
using System.Net.Sockets;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// The operator console's backend through ingest's Control service, against the real suite: pause and resume (per
/// acquisition and for the beamtime, kept in the broker across a stitch restart), stopping early, progress, data-root
/// browsing, and the CLI verbs on top of them.
/// </summary>
[Collection(SuiteCollection.Name)]
public sealed class OperatorControlTests(SuiteFixture suite)
{
    private Control.ControlClient Control => new(suite.IngestChannel);

    [Fact]
    public async Task Pause_AcquisitionMidRun_ChunksWaitInTheBrokerAndResumeProcessesEachOnce()
    {
        const string acquisition = "pau_1009_00007";
        var folder = suite.CopyRealFrames("pau", acquisition);
        await suite.AnnounceAsync(acquisition, folder, parts: [0, 1]);
        await TaskTimeoutExtensions.UntilAsync("stitch published parts 0 and 1", async () => (await ProgressAsync(acquisition)).FramesStitched == 20, TimeSpan.FromMinutes(1));

        var paused = await Control.PauseAsync(new PauseRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
        Assert.Equal((true, true, false, true), (paused.Paused, paused.AcquisitionPaused, paused.BeamtimePaused, paused.Changed));
        var again = await Control.PauseAsync(new PauseRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
        Assert.Equal((true, false), (again.Paused, again.Changed));
        Assert.StartsWith("no change", again.Message, StringComparison.Ordinal);

        // Ingest still takes the chunks; they wait in the broker while stitch holds the acquisition.
        await suite.AnnounceAsync(acquisition, folder, parts: [2, 3, 4]);
        await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
        await WaitHeldByStitchAsync(acquisition);
        var held = await ProgressAsync(acquisition);
        Assert.Equal(("paused", 5U, 50UL, 20UL), (held.State, held.ChunksAnnounced, held.FramesAnnounced, held.FramesStitched));
        Assert.True(held.Paused && held.Finished && !held.Done);
        Assert.Equal(3UL, held.Backlog.Single(b => b.Group == "stitch").Backlog);

        var resumed = await Control.ResumeAsync(new PauseRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
        Assert.Equal((false, true), (resumed.Paused, resumed.Changed));
        var result = await suite.WaitForResultAsync(acquisition);

        using (var nxs = Hdf5File.OpenRead(result))
        {
            Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
        }

        var done = await WaitDoneAsync(acquisition);
        Assert.Equal((50UL, 50UL, 50UL, 0UL), (done.FramesStitched, done.FramesIntegrated, done.FramesMerged, done.FramesFailed));
        Assert.Equal(acquisition + ".nxs", done.ResultFile);
        Assert.All(done.Backlog, b => Assert.Equal(0UL, b.Backlog));
        Assert.Equal(["frames/integrate", "profiles/merge", "raw/stitch"], done.Backlog.Select(b => $"{b.DataSource}/{b.Group}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Pause_Beamtime_HoldsNewAcquisitionsKeptInTheBrokerAcrossAStitchRestart()
    {
        const string acquisition = "pbt_1009_00008";
        var folder = suite.CopyRealFrames("pbt", acquisition);
        using var stop = new CancellationTokenSource();
        var supervision = suite.Suite.SuperviseAsync(TextWriter.Null, stop.Token);
        try
        {
            var paused = await Control.PauseAsync(new PauseRequest()).ResponseAsync.DefaultTimeout();
            Assert.Equal((true, true, false), (paused.Paused, paused.BeamtimePaused, paused.AcquisitionPaused));
            await suite.AnnounceAsync(acquisition, folder, parts: [0, 1, 2, 3, 4]);
            await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
            await WaitHeldByStitchAsync(acquisition);

            var state = await Control.GetPauseStateAsync(new PauseRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
            Assert.Equal((true, true, false), (state.Paused, state.BeamtimePaused, state.AcquisitionPaused));
            var own = await Control.ResumeAsync(new PauseRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
            Assert.Equal((true, false), (own.Paused, own.Changed));
            Assert.Contains("whole beamtime", own.Message, StringComparison.Ordinal);
            var list = await Control.ListAcquisitionsAsync(new ListAcquisitionsRequest()).ResponseAsync.DefaultTimeout();
            Assert.True(list.BeamtimePaused);
            var held = Assert.Single(list.Acquisitions, a => a.Acquisition == acquisition);
            Assert.Equal(("paused", 0UL), (held.State, held.FramesStitched));

            // The pause lives in the broker: a restarted stitch holds the acquisition again.
            var victim = suite.Suite.Services.Single(s => s.Name == "stitch");
            victim.Process.Kill();
            await TaskTimeoutExtensions.UntilAsync("stitch restarted and holding the acquisition", async () =>
            {
                var current = suite.Suite.Services.Single(s => s.Name == "stitch");
                if (current.Restarts == victim.Restarts || current.Process.HasExited)
                {
                    return false;
                }

                return (await StitchStatusAsync(current.Address)) is { } status && status.Paused.Contains(acquisition);
            }, TimeSpan.FromMinutes(1));
            Assert.Equal(0UL, (await ProgressAsync(acquisition)).FramesStitched);
        }
        finally
        {
            await Control.ResumeAsync(new PauseRequest()).ResponseAsync.DefaultTimeout();
        }

        var result = await suite.WaitForResultAsync(acquisition);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => supervision).DefaultTimeout();
        using var nxs = Hdf5File.OpenRead(result);
        Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.False((await Control.GetPauseStateAsync(new PauseRequest()).ResponseAsync.DefaultTimeout()).Paused);
    }

    [Fact]
    public async Task Stop_RunningAcquisition_MergeFinalisesWithTheFramesItHasAndASecondStopIsHarmless()
    {
        const string acquisition = "stp_1009_00009";
        var folder = suite.CopyRealFrames("stp", acquisition);
        await suite.AnnounceAsync(acquisition, folder, parts: [0, 1, 2]);

        var stopped = await Control.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
        Assert.Equal((3U, false, false), (stopped.Parts, stopped.AlreadyFinished, stopped.Paused));
        Assert.Contains("stopped after 3 chunk part(s)", stopped.Message, StringComparison.Ordinal);
        var second = await Control.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
        Assert.Equal((3U, true), (second.Parts, second.AlreadyFinished));
        Assert.Contains("already finished", second.Message, StringComparison.Ordinal);

        // A chunk the detector still announces after the stop is refused, not lost silently.
        var late = await Assert.ThrowsAsync<RpcException>(() => suite.AnnounceAsync(acquisition, folder, parts: [3]));
        Assert.Equal(StatusCode.InvalidArgument, late.StatusCode);

        var result = await suite.WaitForResultAsync(acquisition);
        using (var nxs = Hdf5File.OpenRead(result))
        {
            Assert.Equal([30L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
        }

        var done = await WaitDoneAsync(acquisition);
        Assert.Equal((3U, 30UL, 30UL, true), (done.ChunksAnnounced, done.FramesMerged, done.FramesAnnounced, done.Finished));
    }

    [Fact]
    public async Task ListAcquisitions_ChunkWithAMissingModule_ItsFramesCountedAsFailedWithTheReason()
    {
        const string acquisition = "bad_1009_00011";
        var folder = suite.CopyRealFrames("bad", acquisition);
        File.Delete(Path.Combine(folder, ChunkFileName.Format(acquisition, 2, 1)));
        await suite.AnnounceAsync(acquisition, folder, parts: [0, 1]);
        await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = 2 }).ResponseAsync.DefaultTimeout();

        var done = await WaitDoneAsync(acquisition);

        Assert.Equal((20UL, 20UL, 10UL), (done.FramesIntegrated, done.FramesMerged, done.FramesFailed));
        var failure = Assert.Single(done.Failures);
        Assert.StartsWith("frame 11: module 2", failure, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadCalls => new()
    {
        { "pause:a/b", "acquisition 'a/b' must be" },
        { "resume:a b", "acquisition 'a b' must be" },
        { "state:../x", "acquisition '../x' must be" },
        { "stop:a/b", "acquisition 'a/b' must be" },
        { "stop:never_recorded_42", "unknown to the broker" },
        { "stop:", "must be" },
        { "list:never_recorded_42", "unknown to the broker" },
        { "browse:..", "'..'" },
        { "browse:/etc", "outside the data root" },
    };

    [Theory]
    [MemberData(nameof(BadCalls))]
    public async Task Control_BadName_InvalidArgumentSayingWhatToFix(string call, string message)
    {
        var (verb, name) = (call.Split(':')[0], call.Split(':', 2)[1]);
        Task task = verb switch
        {
            "pause" => Control.PauseAsync(new PauseRequest { Acquisition = name }).ResponseAsync,
            "resume" => Control.ResumeAsync(new PauseRequest { Acquisition = name }).ResponseAsync,
            "state" => Control.GetPauseStateAsync(new PauseRequest { Acquisition = name }).ResponseAsync,
            "stop" => Control.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = name }).ResponseAsync,
            "list" => Control.ListAcquisitionsAsync(new ListAcquisitionsRequest { Acquisition = name }).ResponseAsync,
            _ => Control.BrowseAsync(new BrowseRequest { Path = name }).ResponseAsync,
        };

        var ex = await Assert.ThrowsAsync<RpcException>(() => task.DefaultTimeout());

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains(message, ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Browse_FolderWithLinks_ListsWhatLiesInsideAndRefusesTheWayOut()
    {
        var folder = Path.Combine(suite.DataRoot, "browse");
        var outside = Path.Combine(suite.WorkDir, "outside-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(Path.Combine(folder, "calib"));
        Directory.CreateDirectory(outside);
        File.Copy(suite.Poni, Path.Combine(folder, "calib", "L2.poni"), overwrite: true);
        await File.WriteAllTextAsync(Path.Combine(outside, "other.poni"), "x").DefaultTimeout();
        if (!Directory.Exists(Path.Combine(folder, "out")))
        {
            Directory.CreateSymbolicLink(Path.Combine(folder, "out"), outside);
        }

        var root = await Control.BrowseAsync(new BrowseRequest { Path = "browse" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(("browse", suite.DataRoot), (root.Path, root.DataRoot));
        var calib = Assert.Single(root.Entries);
        Assert.Equal(("calib", EntryKind.Directory, "browse/calib"), (calib.Name, calib.Kind, calib.Path));

        var files = await Control.BrowseAsync(new BrowseRequest { Path = "browse/calib", Pattern = "*.poni" }).ResponseAsync.DefaultTimeout();
        var poni = Assert.Single(files.Entries);
        Assert.Equal(("L2.poni", EntryKind.File, (ulong)new FileInfo(suite.Poni).Length), (poni.Name, poni.Kind, poni.Size));
        Assert.True(poni.ModifiedUnixMs > 0);

        var escape = await Assert.ThrowsAsync<RpcException>(() => Control.BrowseAsync(new BrowseRequest { Path = "browse/out" }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, escape.StatusCode);
        Assert.Contains("symbolic link", escape.Status.Detail, StringComparison.Ordinal);

        // What the picker returns is what a settings change takes.
        var settings = await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout();
        var checkedOnly = await Control.UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = "brw_1009_00012", Poni = poni.Path }).ResponseAsync.DefaultTimeout();
        Assert.EndsWith("browse/calib/L2.poni", checkedOnly.Poni, StringComparison.Ordinal);
        Assert.Equal(settings, await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout());
    }

    [Fact]
    public async Task Cli_PauseStatusStopResume_AgainstTheRunningSuite()
    {
        const string acquisition = "cli_1009_00010";
        var folder = suite.CopyRealFrames("cli", acquisition);

        var (code, output, error) = await RunAsync("pause", "--acquisition", acquisition);
        Assert.True(code == 0, error);
        Assert.Contains($"acquisition '{acquisition}' is paused", output, StringComparison.Ordinal);
        await suite.AnnounceAsync(acquisition, folder, parts: [0]);
        await WaitHeldByStitchAsync(acquisition);

        (code, output, error) = await RunAsync("status");
        Assert.True(code == 0, error);
        Assert.Matches($@"(?m)^{acquisition}\s+paused\s+1\s+10\s+0\s", output);

        // Stopped while paused: finalised once resumed.
        (code, output, _) = await RunAsync("stop", acquisition);
        Assert.Equal(0, code);
        Assert.Contains("stopped after 1 chunk part(s); it is paused", output, StringComparison.Ordinal);
        (code, output, _) = await RunAsync("stop", acquisition);
        Assert.Equal(0, code);
        Assert.Contains("already finished", output, StringComparison.Ordinal);
        (code, output, _) = await RunAsync("resume", "--acquisition", acquisition);
        Assert.Equal(0, code);
        Assert.Contains("processed automatically", output, StringComparison.Ordinal);

        await suite.WaitForResultAsync(acquisition);
        await WaitDoneAsync(acquisition);
        (code, output, _) = await RunAsync("status", acquisition);
        Assert.Equal(0, code);
        Assert.Matches($@"(?m)^{acquisition}\s+done\s+1\s+10\s+10\s+10\s+10\s+0\s+0\s+v\d+\s+{acquisition}\.nxs", output);

        // Each failure: one line, a non-zero exit.
        foreach (var (args, expected, message) in new (string[] Args, int Code, string Message)[]
        {
            (["stop"], 2, "give the acquisition to stop"),
            (["stop", "a/b"], 1, "must be"),
            (["stop", "never_recorded_43"], 1, "unknown to the broker"),
            (["pause", "--acquisitoin", "x"], 2, "unknown option(s): --acquisitoin"),
            (["status", "--ingest", ClosedAddress()], 1, "does not answer"),
        })
        {
            (code, output, error) = await RunAsync(args);
            Assert.Equal(expected, code);
            Assert.Equal(string.Empty, output);
            var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"anvil {args[0]}: ", line, StringComparison.Ordinal);
            Assert.Contains(message, line, StringComparison.Ordinal);
        }
    }

    private async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] all = args[^1].StartsWith("http", StringComparison.Ordinal) ? args[1..] : [.. args[1..], "--ingest", suite.Suite.IngestAddress];
        var code = await OperatorCommands.RunAsync(args[0], all, output, error, CancellationToken.None).DefaultTimeout();
        return (code, output.ToString(), error.ToString());
    }

    // An address nobody listens on: a port the system just handed out and took back.
    private static string ClosedAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }

    private async Task<AcquisitionProgress> ProgressAsync(string acquisition) =>
        (await Control.ListAcquisitionsAsync(new ListAcquisitionsRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout()).Acquisitions.Single();

    // Merge records the result in the broker right after renaming the file into place.
    private async Task<AcquisitionProgress> WaitDoneAsync(string acquisition)
    {
        AcquisitionProgress? progress = null;
        await TaskTimeoutExtensions.UntilAsync($"{acquisition} is done", async () => (progress = await ProgressAsync(acquisition)).Done, TimeSpan.FromMinutes(3));
        Assert.Equal("done", progress!.State);
        return progress;
    }

    private async Task WaitHeldByStitchAsync(string acquisition) =>
        await TaskTimeoutExtensions.UntilAsync($"stitch holds {acquisition}", async () =>
            (await StitchStatusAsync(suite.Suite.Services.Single(s => s.Name == "stitch").Address)) is { } status && status.Paused.Contains(acquisition),
            TimeSpan.FromMinutes(1));

    private static async Task<WorkerStatusReply?> StitchStatusAsync(string address)
    {
        using var channel = GrpcChannel.ForAddress(address);
        try
        {
            var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
            return health.Status == HealthCheckResponse.Types.ServingStatus.Serving
                ? await new WorkerStatus.WorkerStatusClient(channel).GetStatusAsync(new WorkerStatusRequest(), deadline: DateTime.UtcNow.AddSeconds(5))
                : null;
        }
        catch (RpcException)
        {
            return null;
        }
    }
}
