using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>`anvil integrate` in-process on the real Lambda chunks: no services involved.</summary>
public sealed class IntegrateCommandTests : IDisposable
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-integrate-");

    [Fact]
    public async Task Integrate_LambdaModuleOneFiles_StitchesSiblingsAndWritesEveryFrame()
    {
        var lambda = TestPaths.LambdaFixtures;
        var m1 = new[] { 0, 1 }.Select(p => Path.Combine(lambda, $"testasapo1_1009_00002_m1_part{p:D5}.nxs")).ToArray();
        var mask = Path.Combine(lambda, "l2_l1_synrh9_150m_200ms_850c_oscillation_00001_m2.mask");
        var poni = Path.Combine(lambda, "L2.poni");
        var outPath = Path.Combine(work.FullName, "out.nxs");
        const int npt = 400;
        var line = new CommandLine([.. m1, "--poni", poni, "--mask", mask, "--npt", $"{npt}", "--method", "no", "--unit", "q_nm^-1", "--out", outPath],
            new HashSet<string>());
        var exit = await IntegrateCommand.RunAsync(line, TextWriter.Null, CancellationToken.None).DefaultTimeout();
        Assert.Equal(0, exit);

        using var nxs = Hdf5File.OpenRead(outPath);
        Assert.Equal([20L, npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Equal([20L, npt], nxs.GetDatasetInfo("/processed/result_requested/data").Shape);
        Assert.Equal(m1, nxs.ReadStrings("/processed/process/files"));
        Assert.Equal([0L, 10, 20], nxs.ReadDataset<long>("/processed/process/file_map"));
        Assert.Equal(Enumerable.Range(0, 20).SelectMany(f => new long[] { f / 10, f % 10 }), nxs.ReadDataset<long>("/processed/process/pos_map"));
        Assert.Equal("no", nxs.ReadString("/processed/process/int_method"));
        Assert.Equal("q_nm^-1", nxs.ReadString("/processed/process/int_unit"));
        var hashes = nxs.ReadStrings("/processed/process/settings_hash");
        Assert.Single(hashes.Distinct());
        Assert.Contains("\"unit\":\"q_nm^-1\"", nxs.ReadString($"/processed/process/settings/{hashes[0]}"), StringComparison.Ordinal);

        // Independent check of stitching and exclusion: with no splitting, Σ count over bins of frame f is the
        // number of kept pixels — module pixels ≥ 0 landing on canvas pixels the DIOPTAS mask leaves open.
        var counts = nxs.ReadDataset<float>("/processed/result/count");
        var userMask = MaskFile.Load(mask);
        foreach (var (part, index) in new[] { (0, 0), (1, 3) })
        {
            using var chunk = LambdaChunk.Open(lambda, "testasapo1_1009_00002", part);
            var plan = chunk.Plan;
            long kept = 0;
            for (var m = 0; m < chunk.Files.Length; m++)
            {
                var frame = chunk.ReadModule(m, index);
                var p = plan.Placements[m];
                for (var r = 0; r < p.Rows; r++)
                {
                    for (var c = 0; c < p.Cols; c++)
                    {
                        if (frame[(r * p.Cols) + c] >= 0 && userMask.Data[(plan.CanvasRow(m, r) * plan.Cols) + p.ColOffset + c] == 0)
                        {
                            kept++;
                        }
                    }
                }
            }

            var row = (part * 10) + index;
            var total = counts.AsSpan(row * npt, npt).ToArray().Sum(v => (double)v);
            Assert.Equal(kept, total);
        }
    }

    /// <summary>
    /// bbox frames go four to a pass (10 frames a chunk: passes of 4, 4 and 2): every row must equal the frame stitched
    /// here and integrated alone by an engine built the same way.
    /// </summary>
    [Fact]
    public async Task Integrate_BBoxFramesInPasses_EachRowEqualsThatFrameAlone()
    {
        var lambda = TestPaths.LambdaFixtures;
        var m1 = Path.Combine(lambda, "testasapo1_1009_00002_m1_part00000.nxs");
        var mask = Path.Combine(lambda, "l2_l1_synrh9_150m_200ms_850c_oscillation_00001_m2.mask");
        var poni = Path.Combine(lambda, "L2.poni");
        var outPath = Path.Combine(work.FullName, "bbox.nxs");
        const int npt = 300;
        var line = new CommandLine([m1, "--poni", poni, "--mask", mask, "--npt", $"{npt}", "--method", "bbox", "--threads", "2", "--out", outPath],
            new HashSet<string>());
        Assert.Equal(0, await IntegrateCommand.RunAsync(line, TextWriter.Null, CancellationToken.None).DefaultTimeout());

        using var nxs = Hdf5File.OpenRead(outPath);
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.Equal(10 * npt, data.Length);
        using var chunk = LambdaChunk.Open(lambda, "testasapo1_1009_00002", 0);
        var plan = chunk.Plan;
        var settings = new IntegrationSettings { Npt = npt, Method = SplitMethod.BBox, ExcludeNegative = true };
        using var engine = IntegrationEngine.Build(PoniFile.Load(poni), plan.Rows, plan.Cols, MaskFile.Combine(plan.GapMask(), mask, plan.Rows, plan.Cols), settings);
        var canvas = new short[plan.Rows * plan.Cols];
        var result = engine.CreateResult();
        for (var index = 0; index < 10; index++)
        {
            engine.Integrate<short>(chunk.Stitch(index, canvas), result);
            Assert.Equal(result.Intensity, data.AsSpan(index * npt, npt).ToArray());
        }
    }

    /// <summary>A dark image changes the numbers, so it changes the settings hash and is named in the recorded settings.</summary>
    [Fact]
    public async Task Integrate_WithDark_HashTracksTheDarkImage()
    {
        var lambda = TestPaths.LambdaFixtures;
        var m1 = Path.Combine(lambda, "testasapo1_1009_00002_m1_part00000.nxs");
        var poni = Path.Combine(lambda, "L2.poni");
        StitchPlan plan;
        using (var chunk = LambdaChunk.Open(lambda, "testasapo1_1009_00002", 0))
        {
            plan = chunk.Plan;
        }

        async Task<(string Hash, string Json, float[] Data)> Run(string name, float? darkLevel)
        {
            var args = new List<string> { m1, "--poni", poni, "--npt", "300", "--method", "bbox", "--out", Path.Combine(work.FullName, $"{name}.nxs") };
            if (darkLevel is { } level)
            {
                var dark = Path.Combine(work.FullName, $"{name}.npy");
                WriteNpy(dark, plan.Rows, plan.Cols, level);
                args.AddRange(["--dark", dark]);
            }

            var exit = await IntegrateCommand.RunAsync(new CommandLine([.. args], new HashSet<string>()), TextWriter.Null, CancellationToken.None).DefaultTimeout();
            Assert.Equal(0, exit);
            using var nxs = Hdf5File.OpenRead(Path.Combine(work.FullName, $"{name}.nxs"));
            var hash = Assert.Single(nxs.ReadStrings("/processed/process/settings_hash").Distinct());
            return (hash, nxs.ReadString($"/processed/process/settings/{hash}"), nxs.ReadDataset<float>("/processed/result/data"));
        }

        var none = await Run("none", null);
        var one = await Run("one", 1f);
        var two = await Run("two", 2f);
        Assert.Equal(3, new[] { none.Hash, one.Hash, two.Hash }.Distinct().Count());
        Assert.DoesNotContain("\"dark\"", none.Json, StringComparison.Ordinal);
        Assert.Contains("one.npy", one.Json, StringComparison.Ordinal);
        Assert.NotEqual(none.Data, one.Data);
    }

    private static void WriteNpy(string path, int rows, int cols, float value)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}";
        header = header.PadRight((((header.Length + 11) / 64) + 1) * 64 - 11) + "\n";
        using var f = File.Create(path);
        f.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        f.Write(BitConverter.GetBytes((ushort)header.Length));
        f.Write(System.Text.Encoding.ASCII.GetBytes(header));
        var row = new byte[cols * 4];
        for (var c = 0; c < cols; c++)
        {
            BitConverter.TryWriteBytes(row.AsSpan(c * 4), value);
        }

        for (var r = 0; r < rows; r++)
        {
            f.Write(row);
        }
    }

    [Fact]
    public void MaskFile_Hdf5Dataset_MatchesTheSameMaskAsNpy()
    {
        var npy = Path.Combine(TestPaths.Fixtures, "pyfai", "small_mask.npy");
        var expected = MaskFile.Load(npy);
        var h5 = Path.Combine(work.FullName, "mask.h5");
        using (var file = Hdf5File.Create(h5))
        {
            // Stored as uint8 with 0/7 values: any non-zero value masks.
            var values = Array.ConvertAll(expected.Data, v => (byte)(v * 7));
            file.WriteDataset<byte>("/entry/mask", values, [expected.Rows, expected.Cols]);
        }

        var loaded = MaskFile.Load($"{h5}::/entry/mask", expected.Rows, expected.Cols);
        Assert.Equal(expected.Data, loaded);
        Assert.Contains(loaded, v => v == 1);
        var wrongShape = Assert.Throws<InvalidDataException>(() => MaskFile.Load($"{h5}::/entry/mask", expected.Cols, expected.Rows));
        Assert.Contains("give a mask made for this detector", wrongShape.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Integrate_UnknownMethod_FailsWithUsage()
    {
        var line = new CommandLine(["x.nxs", "--poni", "p.poni", "--method", "splitpixel", "--out", "o.nxs"], new HashSet<string>());
        var ex = await Assert.ThrowsAsync<UsageException>(() => IntegrateCommand.RunAsync(line, TextWriter.Null, CancellationToken.None)).DefaultTimeout();
        Assert.Contains("no, bbox or full", ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => work.Delete(recursive: true);
}
