using Anvil.Hdf5;
using Anvil.Hosting;

namespace Anvil.Pipeline.Tests;

/// <summary>The NeXus result file merge writes: DIOPTAS's layout, frame order, settings segments, no overwrite.</summary>
public sealed class ResultFileWriterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("anvil-result-").FullName;

    [Fact]
    public void Complete_FramesOutOfOrder_RowsInFrameOrderAndDioptasMaps()
    {
        var path = Path.Combine(folder, "acq.nxs");
        using (var writer = ResultFileWriter.Create(path))
        {
            foreach (var frame in new[] { 3, 1, 4, 2 })
            {
                writer.Write(Frame(frame, Axis(5, 10.0), "h1"));
            }

            Assert.False(File.Exists(path), "the final name appears only when complete");
            Assert.Equal(path, writer.Complete(4, new ResultMetadata("/cal/L2.poni", "bbox", "2th_deg", 5)));
        }

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([4L, 5], nxs.GetDatasetInfo("/processed/result/data").Shape);
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.Equal([1f, 2, 3, 4], Enumerable.Range(0, 4).Select(r => data[r * 5]));
        Assert.Equal("/cal/L2.poni", nxs.ReadString("/processed/process/cal_file"));
        Assert.Equal(["m1_0.nxs", "m1_1.nxs"], nxs.ReadStrings("/processed/process/files"));
        Assert.Equal([0L, 2, 4], nxs.ReadDataset<long>("/processed/process/file_map"));
        Assert.Equal([0L, 0, 0, 1, 1, 0, 1, 1], nxs.ReadDataset<long>("/processed/process/pos_map"));
        Assert.Equal("deg", nxs.GetAttributeString("/processed/result/binning", "units"));
        Assert.False(nxs.Exists("/processed/result_2"));
    }

    [Fact]
    public void Complete_AxisChangedMidRun_LatestSegmentIsTheResultAndEarlierOneKeptWithNaNElsewhere()
    {
        var path = Path.Combine(folder, "changed.nxs");
        using (var writer = ResultFileWriter.Create(path))
        {
            writer.Write(Frame(1, Axis(5, 10.0), "old"));
            writer.Write(Frame(2, Axis(5, 10.0), "old"));
            writer.Write(Frame(4, Axis(3, 12.0), "new"));
            writer.Write(Frame(3, Axis(3, 12.0), "new"));
            Assert.Equal(2, writer.SegmentCount);
            Assert.Contains("\"new\"", writer.LatestSettingsJson, StringComparison.Ordinal);
            writer.Complete(4, new ResultMetadata("p", "no", "2th_deg", 3));
        }

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([4L, 3], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Equal([4L, 5], nxs.GetDatasetInfo("/processed/result_2/data").Shape);
        Assert.Equal(Axis(3, 12.0), nxs.ReadDataset<double>("/processed/result/binning"));
        var latest = nxs.ReadDataset<float>("/processed/result/data");
        var earlier = nxs.ReadDataset<float>("/processed/result_2/data");
        Assert.All(latest.AsSpan(0, 6).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.Equal([3f, 4f], new[] { latest[6], latest[9] });
        Assert.Equal([1f, 2f], new[] { earlier[0], earlier[5] });
        Assert.All(earlier.AsSpan(10).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.Equal(["old", "old", "new", "new"], nxs.ReadStrings("/processed/process/settings_hash"));
        Assert.Equal("{\"s\":\"new\"}", nxs.ReadString("/processed/process/settings/new"));
    }

    [Fact]
    public void Complete_FinalNameTaken_WritesANumberedVariantAndLeavesTheEarlierFile()
    {
        var path = Path.Combine(folder, "taken.nxs");
        File.WriteAllText(path, "earlier result");
        using (var writer = ResultFileWriter.Create(path))
        {
            writer.Write(Frame(1, Axis(2, 1.0), "h"));
            Assert.Equal(Path.Combine(folder, "taken_2.nxs"), writer.Complete(1, new ResultMetadata("p", "no", "2th_deg", 2)));
        }

        Assert.Equal("earlier result", File.ReadAllText(path));
    }

    [Fact]
    public void Complete_FailedAndMissingFrames_RecordedAndReadAsNaN()
    {
        var path = Path.Combine(folder, "failed.nxs");
        using (var writer = ResultFileWriter.Create(path))
        {
            writer.Write(Frame(1, Axis(2, 1.0), "h"));
            writer.Write(new FrameResult(2, 0, 1, "m1_0.nxs", "", "", null, null, "module 2: truncated"));
            writer.Complete(3, new ResultMetadata("p", "no", "2th_deg", 2));
        }

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([2L], nxs.ReadDataset<long>("/processed/process/failed_frames"));
        Assert.Equal(["module 2: truncated"], nxs.ReadStrings("/processed/process/failed_reasons"));
        Assert.Equal([3L], nxs.ReadDataset<long>("/processed/process/missing_frames"));
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.True(data.AsSpan(2).ToArray().All(float.IsNaN));
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);

    // Issue 15, defect 1: on a full disk merge used to rename a file it could not write into place, so a result that
    // cannot be opened looked finished. Now the failure is kept, Complete throws, and neither the final file nor the
    // partial one is left.
    [Fact]
    public void Complete_DiskFullWhileWriting_ThrowsAndLeavesNoFileUnderAnyName()
    {
        using var disk = FullDisk.Mount(megabytes: 4);
        disk.Fill(bytesLeft: 32 * 1024);
        var path = Path.Combine(disk.Path, "acq.nxs");
        var axis = Axis(2000, 5.0);

        using (var writer = ResultFileWriter.Create(path))
        {
            for (var frame = 1; frame <= 50; frame++)
            {
                writer.Write(Noisy(frame, axis));
            }

            var ex = Assert.ThrowsAny<Exception>(() => writer.Complete(50, new ResultMetadata("/cal/L2.poni", "bbox", "2th_deg", 2000)));
            Assert.True(ex is IOException or Hdf5Exception, ex.ToString());
            Assert.Contains(".acq.nxs.partial", ex.Message, StringComparison.Ordinal);
            Assert.Contains("No space left on device", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal([".filler"], Directory.GetFiles(disk.Path).Select(Path.GetFileName));
        Assert.DoesNotContain(new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos(),
            fd => fd.LinkTarget?.StartsWith(disk.Path, StringComparison.Ordinal) == true && !fd.LinkTarget.EndsWith(".filler", StringComparison.Ordinal));

        // With the space back, the same frames make a whole file.
        disk.MakeRoom();
        using (var writer = ResultFileWriter.Create(path))
        {
            for (var frame = 1; frame <= 50; frame++)
            {
                writer.Write(Noisy(frame, axis));
            }

            Assert.Null(writer.WriteFailure);
            Assert.Equal(path, writer.Complete(50, new ResultMetadata("/cal/L2.poni", "bbox", "2th_deg", 2000)));
        }

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([50L, 2000], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
    }

    // Rows that do not compress away, so the file needs real space.
    private static FrameResult Noisy(int frame, double[] axis)
    {
        var random = new Random(frame);
        var intensity = Enumerable.Range(0, axis.Length).Select(_ => (float)random.NextDouble()).ToArray();
        var curve = new CurveRow(axis, intensity, intensity, intensity);
        return new FrameResult(frame, 0, frame - 1, "m1_0.nxs", "h1", "{\"s\":\"h1\"}", curve, null);
    }

    private static double[] Axis(int npt, double start) => Enumerable.Range(0, npt).Select(i => start + (0.5 * i)).ToArray();

    private static FrameResult Frame(int frame, double[] axis, string hash)
    {
        var intensity = Enumerable.Repeat((float)frame, axis.Length).ToArray();
        var curve = new CurveRow(axis, intensity, intensity, intensity);
        return new FrameResult(frame, (frame - 1) / 2, (frame - 1) % 2, $"m1_{(frame - 1) / 2}.nxs", hash, $"{{\"s\":\"{hash}\"}}", curve, null);
    }
}
