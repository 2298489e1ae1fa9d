using System.Text.Json;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// A suite configured with two Lambda 2M detectors (Pipeline:Detectors): <c>lambda1</c> with the real P02.2 PONI,
/// <c>lambda2</c> 20 % farther away with its beam centre elsewhere (<see cref="LambdaSimulator.DetectorGeometry"/>),
/// and ingest watching <c>data/watch</c>, where each detector's files are those under its own folder (its Pattern).
/// </summary>
public sealed class DetectorSuiteFixture : SuiteFixture
{
    public string SecondPoni => Path.Combine(WorkDir, "lambda2.poni");

    public string WatchFolder => Path.Combine(DataRoot, "watch");

    protected override void Configure(Dictionary<string, string> pipeline, Dictionary<string, string> environment)
    {
        environment["Ingest__Watch"] = WatchFolder;
        environment["Ingest__FinishAfterIdle"] = "00:00:02";
        pipeline["Detectors:lambda1:Pattern"] = "lambda1/*.nxs";
        pipeline["Detectors:lambda2:Pattern"] = "lambda2/*.nxs";
        Directory.CreateDirectory(WorkDir);
        File.WriteAllText(SecondPoni, PoniFile.Format(LambdaSimulator.DetectorGeometry(PoniFile.Load(Poni), 1), "test detector lambda2"));
        pipeline["Detectors:lambda1:Kind"] = "lambda2m";
        pipeline["Detectors:lambda1:Poni"] = Poni;
        pipeline["Detectors:lambda2:Kind"] = "Lambda2M";
        pipeline["Detectors:lambda2:Poni"] = SecondPoni;
    }
}

[CollectionDefinition(Name)]
public sealed class DetectorSuiteCollection : ICollectionFixture<DetectorSuiteFixture>
{
    public const string Name = "detectors";
}

[Collection(DetectorSuiteCollection.Name)]
public sealed class DetectorTests(DetectorSuiteFixture suite)
{
    [Fact]
    public async Task SimulateTwoDetectors_OneAcquisition_TwoFilesEachWithItsOwnRingsGeometryAndFrames()
    {
        const string acquisition = "e2e_two_00001";
        var first = PoniFile.Load(suite.Poni);
        var second = PoniFile.Load(suite.SecondPoni);
        SimulatedDetector[] detectors = [new("lambda1", first), new("lambda2", second)];
        var options = new SimulationOptions { Acquisition = acquisition, Frames = 30, FramesPerChunk = 10, Seed = 3 };
        var driven = await AcquisitionDriver.SimulateAsync(suite.Ingest, suite.DataRoot, detectors, options, TextWriter.Null, CancellationToken.None)
            .DefaultTimeout(TimeSpan.FromMinutes(5));
        Assert.Equal(60, driven.Frames);
        Assert.Equal(["e2e_two_00001_lambda1", "e2e_two_00001_lambda2"], driven.Acquisitions);

        foreach (var (name, geometry, poni) in new[] { ("lambda1", first, suite.Poni), ("lambda2", second, suite.SecondPoni) })
        {
            var result = await suite.WaitForResultAsync($"{acquisition}_{name}", TimeSpan.FromMinutes(5));
            using var nxs = Hdf5File.OpenRead(result);

            // Its own frames: 30, none failed, files from its own folder.
            Assert.Equal([30L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
            Assert.All(nxs.ReadStrings("/processed/process/files"), f => Assert.StartsWith(name + "/", f, StringComparison.Ordinal));

            // Its name and geometry.
            const string record = "/processed/process/detector";
            Assert.Equal(name, nxs.ReadString(record));
            Assert.Equal("lambda2m", nxs.GetAttributeString(record, "kind"));
            Assert.Equal(poni, nxs.GetAttributeString(record, "poni_file"));
            Assert.Equal(poni, nxs.ReadString("/processed/process/cal_file"));
            Assert.Equal(geometry.Distance, nxs.GetAttributeDouble(record, "distance_m"));
            Assert.Equal(geometry.Poni1, nxs.GetAttributeDouble(record, "poni1_m"));
            Assert.Equal(geometry.Poni2, nxs.GetAttributeDouble(record, "poni2_m"));
            Assert.Equal(geometry.Rot1, nxs.GetAttributeDouble(record, "rot1_rad"));
            Assert.Equal(geometry.Wavelength, nxs.GetAttributeDouble(record, "wavelength_m"));

            // Its radial range is its own geometry's (the 2θ its pixels see), and its rings sit where its own PONI puts them.
            var binning = nxs.ReadDataset<double>("/processed/result/binning");
            var tth = LambdaSimulator.TwoThetaDegrees(geometry, 1833, 1556);
            Assert.InRange(binning[0], tth.Min() - 0.05, tth.Min() + 0.05);
            Assert.InRange(binning[^1], tth.Max() - 0.05, tth.Max() + 0.05);
            AssertRingsAtTruth(nxs, binning, Path.Combine(suite.DataRoot, $"{acquisition}_{name}_truth.json"));
        }
    }

    [Fact]
    public async Task UpdateSettings_OneDetector_AppliesToThatDetectorOnly_AcquisitionOverDetectorOverConfiguration()
    {
        var control = new Control.ControlClient(suite.IngestChannel);
        var before = await control.GetSettingsAsync(new GetSettingsRequest { Detector = "lambda1" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(("lambda1", suite.Poni), (before.Detector, before.Poni));

        // The detector scope: lambda2 only.
        var changed = await control.UpdateSettingsAsync(new UpdateSettingsRequest { Detector = "lambda2", Npt = 1000 }).ResponseAsync.DefaultTimeout();
        Assert.Equal(("lambda2", "", 1000u, suite.SecondPoni), (changed.Detector, changed.Scope, changed.Npt, changed.Poni));
        Assert.True(changed.Version > 0);
        var lambda1 = await control.GetSettingsAsync(new GetSettingsRequest { Detector = "lambda1" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(before, lambda1);

        // The acquisition scope wins over the detector's, for that acquisition and detector only.
        var own = await control.UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = "e2e_scoped_00001", Detector = "lambda2", Npt = 1200 }).ResponseAsync.DefaultTimeout();
        Assert.Equal(("lambda2", "e2e_scoped_00001_lambda2", 1200u), (own.Detector, own.Scope, own.Npt));
        var asListed = await control.GetSettingsAsync(new GetSettingsRequest { Acquisition = "e2e_scoped_00001_lambda2" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(1200u, asListed.Npt);
        var otherAcquisition = await control.GetSettingsAsync(new GetSettingsRequest { Acquisition = "e2e_other_00001", Detector = "lambda2" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(1000u, otherAcquisition.Npt);
        var otherDetector = await control.GetSettingsAsync(new GetSettingsRequest { Acquisition = "e2e_scoped_00001", Detector = "lambda1" }).ResponseAsync.DefaultTimeout();
        Assert.Equal((uint)suite.Npt, otherDetector.Npt);

        // Real frames through both detectors after the change: lambda2's file has 1000 bins, lambda1's its configured count.
        const string acquisition = "e2e_perdet_00001";
        foreach (var detector in new[] { "lambda1", "lambda2" })
        {
            var folder = suite.CopyRealFrames(Path.Combine("perdet", detector), acquisition);
            await AnnounceRealAsync(acquisition, detector, folder);
        }

        foreach (var (detector, npt) in new[] { ("lambda1", suite.Npt), ("lambda2", 1000) })
        {
            using var nxs = Hdf5File.OpenRead(await suite.WaitForResultAsync($"{acquisition}_{detector}", TimeSpan.FromMinutes(5)));
            Assert.Equal([50L, npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Equal(detector, nxs.ReadString("/processed/process/detector"));
        }

        // A change for every detector applies to each from its own settings (lambda2 keeps its PONI).
        await control.UpdateSettingsAsync(new UpdateSettingsRequest { Method = Method.No }).ResponseAsync.DefaultTimeout();
        var after1 = await control.GetSettingsAsync(new GetSettingsRequest { Detector = "lambda1" }).ResponseAsync.DefaultTimeout();
        var after2 = await control.GetSettingsAsync(new GetSettingsRequest { Detector = "lambda2" }).ResponseAsync.DefaultTimeout();
        Assert.Equal((Method.No, suite.Poni, (uint)suite.Npt), (after1.Method, after1.Poni, after1.Npt));
        Assert.Equal((Method.No, suite.SecondPoni, 1000u), (after2.Method, after2.Poni, after2.Npt));

        // Put the detectors back as configured for the other tests (a new version with the configured values).
        await control.UpdateSettingsAsync(new UpdateSettingsRequest { Method = Method.Bbox }).ResponseAsync.DefaultTimeout();
        await control.UpdateSettingsAsync(new UpdateSettingsRequest { Detector = "lambda2", Npt = (uint)suite.Npt }).ResponseAsync.DefaultTimeout();
    }

    [Fact]
    public async Task Settings_BadDetector_InvalidArgumentNamingIt()
    {
        var control = new Control.ControlClient(suite.IngestChannel);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => control.UpdateSettingsAsync(new UpdateSettingsRequest { Detector = "lambda7", Npt = 900 }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Contains("'lambda7' is unknown", unknown.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("lambda1, lambda2", unknown.Status.Detail, StringComparison.Ordinal);

        var ambiguous = await Assert.ThrowsAsync<RpcException>(() => control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ambiguous.StatusCode);
        Assert.Contains("name one of lambda1, lambda2", ambiguous.Status.Detail, StringComparison.Ordinal);

        // A change bad for one detector changes none.
        var lambda1 = await control.GetSettingsAsync(new GetSettingsRequest { Detector = "lambda1" }).ResponseAsync.DefaultTimeout();
        var bad = await Assert.ThrowsAsync<RpcException>(() => control.UpdateSettingsAsync(new UpdateSettingsRequest { Npt = 1 }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("detector lambda1", bad.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(lambda1, await control.GetSettingsAsync(new GetSettingsRequest { Detector = "lambda1" }).ResponseAsync.DefaultTimeout());
    }

    [Fact]
    public async Task AnnounceChunk_UnknownDetectorOrWrongModules_InvalidArgumentNamingDetectorAndFile_TheOtherDetectorGoesOn()
    {
        const string acquisition = "e2e_unknown_00001";
        var folder = suite.CopyRealFrames(Path.Combine("unknown", "lambda1"), acquisition);
        var path = Path.Combine(folder, ChunkFileName.Format(acquisition, 1, 0));

        var unknown = await Assert.ThrowsAsync<RpcException>(() => Announce(acquisition, "lambda9", 1, 3, 0, path));
        Assert.Equal(StatusCode.InvalidArgument, unknown.StatusCode);
        Assert.Contains("detector 'lambda9'", unknown.Status.Detail, StringComparison.Ordinal);
        Assert.Contains($"unknown/lambda1/{acquisition}_m1_part00000.nxs", unknown.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("lambda1, lambda2", unknown.Status.Detail, StringComparison.Ordinal);

        var unnamed = await Assert.ThrowsAsync<RpcException>(() => Announce(acquisition, "", 1, 3, 0, path));
        Assert.Equal(StatusCode.InvalidArgument, unnamed.StatusCode);
        Assert.Contains("name one of lambda1, lambda2", unnamed.Status.Detail, StringComparison.Ordinal);

        var modules = await Assert.ThrowsAsync<RpcException>(() => Announce(acquisition, "lambda2", 1, 2, 0, path));
        Assert.Equal(StatusCode.InvalidArgument, modules.StatusCode);
        Assert.Contains("detector lambda2", modules.Status.Detail, StringComparison.Ordinal);
        Assert.Contains($"{acquisition}_m1_part00000.nxs", modules.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("3 module files per chunk part, not 2", modules.Status.Detail, StringComparison.Ordinal);

        // The run goes on: lambda1's chunks, with the refused ones in between, end in its file with every frame.
        await AnnounceRealAsync(acquisition, "lambda1", folder);
        using var nxs = Hdf5File.OpenRead(await suite.WaitForResultAsync($"{acquisition}_lambda1", TimeSpan.FromMinutes(5)));
        Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
        Assert.False(File.Exists(Path.Combine(suite.OutputDir, $"{acquisition}_lambda9.nxs")));
    }

    [Fact]
    public async Task Chunk_ModuleOfAnotherShape_FramesFailNamingDetectorAndFile()
    {
        // Part 1's module 2 is a 258 × 1554 file: not a Lambda 2M module. Its frames fail, named; the others are integrated.
        const string acquisition = "e2e_shape_00001";
        var folder = suite.CopyRealFrames(Path.Combine("shape", "lambda2"), acquisition);
        var wrong = Path.Combine(folder, ChunkFileName.Format(acquisition, 2, 1));
        File.Delete(wrong);
        using (var writer = LambdaModuleWriter.Create(wrong, 258, 1554, -2, 660))
        {
            var frame = new short[258 * 1554];
            for (var i = 0; i < 10; i++)
            {
                writer.AppendFrame(frame, 11 + i);
            }
        }

        await AnnounceRealAsync(acquisition, "lambda2", folder);
        using var nxs = Hdf5File.OpenRead(await suite.WaitForResultAsync($"{acquisition}_lambda2", TimeSpan.FromMinutes(5)));
        Assert.Equal(Enumerable.Range(11, 10).Select(f => (long)f), nxs.ReadDataset<long>("/processed/process/failed_frames"));
        var reason = nxs.ReadStrings("/processed/process/failed_reasons")[0];
        Assert.Contains($"{acquisition}_m2_part00001.nxs: frames are 258×1554, but detector lambda2 is a lambda2m with 516×1554 modules", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reprocess_DetectorsStream_NewNameKeepsTheDetector_OwnPoniNewSettings()
    {
        const string acquisition = "e2e_again_00001";
        await AnnounceRealAsync(acquisition, "lambda2", suite.CopyRealFrames(Path.Combine("again", "lambda2"), acquisition));
        await suite.WaitForResultAsync($"{acquisition}_lambda2", TimeSpan.FromMinutes(5));

        var reply = await new Control.ControlClient(suite.IngestChannel).ReprocessAsync(new ReprocessRequest
        {
            Acquisition = $"{acquisition}_lambda2",
            Settings = new UpdateSettingsRequest { Npt = 800 },
        }).ResponseAsync.DefaultTimeout();

        Assert.Equal(("e2e_again_00001_r1_lambda2", 5u, "lambda2", suite.SecondPoni, 800u), (reply.Acquisition, reply.Chunks, reply.Settings.Detector, reply.Settings.Poni, reply.Settings.Npt));
        using var nxs = Hdf5File.OpenRead(await suite.WaitForResultAsync(reply.Acquisition, TimeSpan.FromMinutes(5)));
        Assert.Equal([50L, 800], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Equal("lambda2", nxs.ReadString("/processed/process/detector"));
        Assert.Equal(PoniFile.Load(suite.SecondPoni).Distance, nxs.GetAttributeDouble("/processed/process/detector", "distance_m"));
    }

    [Fact]
    public async Task WatchMode_FilesInEachDetectorsFolder_AttributedByItsPattern_OthersLeftAlone()
    {
        // The same scan written by both detectors, each into its own folder; a third folder no pattern matches.
        const string acquisition = "e2e_watch_00001";
        suite.CopyRealFrames(Path.Combine("watch", "lambda1"), acquisition);
        suite.CopyRealFrames(Path.Combine("watch", "lambda2"), acquisition);
        suite.CopyRealFrames(Path.Combine("watch", "elsewhere"), "e2e_stray_00001");

        foreach (var detector in new[] { "lambda1", "lambda2" })
        {
            using var nxs = Hdf5File.OpenRead(await suite.WaitForResultAsync($"{acquisition}_{detector}", TimeSpan.FromMinutes(5)));
            Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Equal(detector, nxs.ReadString("/processed/process/detector"));
            Assert.All(nxs.ReadStrings("/processed/process/files"), f => Assert.StartsWith($"watch/{detector}/", f, StringComparison.Ordinal));
        }

        var streams = await new Control.ControlClient(suite.IngestChannel).ListAcquisitionsAsync(new ListAcquisitionsRequest()).ResponseAsync.DefaultTimeout();
        Assert.DoesNotContain(streams.Acquisitions, a => a.Acquisition.StartsWith("e2e_stray", StringComparison.Ordinal));
    }

    private async Task AnnounceRealAsync(string acquisition, string detector, string folder)
    {
        for (var part = 0; part < 5; part++)
        {
            for (var module = 1; module <= 3; module++)
            {
                await Announce(acquisition, detector, (uint)module, 3, (uint)part, Path.Combine(folder, ChunkFileName.Format(acquisition, module, part)));
            }
        }

        await suite.Ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Detector = detector, Parts = 5 }).ResponseAsync.DefaultTimeout();
    }

    private Task<AnnounceChunkReply> Announce(string acquisition, string detector, uint module, uint modules, uint part, string path) =>
        suite.Ingest.AnnounceChunkAsync(new AnnounceChunkRequest
        {
            Acquisition = acquisition,
            Detector = detector,
            Module = module,
            Modules = modules,
            Part = part,
            Path = path,
            Frames = 10,
        }).ResponseAsync.DefaultTimeout();

    // Every well-separated ring of frames 1, 15 and 30 within one bin of the simulator's truth.
    private void AssertRingsAtTruth(Hdf5File nxs, double[] binning, string truthPath)
    {
        var width = binning[1] - binning[0];
        var data = nxs.ReadDataset<float>("/processed/result/data");
        using var truth = JsonDocument.Parse(File.ReadAllText(truthPath));
        var frames = truth.RootElement.GetProperty("frames");
        var checkedRings = 0;
        foreach (var frame in new[] { 1, 15, 30 })
        {
            var row = data.AsSpan((frame - 1) * suite.Npt, suite.Npt);
            var reflections = frames[frame - 1].GetProperty("reflections").EnumerateArray().ToArray();
            foreach (var reflection in reflections)
            {
                var tth = reflection.GetProperty("two_theta_deg").GetDouble();
                if (reflection.GetProperty("amplitude").GetDouble() < 30 || tth < binning[0] + 0.2 || tth > binning[^1] - 0.2
                    || reflections.Count(r => Math.Abs(r.GetProperty("two_theta_deg").GetDouble() - tth) < 0.15) > 1)
                {
                    continue;
                }

                var best = -1;
                for (var i = 0; i < binning.Length; i++)
                {
                    if (Math.Abs(binning[i] - tth) <= 0.1 && (best < 0 || row[i] > row[best]))
                    {
                        best = i;
                    }
                }

                Assert.True(Math.Abs(binning[best] - tth) <= width, $"{truthPath} frame {frame} {reflection.GetProperty("hkl")}: peak at {binning[best]:F4}°, truth {tth:F4}°, bin {width:F4}°");
                checkedRings++;
            }
        }

        Assert.True(checkedRings >= 6, $"only {checkedRings} rings were checked in {nxs}");
    }
}
