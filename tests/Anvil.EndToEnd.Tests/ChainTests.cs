using System.Text.Json;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

[Collection(SuiteCollection.Name)]
public sealed class ChainTests(SuiteFixture suite)
{
    [Fact]
    public async Task Replay_RealLambdaFrames_WritesEveryFrameInOrderAsTheLibraryIntegratesIt()
    {
        // The 50 real P02.2 frames (3 modules × 5 parts), under a name of their own in this suite's data root.
        var folder = Path.Combine(suite.DataRoot, "real");
        RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, "testasapo1_1009_00002");

        var replayed = await AcquisitionDriver.ReplayAsync(suite.Ingest, folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
        Assert.Equal(50, replayed.Frames);
        var result = await suite.WaitForResultAsync("testasapo1_1009_00002");

        using var nxs = Hdf5File.OpenRead(result);
        Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Equal(suite.Poni, nxs.ReadString("/processed/process/cal_file"));
        Assert.Equal(
            Enumerable.Range(0, 5).Select(p => $"real/testasapo1_1009_00002_m1_part{p:D5}.nxs"),
            nxs.ReadStrings("/processed/process/files"));
        Assert.Equal([0L, 10, 20, 30, 40, 50], nxs.ReadDataset<long>("/processed/process/file_map"));
        var posMap = nxs.ReadDataset<long>("/processed/process/pos_map");
        Assert.Equal(Enumerable.Range(0, 50).SelectMany(f => new long[] { f / 10, f % 10 }), posMap);
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
        AssertEvenTwoThetaAxis(nxs.ReadDataset<double>("/processed/result/binning"));

        // Each frame's time: the detector's sequence number × its count time (100 ms, no delay, in these files).
        var time = nxs.ReadDataset<double>("/processed/result/time");
        Assert.All(Enumerable.Range(0, 50), f => Assert.Equal(f * 0.1, time[f], 12));
        Assert.Contains("count_time 100 ms + delay_time 0 ms", nxs.GetAttributeString("/processed/result/time", "source"), StringComparison.Ordinal);
        Assert.Equal("Lambda", nxs.ReadString("/processed/instrument/detector/description"));
        Assert.Equal("GaAs", nxs.ReadString("/processed/instrument/detector/sensor_material"));
        Assert.Equal(6000, nxs.ReadScalar<double>("/processed/instrument/detector/threshold_energy"));
        Assert.Equal("testasapo1_1009_00002", nxs.ReadString("/processed/entry_identifier"));
        var problems = NxdlCheck.Check(result, ResultFileWriter.Azint1dEntry, Path.Combine(TestPaths.Fixtures, "nexus", "NXazint1d.nxdl.xml"));
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));

        // Rows are frames in order: frame 1 and frame 50 equal what the libraries make of those frames directly.
        var data = nxs.ReadDataset<float>("/processed/result/data");
        foreach (var (frame, part, index) in new[] { (1, 0, 0), (37, 3, 6), (50, 4, 9) })
        {
            var expected = IntegrateDirectly(folder, part, index);
            var row = data.AsSpan((frame - 1) * suite.Npt, suite.Npt);
            Assert.Equal(expected, row.ToArray());
        }
    }

    [Fact]
    public async Task Simulate_CompressionRamp_RingsSitWithinOneBinOfTheTruth()
    {
        var acquisition = "e2e_ramp_00001";
        var options = new SimulationOptions { Acquisition = acquisition, Frames = 60, FramesPerChunk = 10, Seed = 7 };
        var folder = Path.Combine(suite.DataRoot, "sim");
        var driven = await AcquisitionDriver.SimulateAsync(suite.Ingest, folder, PoniFile.Load(suite.Poni), options, TextWriter.Null, CancellationToken.None)
            .DefaultTimeout(TimeSpan.FromMinutes(3));
        Assert.Equal(60, driven.Frames);
        var result = await suite.WaitForResultAsync(acquisition);

        using var nxs = Hdf5File.OpenRead(result);
        Assert.Equal([60L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
        var binning = nxs.ReadDataset<double>("/processed/result/binning");
        AssertEvenTwoThetaAxis(binning);
        var width = binning[1] - binning[0];
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.DoesNotContain(data, float.IsNaN);

        // The simulator's truth: each frame's reflections (gold marker moving up in 2θ, a new phase from mid-run).
        using var truth = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, acquisition + "_truth.json")).DefaultTimeout());
        var frames = truth.RootElement.GetProperty("frames");
        var checkedRings = 0;
        foreach (var frame in new[] { 1, 30, 45, 60 })
        {
            var row = data.AsSpan((frame - 1) * suite.Npt, suite.Npt);
            foreach (var reflection in frames[frame - 1].GetProperty("reflections").EnumerateArray())
            {
                var tth = reflection.GetProperty("two_theta_deg").GetDouble();
                if (reflection.GetProperty("amplitude").GetDouble() < 30 || tth < binning[0] + 0.2 || tth > binning[^1] - 0.2 || HasNeighbour(frames[frame - 1], tth))
                {
                    continue;
                }

                var peak = PeakPosition(binning, row, tth, 0.1);
                Assert.True(Math.Abs(peak - tth) <= width,
                    $"frame {frame} {reflection.GetProperty("phase")} {reflection.GetProperty("hkl")}: peak at {peak:F4}°, truth {tth:F4}°, bin {width:F4}°");
                checkedRings++;
            }
        }

        Assert.True(checkedRings >= 10, $"only {checkedRings} rings were checked");
        Assert.Equal(Enumerable.Range(0, 60).SelectMany(f => new long[] { f / 10, f % 10 }), nxs.ReadDataset<long>("/processed/process/pos_map"));
    }

    [Fact]
    public async Task Replay_CorruptModuleFile_FailsThatChunksFramesVisiblyAndFinishesTheRun()
    {
        // Same real data under another scan name; module 2 of part 2 truncated to half its size.
        var folder = suite.CopyRealFrames("corrupt", "corrupt_1009_00003");

        var victim = Path.Combine(folder, ChunkFileName.Format("corrupt_1009_00003", 2, 2));
        var bytes = await File.ReadAllBytesAsync(victim).DefaultTimeout();
        await File.WriteAllBytesAsync(victim, bytes[..(bytes.Length / 2)]).DefaultTimeout();

        await AcquisitionDriver.ReplayAsync(suite.Ingest, folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
        var result = await suite.WaitForResultAsync("corrupt_1009_00003");

        using var nxs = Hdf5File.OpenRead(result);
        Assert.Equal(Enumerable.Range(21, 10).Select(f => (long)f), nxs.ReadDataset<long>("/processed/process/failed_frames"));
        Assert.All(nxs.ReadStrings("/processed/process/failed_reasons"), reason => Assert.Contains("module 2", reason, StringComparison.Ordinal));
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.True(data.AsSpan(20 * suite.Npt, 10 * suite.Npt).ToArray().All(float.IsNaN), "failed frames read back as NaN rows");
        Assert.DoesNotContain(data.AsSpan(0, 20 * suite.Npt).ToArray(), float.IsNaN);
        Assert.DoesNotContain(data.AsSpan(30 * suite.Npt).ToArray(), float.IsNaN);
    }

    [Fact]
    public async Task Announce_MissingAndTruncatedModuleFiles_FailTheirFramesNamingTheFileWithoutWaitingOutTheTimeout()
    {
        // Issue 15 item 6: a missing module file took a run from 7 s to 48 s, since stitch waited ChunkReadableTimeout
        // (20 s, the default this suite runs with) for each damaged file. Module 2 of part 1 is missing, module 3 of part 3
        // truncated; files that stay so for ChunkSettleTime (2 s) fail their frames, with reasons naming them.
        const string acquisition = "damaged_1009_00007";
        var folder = suite.CopyRealFrames("damaged", acquisition);
        var missing = Path.Combine(folder, ChunkFileName.Format(acquisition, 2, 1));
        var truncated = Path.Combine(folder, ChunkFileName.Format(acquisition, 3, 3));
        File.Delete(missing);
        using (var stream = new FileStream(truncated, FileMode.Open))
        {
            stream.SetLength(stream.Length / 2);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await suite.AnnounceAsync(acquisition, folder, [0, 1, 2, 3, 4]);
        await suite.Ingest.FinishAcquisitionAsync(new Anvil.Pipeline.V1.FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
        var result = await suite.WaitForResultAsync(acquisition);
        var elapsed = clock.Elapsed;

        using var nxs = Hdf5File.OpenRead(result);
        var failed = nxs.ReadDataset<long>("/processed/process/failed_frames");
        var reasons = nxs.ReadStrings("/processed/process/failed_reasons");
        Assert.Equal(Enumerable.Range(11, 10).Concat(Enumerable.Range(31, 10)).Select(f => (long)f), failed);
        Assert.All(reasons.Take(10), r => Assert.Contains($"module 2 (damaged/{Path.GetFileName(missing)}): no such file", r, StringComparison.Ordinal));
        Assert.All(reasons.Skip(10), r => Assert.Contains($"module 3 (damaged/{Path.GetFileName(truncated)}):", r, StringComparison.Ordinal));
        Assert.All(reasons.Skip(10), r => Assert.Contains("damaged or incomplete", r, StringComparison.Ordinal));
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.DoesNotContain(data.AsSpan(0, 10 * suite.Npt).ToArray(), float.IsNaN);
        Assert.DoesNotContain(data.AsSpan(20 * suite.Npt, 10 * suite.Npt).ToArray(), float.IsNaN);
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"the acquisition took {elapsed.TotalSeconds:0.0} s: a damaged file must not cost the 20 s ChunkReadableTimeout");
    }

    [Fact]
    public async Task Announce_ModuleFileWrittenAfterItsAnnouncement_IsWaitedForAndIntegrated()
    {
        // The other side of the rule: a file announced before it is visible or complete (a network file system, a writer
        // still closing it) is read once it is there, as long as it keeps changing. Module 1 of part 0 appears 1 s after
        // its announcement (half the settle time) and then grows in steps for 3 s more (longer than the settle time).
        const string acquisition = "late_1009_00008";
        var folder = suite.CopyRealFrames("late", acquisition);
        var late = Path.Combine(folder, ChunkFileName.Format(acquisition, 1, 0));
        var bytes = await File.ReadAllBytesAsync(late).DefaultTimeout();
        File.Delete(late);

        var writing = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            await using var stream = new FileStream(late, FileMode.CreateNew, FileAccess.Write);
            const int Steps = 6;
            for (var step = 1; step <= Steps; step++)
            {
                var from = bytes.Length * (step - 1) / Steps;
                await stream.WriteAsync(bytes.AsMemory(from, (bytes.Length * step / Steps) - from));
                await stream.FlushAsync();
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        });
        await suite.AnnounceAsync(acquisition, folder, [0, 1, 2, 3, 4]);
        await suite.Ingest.FinishAcquisitionAsync(new Anvil.Pipeline.V1.FinishAcquisitionRequest { Acquisition = acquisition, Parts = 5 }).ResponseAsync.DefaultTimeout();
        await writing.DefaultTimeout();
        var result = await suite.WaitForResultAsync(acquisition);

        using var nxs = Hdf5File.OpenRead(result);
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
        Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
    }

    [Fact]
    public async Task Replay_ModuleFileOfAnotherShape_FailsThatChunksFramesWithTheReasonInsteadOfWrongRows()
    {
        // Same real data; module 2 of part 2 rewritten with only its first 1000 columns (issue 15: integrated into wrong
        // rows and reported as good before).
        const string acquisition = "shape_1009_00006";
        var folder = suite.CopyRealFrames("shape", acquisition);

        var victim = Path.Combine(folder, ChunkFileName.Format(acquisition, 2, 2));
        var original = Path.Combine(TestPaths.LambdaFixtures, ChunkFileName.Format("testasapo1_1009_00002", 2, 2));
        File.Delete(victim);
        using (var source = LambdaModuleFile.Open(original))
        using (var narrow = LambdaModuleWriter.Create(victim, source.Rows, 1000, source.TranslationX, source.TranslationY))
        {
            var frame = new short[source.Rows * source.Cols];
            var cut = new short[source.Rows * 1000];
            for (var i = 0; i < source.FrameCount; i++)
            {
                source.ReadFrame(i, frame);
                for (var r = 0; r < source.Rows; r++)
                {
                    frame.AsSpan(r * source.Cols, 1000).CopyTo(cut.AsSpan(r * 1000));
                }

                narrow.AppendFrame(cut, source.SequenceNumbers[i]);
            }
        }

        await AcquisitionDriver.ReplayAsync(suite.Ingest, folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
        var result = await suite.WaitForResultAsync(acquisition);

        using var nxs = Hdf5File.OpenRead(result);
        Assert.Equal(Enumerable.Range(21, 10).Select(f => (long)f), nxs.ReadDataset<long>("/processed/process/failed_frames"));
        Assert.All(nxs.ReadStrings("/processed/process/failed_reasons"), reason => Assert.Contains("516×1000", reason, StringComparison.Ordinal));
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.True(data.AsSpan(20 * suite.Npt, 10 * suite.Npt).ToArray().All(float.IsNaN), "failed frames read back as NaN rows");
        Assert.DoesNotContain(data.AsSpan(30 * suite.Npt).ToArray(), float.IsNaN);
    }

    private static bool HasNeighbour(JsonElement frame, double tth) =>
        frame.GetProperty("reflections").EnumerateArray().Count(r => Math.Abs(r.GetProperty("two_theta_deg").GetDouble() - tth) < 0.15) > 1;

    private static double PeakPosition(double[] axis, ReadOnlySpan<float> row, double around, double window)
    {
        var best = -1;
        for (var i = 0; i < axis.Length; i++)
        {
            if (Math.Abs(axis[i] - around) <= window && (best < 0 || row[i] > row[best]))
            {
                best = i;
            }
        }

        return axis[best];
    }

    private static void AssertEvenTwoThetaAxis(double[] binning)
    {
        var step = binning[1] - binning[0];
        Assert.True(step > 0);
        for (var i = 1; i < binning.Length; i++)
        {
            Assert.Equal(step, binning[i] - binning[i - 1], 1e-9);
        }

        Assert.InRange(binning[0], 5, 40);
    }

    // What the chain must produce for one frame: the same libraries, called directly, as integrate is configured.
    private float[] IntegrateDirectly(string folder, int part, int index)
    {
        using var chunk = LambdaChunk.Open(folder, "testasapo1_1009_00002", part);
        var plan = chunk.Plan;
        Assert.Equal((1833, 1556), (plan.Rows, plan.Cols));
        using var engine = IntegrationEngine.Build(PoniFile.Load(suite.Poni), plan.Rows, plan.Cols, plan.GapMask(), new IntegrationSettings
        {
            Npt = suite.Npt,
            Method = SplitMethod.BBox,
            PolarizationFactor = 0.99,
            ExcludeNegative = true,
        });
        var result = engine.CreateResult();
        engine.Integrate<short>(chunk.Stitch(index, new short[plan.Rows * plan.Cols]), result);
        return result.Intensity;
    }
}
