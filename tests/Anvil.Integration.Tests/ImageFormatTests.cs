using System.Text.Json;
using Anvil.Hdf5;
using Anvil.Integration.Formats;
using Anvil.Testing;

namespace Anvil.Integration.Tests;

/// <summary>
/// The single-image detector readers against files fabio 0.14 (and h5py for Eiger master/data files) wrote:
/// tests/fixtures/images/make_images.py writes them with the pixels as fabio reads them back (.npy) and the header
/// values (expected.json). Every pixel of every frame is compared, as float64 and as float32. The bitshuffle-LZ4 Eiger
/// sets (eigerbs*, HDF5 filter 32008) have no reader here to check them: their .npy holds numpy's pixels as the script
/// encoded them with python3-lz4, compared also as integers, bit for bit.
/// </summary>
public sealed class ImageFormatTests
{
    private static readonly string Folder = Path.Combine(TestPaths.Fixtures, "images", "formats");

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json"))).RootElement;

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var file in Expected.GetProperty("files").EnumerateObject())
        {
            data.Add(file.Name);
        }

        return data;
    }

    [Fact]
    public void FixturesCoverEveryFormatAndTheAskedTypes()
    {
        var names = Expected.GetProperty("files").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal("0.14.0", Expected.GetProperty("fabio").GetString());
        foreach (var name in new[] { "tiff_uint16.tif", "tiff_uint32.tif", "tiff_float32.tif", "tiff_multipage.tif", "cbf_int32.cbf", "cbf_uint16.cbf", "edf_float64.edf", "edf_multiframe.edf", "eiger_master.h5" })
        {
            Assert.Contains(name, names);
        }

        Assert.Equal(10, names.Count(n => n.StartsWith("edf_", StringComparison.Ordinal) && !n.Contains("multi", StringComparison.Ordinal)));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryPixelEqualsFabios(string name)
    {
        var expected = Expected.GetProperty("files").GetProperty(name);
        var reference = NpyFile.Read(Path.Combine(Folder, name + ".npy"));
        var values = reference.ToDoubles();
        using var image = DetectorImageFile.Open(Path.Combine(Folder, name));
        Assert.Equal(expected.GetProperty("frames").GetInt32(), image.FrameCount);
        Assert.Equal([image.FrameCount, image.Rows, image.Cols], reference.Shape);
        var shape = expected.TryGetProperty("shape", out var given) ? (given[0].GetInt32(), given[1].GetInt32()) : (64, 80);
        Assert.Equal(shape, (image.Rows, image.Cols));
        Assert.Equal(expected.GetProperty("dtype").GetString(), image.PixelType.Name());
        var pixels = image.Rows * image.Cols;
        var asDouble = new double[pixels];
        var asFloat = new float[pixels];
        for (var f = 0; f < image.FrameCount; f++)
        {
            image.ReadFrame(f, asDouble.AsSpan());
            image.ReadFrame(f, asFloat.AsSpan());
            for (var k = 0; k < pixels; k++)
            {
                var want = values[(f * pixels) + k];
                if (image.Format != ImageFormat.Hdf5)
                {
                    // HDF5 frames come through libhdf5's float32 conversion; every other reader keeps float64 exact.
                    Assert.True(want == asDouble[k], $"{name} frame {f} pixel {k}: {asDouble[k]} read, fabio {want}");
                }

                Assert.True((float)want == asFloat[k], $"{name} frame {f} pixel {k}: {asFloat[k]} read as float32, fabio {(float)want}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void HeaderTimesAndExposureAreRead(string name)
    {
        var expected = Expected.GetProperty("files").GetProperty(name);
        using var image = DetectorImageFile.Open(Path.Combine(Folder, name));
        Assert.Equal(image.FrameCount, image.Frames.Count);
        if (expected.TryGetProperty("exposure_time", out var exposure))
        {
            Assert.Equal(exposure.GetDouble(), image.Metadata.ExposureTime);
        }

        if (expected.TryGetProperty("frame_period", out var period))
        {
            Assert.Equal(period.GetDouble(), image.Metadata.FramePeriod);
        }

        if (expected.TryGetProperty("detector", out var detector))
        {
            Assert.Equal(detector.GetString(), image.Metadata.Detector);
        }

        if (expected.TryGetProperty("timestamps", out var stamps))
        {
            var want = stamps.EnumerateArray().Select(s => s.GetString()).ToArray();
            Assert.Equal(want, image.Frames.Take(want.Length).Select(f => f.Timestamp).ToArray());
        }

        if (expected.TryGetProperty("frame_times", out var times))
        {
            Assert.Equal(times.EnumerateArray().Select(t => (double?)t.GetDouble()).ToArray(), image.Frames.Select(f => f.Time).ToArray());
        }
    }

    [Fact]
    public void PilatusAndEigerDetectorFieldsAreRead()
    {
        using var cbf = DetectorImageFile.Open(Path.Combine(Folder, "cbf_int32.cbf"));
        Assert.Equal(ImageFormat.Cbf, cbf.Format);
        Assert.Equal("Silicon", cbf.Metadata.Sensor);
        Assert.Equal(6000, cbf.Metadata.ThresholdEnergy);
        Assert.Equal(0.4, cbf.Metadata.Wavelength);
        Assert.Equal("1048575 counts", cbf.Metadata.Header["Count_cutoff"]);

        using var eiger = DetectorImageFile.Open(Path.Combine(Folder, "eiger_master.h5"));
        Assert.Equal("Si", eiger.Metadata.Sensor);
        Assert.Equal(6000, eiger.Metadata.ThresholdEnergy);
        Assert.Equal(0.4, eiger.Metadata.Wavelength);
        // Frame times from the frame period (the master records one start time): 0, 10, 20 ms.
        Assert.Equal([0.0, 0.01, 0.02], eiger.Frames.Select(f => f.Time!.Value).ToArray());

        // As the chain passes them on: the start (2026-12-06T13:00:00.000+01:00) plus each frame's time, since the epoch.
        var start = new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();
        Assert.Equal([start, start + 0.01, start + 0.02], Enumerable.Range(0, 3).Select(k => eiger.UnixTimeOf(k)!.Value).ToArray());
        Assert.Null(eiger.UnixTimeOf(3));

        using var tiff = DetectorImageFile.Open(Path.Combine(Folder, "tiff_multipage.tif"));
        Assert.Equal([0.0, 1.0, 2.0], tiff.Frames.Select(f => f.Time!.Value).ToArray());
        Assert.Equal("fabio.tifimage", tiff.Metadata.Header["Software"]);

        using var perkinElmer = DetectorImageFile.Open(Path.Combine(Folder, "tiff_uint16.tif"));
        Assert.Equal("PerkinElmer XRD 1621", perkinElmer.Metadata.Detector);
        Assert.Equal("0.25", perkinElmer.Metadata.Header["ExposureTime"]);
    }

    [Fact]
    public void UnsupportedCbfCompressionNamesTheFileAndTheCompression()
    {
        var path = Path.Combine(Folder, "cbf_packed.cbf");
        var error = Assert.Throws<FormatException>(() => DetectorImageFile.Open(path));
        Assert.StartsWith(path + ": CBF compression 'x-CBF_PACKED' is not supported", error.Message);
        Assert.Contains("x-CBF_BYTE_OFFSET", error.Message);
    }

    [Fact]
    public void DamagedCbfFailsItsChecksum()
    {
        var path = Path.Combine(Folder, "cbf_bad_md5.cbf");
        var error = Assert.Throws<FormatException>(() => DetectorImageFile.Open(path));
        Assert.StartsWith(path + ": CBF data damaged: its Content-MD5 is Z+u13Ip8yY6Oevhz5LN0+Q==", error.Message);
    }

    [Fact]
    public void TruncatedFilesFailClearly()
    {
        var dir = Directory.CreateTempSubdirectory("anvil-images-").FullName;
        try
        {
            foreach (var name in new[] { "tiff_uint16.tif", "cbf_int32.cbf", "edf_uint16.edf" })
            {
                var bytes = File.ReadAllBytes(Path.Combine(Folder, name));
                var cut = Path.Combine(dir, name);
                File.WriteAllBytes(cut, bytes[..(bytes.Length - 3000)]);
                var error = Assert.Throws<FormatException>(() =>
                {
                    using var image = DetectorImageFile.Open(cut);
                    image.ReadFrame(0, new float[image.Rows * image.Cols]);
                });
                Assert.StartsWith(cut + ": ", error.Message);
                Assert.Contains("truncated", error.Message, StringComparison.OrdinalIgnoreCase);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("eigerbs", 3)]
    [InlineData("eigerbs16", 2)]
    public void BitshuffleEigerChunksDecodeBitForBit(string name, int dataFiles)
    {
        // Chunks encoded by make_images.py with python3-lz4 and numpy; integers compared exactly (no float32 on the way).
        var reference = NpyFile.Read(Path.Combine(Folder, name + "_master.h5.npy"));
        var values = reference.ToDoubles();
        var pixels = reference.Shape[1] * reference.Shape[2];
        var frame = 0;
        for (var k = 1; k <= dataFiles; k++)
        {
            using var file = Hdf5File.OpenRead(Path.Combine(Folder, $"{name}_data_{k:D6}.h5"));
            var info = file.GetDatasetInfo("/entry/data/data");
            Assert.Equal([Bitshuffle.FilterId], info.Filters);
            var decoded = new byte[pixels * info.ElementSize];
            for (var f = 0; f < info.Shape[0]; f++, frame++)
            {
                var chunk = file.ReadStoredChunk("/entry/data/data", [(ulong)f, 0, 0]);
                Bitshuffle.DecodeChunk(chunk.Bytes, decoded, info.FilterParameters[0], info.ElementSize);
                for (var p = 0; p < pixels; p++)
                {
                    double got = info.ElementSize == 2 ? BitConverter.ToUInt16(decoded, 2 * p) : BitConverter.ToUInt32(decoded, 4 * p);
                    Assert.True(got == values[(frame * pixels) + p], $"{name} frame {frame} pixel {p}: {got}, numpy {values[(frame * pixels) + p]}");
                }
            }
        }

        Assert.Equal(reference.Shape[0], frame);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("length")]
    public void DamagedBitshuffleChunkFailsItsFrameAlone(string damage)
    {
        // A copy of eigerbs with frame 2 (data_000002's only chunk) damaged: cut short, or its first LZ4 block's length off by one.
        var dir = Directory.CreateTempSubdirectory("anvil-eigerbs-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(Folder, "eigerbs_*.h5"))
            {
                File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            }

            using (var data = Hdf5File.OpenReadWrite(Path.Combine(dir, "eigerbs_data_000002.h5")))
            {
                var chunk = data.ReadStoredChunk("/entry/data/data", [0, 0, 0]);
                var bytes = damage == "truncated" ? chunk.Bytes[..^100] : (byte[])chunk.Bytes.Clone();
                if (damage == "length")
                {
                    bytes[15]--;
                }

                data.WriteStoredChunks("/entry/data/data", [1, 64, 80], [chunk with { Bytes = bytes }]);
            }

            var master = Path.Combine(dir, "eigerbs_master.h5");
            using var image = DetectorImageFile.Open(master);
            Assert.Equal(4, image.FrameCount);
            var pixels = new float[image.Rows * image.Cols];
            image.ReadFrame(1, pixels);
            var error = Assert.Throws<Hdf5Exception>(() => image.ReadFrame(2, pixels));
            Assert.StartsWith(master + ":/entry/data/data_000002: frame 0's bitshuffle chunk is corrupt: ", error.Message);
            Assert.Contains(damage == "truncated" ? "LZ4 block 2" : "LZ4 block 0 (at byte 12 of the chunk)", error.Message);
            image.ReadFrame(3, pixels);
            var expected = NpyFile.Read(Path.Combine(Folder, "eigerbs_master.h5.npy")).ToDoubles();
            Assert.Equal(expected.Skip(3 * pixels.Length).Select(v => (float)v), pixels);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void MasksAndDarksLoadFromCbf()
    {
        var (rows, cols, pixels) = ImageFile.Load(Path.Combine(Folder, "cbf_uint16.cbf"));
        Assert.Equal((64, 80), (rows, cols));
        Assert.Equal(NpyFile.Read(Path.Combine(Folder, "cbf_uint16.cbf.npy")).ToDoubles().Select(v => (float)v), pixels);
    }
}
