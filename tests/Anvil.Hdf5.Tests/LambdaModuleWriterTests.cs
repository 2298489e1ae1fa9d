using System.Diagnostics;
using System.Text.Json;

namespace Anvil.Hdf5.Tests;

public sealed class LambdaModuleWriterTests
{
    private const string Source = "testasapo1_1009_00002_m2_part00001.nxs";

    [Fact]
    public void AppendFrame_RealFrames_ReadBackIdenticallyWithMetadata()
    {
        using var temp = new TempDirectory();
        var path = temp.File("sim_00001_m2_part00000.nxs");
        var frames = ReadSourceFrames(out var rows, out var cols, out var sequence);

        using (var writer = LambdaModuleWriter.Create(path, rows, cols, -2f, 660f, new LambdaWriterOptions { FramesRequested = 50 }))
        {
            for (var k = 0; k < frames.Length; k++)
            {
                writer.AppendFrame(frames[k], sequence[k]);
            }

            Assert.Equal(frames.Length, writer.FrameCount);
        }

        using var module = LambdaModuleFile.Open(path);
        Assert.Equal((frames.Length, rows, cols), (module.FrameCount, module.Rows, module.Cols));
        Assert.Equal((-2f, 660f, 0f), (module.TranslationX, module.TranslationY, module.TranslationZ));
        Assert.Equal(sequence, module.SequenceNumbers);
        Assert.Equal("Lambda", module.Description);
        Assert.True(module.UsesChunkFastPath);
        var fast = new short[rows * cols];
        var slow = new short[rows * cols];
        for (var k = 0; k < frames.Length; k++)
        {
            module.ReadFrame(k, fast);
            module.ReadFrameWithH5Dread(k, slow);
            Assert.True(frames[k].AsSpan().SequenceEqual(fast), $"frame {k} differs (fast path)");
            Assert.True(frames[k].AsSpan().SequenceEqual(slow), $"frame {k} differs (H5Dread)");
        }
    }

    [Fact]
    public void AppendFrame_H5pySeesTheDetectorLayout()
    {
        using var temp = new TempDirectory();
        var path = temp.File("sim_00001_m3_part00000.nxs");
        var frames = ReadSourceFrames(out var rows, out var cols, out var sequence);
        using (var writer = LambdaModuleWriter.Create(path, rows, cols, -2f, 1317f, new LambdaWriterOptions { FramesRequested = 50 }))
        {
            for (var k = 0; k < 3; k++)
            {
                writer.AppendFrame(frames[k], sequence[k]);
            }
        }

        var json = Python.Run(
            """
            import h5py, json, sys, numpy as n
            f = h5py.File(sys.argv[1], "r"); d = f["entry/instrument/detector"]; x = d["data"]
            print(json.dumps({
              "classes": [f.attrs["NX_class"], f["entry"].attrs["NX_class"], f["entry/instrument"].attrs["NX_class"], d.attrs["NX_class"], d["translation"].attrs["NX_class"], d["collection"].attrs["NX_class"]],
              "dtype": str(x.dtype), "shape": list(x.shape), "chunks": list(x.chunks), "maxshape": [m if m is not None else -1 for m in x.maxshape],
              "compression": x.compression, "level": x.compression_opts,
              "sums": [int(x[k].astype(n.int64).sum()) for k in range(x.shape[0])],
              "sequence": d["sequence_number"][()].tolist(), "sequence_dtype": str(d["sequence_number"].dtype),
              "translation": d["translation/distance"][()].tolist(), "translation_dtype": str(d["translation/distance"].dtype),
              "translation_units": d["translation/distance"].attrs["units"],
              "description": d["description"][0].decode(), "x_pixel_size": float(d["x_pixel_size"][0]), "pixel_units": d["x_pixel_size"].attrs["units"],
              "count_time": float(d["count_time"][0]), "frame_numbers": int(d["collection/frame_numbers"][0]),
              "error_code": d["collection/error_code"][()].tolist(), "layout": d["layout"][0].decode(),
              "sensor": d["sensor_material"][0].decode(), "threshold": [str(d["threshold_energy"].dtype), float(d["threshold_energy"][0]), d["threshold_energy"].attrs["units"]],
              "beam_energy": float(d["collection/beam_energy"][0]), "delay_time": float(d["collection/delay_time"][0]), "mode": d["acquisition_mode"][0].decode()}))
            """,
            path);
        var result = JsonDocument.Parse(json).RootElement;

        Assert.Equal(["NXroot", "NXentry", "NXinstrument", "NXdetector", "NXtranslation", "NXcollection"], Strings(result, "classes"));
        Assert.Equal("int16", result.GetProperty("dtype").GetString());
        Assert.Equal([3, rows, cols], Ints(result, "shape"));
        Assert.Equal([1, rows, cols], Ints(result, "chunks"));
        Assert.Equal([-1, rows, cols], Ints(result, "maxshape"));
        Assert.Equal("gzip", result.GetProperty("compression").GetString());
        Assert.Equal(2, result.GetProperty("level").GetInt32());
        Assert.Equal(frames.Take(3).Select(f => LambdaFixtures.Sums(f, rows, cols).Sum), result.GetProperty("sums").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(sequence.Take(3), Ints(result, "sequence"));
        Assert.Equal("int32", result.GetProperty("sequence_dtype").GetString());
        Assert.Equal([-2.0, 1317.0, 0.0], result.GetProperty("translation").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal("float32", result.GetProperty("translation_dtype").GetString());
        Assert.Equal("pixel", result.GetProperty("translation_units").GetString());
        Assert.Equal("Lambda", result.GetProperty("description").GetString());
        Assert.Equal(55.0, result.GetProperty("x_pixel_size").GetDouble());
        Assert.Equal("micrometer", result.GetProperty("pixel_units").GetString());
        Assert.Equal(100.0, result.GetProperty("count_time").GetDouble());
        Assert.Equal(50, result.GetProperty("frame_numbers").GetInt32());
        Assert.Equal([0, 0, 0], Ints(result, "error_code"));
        Assert.Equal($"{cols}X{rows}", result.GetProperty("layout").GetString());

        // The detector's own metadata, with the P02.2 fixture's values, types and units.
        Assert.Equal("GaAs", result.GetProperty("sensor").GetString());
        Assert.Equal(["float32", "6000.0", "eV"], result.GetProperty("threshold").EnumerateArray().Select(e => e.ToString()));
        Assert.Equal(12000.0, result.GetProperty("beam_energy").GetDouble());
        Assert.Equal(0.0, result.GetProperty("delay_time").GetDouble());
        Assert.Equal("ContinuousReadWrite", result.GetProperty("mode").GetString());
    }

    [Fact]
    public void AppendFrame_Uncompressed_ReadsBackThroughFastPath()
    {
        using var temp = new TempDirectory();
        var path = temp.File("raw.nxs");
        var frame = Enumerable.Range(0, 6 * 10).Select(i => (short)((i * 37 % 4096) - 1)).ToArray();
        using (var writer = LambdaModuleWriter.Create(path, 6, 10, 0f, 0f, new LambdaWriterOptions { CompressionLevel = 0 }))
        {
            writer.AppendFrame(frame, 7);
        }

        using var module = LambdaModuleFile.Open(path);
        var back = new short[frame.Length];
        module.ReadFrame(0, back);
        Assert.True(module.UsesChunkFastPath);
        Assert.Equal(frame, back);
        Assert.Equal([7], module.SequenceNumbers);
    }

    [Fact]
    public void AppendFrame_AfterFlush_VisibleToAReaderWhileTheWriterIsOpen()
    {
        using var temp = new TempDirectory();
        var path = temp.File("growing.nxs");
        var frame = Enumerable.Range(0, 4 * 5).Select(i => (short)i).ToArray();
        using var writer = LambdaModuleWriter.Create(path, 4, 5, 0f, 0f);
        writer.AppendFrame(frame, 1);
        writer.AppendFrame(frame, 2);
        writer.Flush();

        var json = Python.Run("import h5py, sys; d = h5py.File(sys.argv[1], 'r')['entry/instrument/detector']; print(d['data'].shape[0], int(d['data'][1].sum()), list(d['sequence_number'][()]))", path);

        Assert.Equal($"2 {frame.Sum(v => v)} [1, 2]", json.Trim());
    }

    [Fact]
    public void AppendFrame_WrongSize_Throws()
    {
        using var temp = new TempDirectory();
        using var writer = LambdaModuleWriter.Create(temp.File("w.nxs"), 4, 5, 0f, 0f);
        Assert.Throws<ArgumentException>(() => writer.AppendFrame(new short[19], 1));
    }

    [Fact]
    public void AppendFrame_FullSizeFrames_ReportsRate()
    {
        using var temp = new TempDirectory();
        var frames = ReadSourceFrames(out var rows, out var cols, out _);
        using var writer = LambdaModuleWriter.Create(temp.File("rate.nxs"), rows, cols, 0f, 0f);
        var watch = Stopwatch.StartNew();
        for (var k = 0; k < 20; k++)
        {
            writer.AppendFrame(frames[k % frames.Length], k + 1);
        }

        Assert.Equal(20, writer.FrameCount);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"20 frames took {watch.Elapsed}");
    }

    private static short[][] ReadSourceFrames(out int rows, out int cols, out int[] sequence)
    {
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf(Source));
        rows = module.Rows;
        cols = module.Cols;
        sequence = module.SequenceNumbers;
        var frames = new short[module.FrameCount][];
        for (var k = 0; k < frames.Length; k++)
        {
            frames[k] = new short[rows * cols];
            module.ReadFrame(k, frames[k]);
        }

        return frames;
    }

    private static string[] Strings(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetString()!).ToArray();

    private static int[] Ints(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetInt32()).ToArray();
}
