using System.Security.Cryptography;
using Anvil.Hdf5;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>Operator control through ingest's Control service: settings while a run goes on, and reprocessing.</summary>
[Collection(SuiteCollection.Name)]
public sealed class ControlTests(SuiteFixture suite)
{
    private Control.ControlClient Control => new(suite.IngestChannel);

    public static TheoryData<string, string> BadUpdates => new()
    {
        { "npt=1", "npt 1 is out of range" },
        { "unit=99", "unit 99 is unknown" },
        { "method=99", "method 99 is unknown" },
        { "polarization=2", "polarization 2 is out of range" },
        { "poni=missing.poni", "does not load" },
        { "mask=missing.mask", "does not load" },
        { "acquisition=a/b", "acquisition 'a/b' must be" },
    };

    [Theory]
    [MemberData(nameof(BadUpdates))]
    public async Task UpdateSettings_BadValue_InvalidArgumentSayingWhatToFixAndNothingChanges(string change, string message)
    {
        var before = await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout();
        var (key, value) = (change.Split('=')[0], change.Split('=')[1]);
        var request = key switch
        {
            "npt" => new UpdateSettingsRequest { Npt = uint.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
            "unit" => new UpdateSettingsRequest { Unit = (Unit)int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
            "method" => new UpdateSettingsRequest { Method = (Method)int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
            "polarization" => new UpdateSettingsRequest { Polarization = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
            "poni" => new UpdateSettingsRequest { Poni = value },
            "mask" => new UpdateSettingsRequest { Mask = value },
            _ => new UpdateSettingsRequest { Acquisition = value, Npt = 100 },
        };

        var ex = await Assert.ThrowsAsync<RpcException>(() => Control.UpdateSettingsAsync(request).ResponseAsync.DefaultTimeout());

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains(message, ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout());
    }

    public static TheoryData<string, string> FilesOutsideTheDataRoot => new()
    {
        { "poni", "absolute" },
        { "poni", "dotdot" },
        { "poni", "symlink" },
        { "mask", "absolute" },
        { "dark", "symlink" },
    };

    // A readable, valid PONI (and mask) outside the data root is refused by the rule announced chunks follow, and
    // nothing changes; before the fix an absolute path anywhere was accepted and applied to every acquisition.
    [Theory]
    [MemberData(nameof(FilesOutsideTheDataRoot))]
    public async Task UpdateSettings_FileOutsideTheDataRoot_InvalidArgumentNamingTheFieldAndNothingChanges(string field, string how)
    {
        var outside = Directory.CreateDirectory(Path.Combine(suite.WorkDir, "outside-" + field + "-" + how)).FullName;
        var file = Path.Combine(outside, field == "poni" ? "L2.poni" : "image.npy");
        File.Copy(field == "poni" ? suite.Poni : Path.Combine(TestPaths.LambdaFixtures, "L2.poni"), file, overwrite: true);
        var path = how switch
        {
            "absolute" => file,
            "dotdot" => $"../{Path.GetFileName(outside)}/{Path.GetFileName(file)}",
            _ => Link(file),
        };
        var request = field switch
        {
            "poni" => new UpdateSettingsRequest { Poni = path },
            "mask" => new UpdateSettingsRequest { Mask = path },
            _ => new UpdateSettingsRequest { Dark = path },
        };
        var before = await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout();

        var ex = await Assert.ThrowsAsync<RpcException>(() => Control.UpdateSettingsAsync(request).ResponseAsync.DefaultTimeout());

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains($"{field} path", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(how == "dotdot" ? "'..' segment" : "outside the data root", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, await Control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout());

        string Link(string target)
        {
            var link = Path.Combine(suite.DataRoot, $"link-{field}-{Guid.NewGuid():N}{Path.GetExtension(target)}");
            File.CreateSymbolicLink(link, target);
            return Path.GetFileName(link);
        }
    }

    [Fact]
    public async Task UpdateSettings_MidAcquisition_AppliesFromTheNextChunkAndTheFileRecordsWhichSettingsMadeEachFrame()
    {
        const string acquisition = "ctl_1009_00004";
        var folder = suite.CopyRealFrames("ctl", acquisition);
        using var stitch = GrpcChannel.ForAddress(suite.Suite.Services.Single(s => s.Name == "stitch").Address);
        var status = new WorkerStatus.WorkerStatusClient(stitch);
        var stitchedBefore = (await status.GetStatusAsync(new WorkerStatusRequest()).ResponseAsync.DefaultTimeout()).Handled;

        // Parts 0 and 1 (frames 1–20) under the suite's settings ...
        await suite.AnnounceAsync(acquisition, folder, parts: [0, 1]);
        await TaskTimeoutExtensions.UntilAsync("stitch published parts 0 and 1", async () =>
            (await status.GetStatusAsync(new WorkerStatusRequest()).ResponseAsync).Handled >= stitchedBefore + 2, TimeSpan.FromMinutes(1));

        // ... a running acquisition cannot be reprocessed yet ...
        var early = await Assert.ThrowsAsync<RpcException>(() => Control.ReprocessAsync(new ReprocessRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.FailedPrecondition, early.StatusCode);

        // ... then the operator changes the bins for this acquisition, and parts 2–4 (frames 21–50) follow.
        var changed = await Control.UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = acquisition, Npt = 700 }).ResponseAsync.DefaultTimeout();
        Assert.Equal((700U, acquisition), (changed.Npt, changed.Scope));
        Assert.True(changed.Version > 0);
        await suite.AnnounceAsync(acquisition, folder, parts: [2, 3, 4]);
        await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
        var result = await suite.WaitForResultAsync(acquisition);

        using var nxs = Hdf5File.OpenRead(result);
        Assert.Equal([50L, 700], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result_2/data").Shape);
        Assert.Equal(700, nxs.ReadDataset<long>("/processed/process/num_points")[0]);
        var hashes = nxs.ReadStrings("/processed/process/settings_hash");
        Assert.Single(hashes.Take(20).Distinct());
        Assert.Single(hashes.Skip(20).Distinct());
        Assert.NotEqual(hashes[0], hashes[20]);
        Assert.Contains("\"npt\":700", nxs.ReadString($"/processed/process/settings/{hashes[20]}"), StringComparison.Ordinal);

        // Each frame's row is in the segment of its own settings, NaN in the other.
        var latest = nxs.ReadDataset<float>("/processed/result/data");
        var earlier = nxs.ReadDataset<float>("/processed/result_2/data");
        Assert.All(latest.AsSpan(0, 20 * 700).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.DoesNotContain(latest.AsSpan(20 * 700).ToArray(), float.IsNaN);
        Assert.DoesNotContain(earlier.AsSpan(0, 20 * suite.Npt).ToArray(), float.IsNaN);
        Assert.All(earlier.AsSpan(20 * suite.Npt).ToArray(), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public async Task Reprocess_FinishedAcquisition_NewNameWithNewSettingsAndTheEarlierResultUntouched()
    {
        const string acquisition = "rep_1009_00005";
        var folder = suite.CopyRealFrames("rep", acquisition);
        await suite.AnnounceAsync(acquisition, folder, parts: [0, 1, 2, 3, 4]);
        await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
        var original = await suite.WaitForResultAsync(acquisition);
        var originalHash = SHA256.HashData(await File.ReadAllBytesAsync(original).DefaultTimeout());
        var before = await WorkerStatusesAsync();

        var reply = await Control.ReprocessAsync(new ReprocessRequest
        {
            Acquisition = acquisition,
            Settings = new UpdateSettingsRequest { Npt = 800, Unit = Unit.QNm, Method = Method.No },
        }).ResponseAsync.DefaultTimeout();
        Assert.Equal((acquisition + "_r1", 5U), (reply.Acquisition, reply.Chunks));
        var again = await Control.ReprocessAsync(new ReprocessRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
        Assert.Equal(acquisition + "_r2", again.Acquisition);

        // A live acquisition of the same frames while both reprocessings run: the live chain alone processes it, and its
        // result is the one it had without them.
        const string live = "rep_1009_00006";
        var liveFolder = suite.CopyRealFrames("rep-live", live);
        await suite.AnnounceAsync(live, liveFolder, parts: [0, 1, 2, 3, 4]);
        await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = live, Parts = 5 }).ResponseAsync.DefaultTimeout();

        var reprocessed = await suite.WaitForResultAsync(reply.Acquisition);
        await suite.WaitForResultAsync(again.Acquisition);
        using (var alone = Hdf5File.OpenRead(original))
        using (var beside = Hdf5File.OpenRead(await suite.WaitForResultAsync(live)))
        {
            Assert.Equal(alone.ReadDataset<float>("/processed/result/data"), beside.ReadDataset<float>("/processed/result/data"));
        }

        // Isolated from the live chain: the reprocess pool (Pipeline:Pool=reprocess) handled every delivery of both
        // reprocessings (stitch 5 chunk parts, integrate and merge 50 frames, each twice), the live workers only the live
        // acquisition's (integrate's two replicas share its 50 frames).
        // (A frame the niced pool had not acknowledged within the resend delay is handled again: at least its count.)
        var liveHandled = new Dictionary<string, ulong> { ["stitch"] = 5, ["integrate"] = 50, ["merge"] = 50 };
        var pool = new Dictionary<string, ulong> { ["reprocess-stitch"] = 10, ["reprocess-integrate"] = 100, ["reprocess-merge"] = 100 };
        Dictionary<string, WorkerStatusReply> after = [];
        Dictionary<string, ulong> handled = [];
        await TaskTimeoutExtensions.UntilAsync("the reprocess pool's acknowledgements counted", async () =>
        {
            after = await WorkerStatusesAsync();
            handled = after.GroupBy(a => a.Key == "integrate-2" ? "integrate" : a.Key)
                .ToDictionary(g => g.Key, g => g.Aggregate(0UL, (sum, a) => sum + a.Value.Handled - before[a.Key].Handled));
            return pool.All(p => handled[p.Key] >= p.Value);
        }, TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        Assert.All(after.Where(a => a.Key.StartsWith("reprocess-", StringComparison.Ordinal)), a => Assert.Equal("reprocess", a.Value.Pool));
        Assert.All(after.Where(a => !a.Key.StartsWith("reprocess-", StringComparison.Ordinal)), a => Assert.Equal("live", a.Value.Pool));
        Assert.Equal(liveHandled, handled.Where(h => liveHandled.ContainsKey(h.Key)).ToDictionary());
        Assert.All(pool, p => Assert.True(handled[p.Key] >= p.Value, $"{p.Key} handled {handled[p.Key]} deliveries, fewer than the reprocessings' {p.Value}"));
        using (var nxs = Hdf5File.OpenRead(reprocessed))
        {
            Assert.Equal([50L, 800], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Equal([50L, 800], nxs.GetDatasetInfo("/processed/result_requested/data").Shape);
            Assert.Equal("1/nm", nxs.GetAttributeString("/processed/result_requested/radial", "units"));
            Assert.Equal("q_nm^-1", nxs.GetAttributeString("/processed/result_requested/radial", "unit"));
            Assert.Equal("no", nxs.ReadString("/processed/process/int_method"));
            Assert.Equal(
                Enumerable.Range(0, 5).Select(p => $"rep/{ChunkFileName.Format(acquisition, 1, p)}"),
                nxs.ReadStrings("/processed/process/files"));
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
        }

        Assert.Equal(originalHash, SHA256.HashData(await File.ReadAllBytesAsync(original).DefaultTimeout()));
        var unknown = await Assert.ThrowsAsync<RpcException>(() => Control.ReprocessAsync(new ReprocessRequest { Acquisition = "never_recorded" }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
    }

    // Every stage worker's status (live chain and reprocess pool), by instance name.
    private async Task<Dictionary<string, WorkerStatusReply>> WorkerStatusesAsync()
    {
        var statuses = new Dictionary<string, WorkerStatusReply>(StringComparer.Ordinal);
        foreach (var service in suite.Suite.Services.Where(s => s.Name is not ("broker" or "ingest")))
        {
            using var channel = GrpcChannel.ForAddress(service.Address);
            statuses[service.Name] = await new WorkerStatus.WorkerStatusClient(channel).GetStatusAsync(new WorkerStatusRequest()).ResponseAsync.DefaultTimeout();
        }

        return statuses;
    }
}
