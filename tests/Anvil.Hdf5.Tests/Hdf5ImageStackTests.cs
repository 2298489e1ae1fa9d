namespace Anvil.Hdf5.Tests;

public sealed class Hdf5ImageStackTests
{
    private const int Frames = 3, Rows = 20, Cols = 33;

    /// <summary>
    /// One file, several encodings of the same pattern v(k, r, c) = (k·131 + r·7 + c·3) mod 5000, minus 100 for signed
    /// types: each dataset exercises a different path (shuffle + gzip, float gzip, big-endian, contiguous, multi-frame chunks).
    /// </summary>
    private const string MakeStacks =
        """
        import h5py, sys, numpy as n
        k, r, c = n.meshgrid(n.arange(3), n.arange(20), n.arange(33), indexing="ij")
        v = (k * 131 + r * 7 + c * 3) % 5000
        with h5py.File(sys.argv[1], "w") as f:
            f.attrs["default"] = "scan"
            e = f.create_group("scan"); e.attrs["NX_class"] = "NXentry"; e.attrs["default"] = "images"
            g = e.create_group("images"); g.attrs["NX_class"] = "NXdata"; g.attrs["signal"] = "shuffled"
            g.create_dataset("shuffled", data=(v - 100).astype("<i4"), chunks=(1, 20, 33), shuffle=True, compression="gzip", compression_opts=6)
            g.create_dataset("floats", data=((v - 100) * 0.5).astype("<f4"), chunks=(1, 20, 33), compression="gzip")
            g.create_dataset("bigendian", data=v.astype(">u2"), chunks=(1, 20, 33), compression="gzip")
            g.create_dataset("contiguous", data=(v % 256).astype("u1"))
            g.create_dataset("multiframe", data=(v - 100).astype("<i8"), chunks=(2, 10, 33), compression="gzip")
            g.create_dataset("doubles", data=((v - 100) * 0.25).astype("<f8"), chunks=(1, 20, 33), compression="gzip", shuffle=True)
            m = g.create_dataset("masked", shape=(3, 20, 33), dtype="<i2", chunks=(1, 20, 33), compression="gzip")
            m[0] = v[0] - 100; m[2] = v[2] - 100
            # Frame 1 stored raw with the deflate filter marked as skipped (filter mask bit 0), as HDF5 allows.
            m.id.write_direct_chunk((1, 0, 0), (v[1] - 100).astype("<i2").tobytes(), filter_mask=1)
            f.create_dataset("aaa/decoy", data=n.zeros((2, 2, 2), "f4"))
        """;

    private static float Expected(string dataset, int k, int r, int c)
    {
        var v = ((k * 131) + (r * 7) + (c * 3)) % 5000;
        return dataset switch
        {
            "shuffled" or "multiframe" or "masked" => v - 100,
            "floats" => (v - 100) * 0.5f,
            "doubles" => (v - 100) * 0.25f,
            "bigendian" => v,
            "contiguous" => v % 256,
            _ => throw new ArgumentException(dataset),
        };
    }

    [Theory]
    [InlineData("shuffled", Hdf5ElementType.Int32, true)]
    [InlineData("floats", Hdf5ElementType.Float32, true)]
    [InlineData("doubles", Hdf5ElementType.Float64, true)]
    [InlineData("bigendian", Hdf5ElementType.UInt16, false)]
    [InlineData("contiguous", Hdf5ElementType.UInt8, false)]
    [InlineData("multiframe", Hdf5ElementType.Int64, false)]
    [InlineData("masked", Hdf5ElementType.Int16, true)]
    public void ReadFrame_EachEncoding_ReturnsThePattern(string dataset, Hdf5ElementType type, bool fastPath)
    {
        using var temp = new TempDirectory();
        var path = temp.File("stacks.h5");
        Python.Run(MakeStacks, path);

        using var stack = Hdf5ImageStack.Open(path, $"/scan/images/{dataset}");

        Assert.Equal((Frames, Rows, Cols), ((int)stack.FrameCount, stack.Rows, stack.Cols));
        Assert.Equal(type, stack.ElementType);
        Assert.Equal(fastPath, stack.UsesChunkFastPath);
        var frame = new float[Rows * Cols];
        for (var k = Frames - 1; k >= 0; k--)
        {
            stack.ReadFrame(k, frame);
            for (var i = 0; i < frame.Length; i++)
            {
                Assert.Equal(Expected(dataset, k, i / Cols, i % Cols), frame[i]);
            }
        }
    }

    [Fact]
    public void Open_NoDatasetGiven_FollowsTheNexusDefaultPastADecoy()
    {
        using var temp = new TempDirectory();
        var path = temp.File("stacks.h5");
        Python.Run(MakeStacks, path);

        using var stack = Hdf5ImageStack.Open(path);

        Assert.Equal("/scan/images/shuffled", stack.DatasetPath);
    }

    [Fact]
    public void Open_LambdaModule_FindsDetectorDataAndMatchesModuleReader()
    {
        var path = LambdaFixtures.PathOf("testasapo1_1009_00002_m3_part00004.nxs");
        using var stack = Hdf5ImageStack.Open(path);
        using var module = LambdaModuleFile.Open(path);

        Assert.Equal(LambdaModuleFile.DataPath, stack.DatasetPath);
        Assert.True(stack.UsesChunkFastPath);
        var floats = new float[stack.Rows * stack.Cols];
        var shorts = new short[module.Rows * module.Cols];
        for (var k = 0; k < module.FrameCount; k++)
        {
            stack.ReadFrame(k, floats);
            module.ReadFrame(k, shorts);
            Assert.Equal(shorts.Select(s => (float)s), floats);
        }
    }

    [Fact]
    public void Open_FirstThreeDimensionalDataset_WhenNothingElseMatches()
    {
        using var temp = new TempDirectory();
        var path = temp.File("plain.h5");
        using (var file = Hdf5File.Create(path))
        {
            file.WriteDataset("/a/vector", new[] { 1f, 2f });
            file.WriteDataset<ushort>("/b/frames", [1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], deflateLevel: 1);
        }

        using var stack = Hdf5ImageStack.Open(path);

        Assert.Equal("/b/frames", stack.DatasetPath);
        var frame = new float[4];
        stack.ReadFrame(1, frame);
        Assert.Equal([5f, 6f, 7f, 8f], frame);
    }

    [Fact]
    public void Open_EntryDataData_IsPreferredOverOtherStacks()
    {
        using var temp = new TempDirectory();
        var path = temp.File("entry.h5");
        using (var file = Hdf5File.Create(path))
        {
            file.WriteDataset<short>("/a/first", new short[8], [2, 2, 2]);
            file.WriteDataset<int>("/entry/data/data", [1, 2, 3, 4, 5, 6], [2, 3]);
        }

        using var stack = Hdf5ImageStack.Open(path);

        Assert.Equal("/entry/data/data", stack.DatasetPath);
        Assert.Equal((1L, 2, 3), (stack.FrameCount, stack.Rows, stack.Cols));
        var frame = new float[6];
        stack.ReadFrame(0, frame);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], frame);
    }

    [Fact]
    public void Open_NoImages_ThrowsHdf5Exception()
    {
        using var temp = new TempDirectory();
        var path = temp.File("none.h5");
        using (var file = Hdf5File.Create(path))
        {
            file.WriteDataset("/x", new[] { 1.0 });
        }

        var ex = Assert.Throws<Hdf5Exception>(() => Hdf5ImageStack.Open(path));
        Assert.Contains("no image stack", ex.Message);
    }

    [Fact]
    public void Open_BitshuffleLz4_DecodesEveryFrameAsNumpyWroteIt()
    {
        // Frames encoded by python3-lz4 + numpy's bit transpose (Fixtures/make_bitshuffle_fixture.py), reference uncompressed.
        var path = BitshuffleTests.FixturePath;
        short[] reference;
        using (var file = Hdf5File.OpenRead(path))
        {
            reference = file.ReadDataset<short>("/reference/data");
        }

        const int Pixels = 9 * 13;
        using var module = LambdaModuleFile.Open(path);
        using var stack = Hdf5ImageStack.Open(path);
        Assert.Equal(3, module.FrameCount);
        Assert.True(stack.UsesChunkFastPath);
        var shorts = new short[Pixels];
        var floats = new float[Pixels];
        for (var k = 0; k < 3; k++)
        {
            module.ReadFrame(k, shorts);
            Assert.Equal(reference.AsSpan(k * Pixels, Pixels).ToArray(), shorts);
            stack.ReadFrame(k, floats);
            Assert.Equal(reference.AsSpan(k * Pixels, Pixels).ToArray().Select(v => (float)v), floats);
        }

        // The same frames bitshuffled without compression (cd_values[4] = 0, 32-element blocks).
        using var plain = Hdf5ImageStack.Open(path, "/other/plain");
        for (var k = 0; k < 3; k++)
        {
            plain.ReadFrame(k, floats);
            Assert.Equal(reference.AsSpan(k * Pixels, Pixels).ToArray().Select(v => (float)v), floats);
        }
    }

    [Theory]
    [InlineData("/other/zstd", 32008, "HDF5 filter 32008 (bitshuffle-LZ4), which is not supported: its blocks are compressed with Zstandard (cd_values[4] = 3)")]
    [InlineData("/other/image2d", 32008, "HDF5 filter 32008 (bitshuffle-LZ4), which is not supported: Anvil decodes bitshuffle only in little-endian frame stacks stored one frame per chunk")]
    [InlineData("/other/unknown", 32999, "HDF5 filter 32999 (unregistered filter), which is not supported: Anvil decodes deflate, shuffle and bitshuffle-LZ4, and the installed libhdf5 has no plugin")]
    public void Open_FilterNeitherAnvilNorLibhdf5Decodes_IsNamed(string dataset, int filter, string message)
    {
        var ex = Assert.Throws<Hdf5UnsupportedFilterException>(() => Hdf5ImageStack.Open(BitshuffleTests.FixturePath, dataset));
        Assert.Equal(filter, ex.FilterId);
        Assert.StartsWith($"{BitshuffleTests.FixturePath}:{dataset} is compressed with ", ex.Message);
        Assert.Contains(message, ex.Message);
    }

    // A whole dataset read at once (a mask, dark or flat given as file.h5::/path) names the filter the same way, instead of
    // libhdf5's "can't open plugin".
    [Theory]
    [InlineData("/other/image2d", 32008, "Anvil decodes bitshuffle only in little-endian frame stacks stored one frame per chunk")]
    [InlineData("/other/unknown", 32999, "the installed libhdf5 has no plugin")]
    public void ReadDataset_FilterNeitherAnvilNorLibhdf5Decodes_IsNamed(string dataset, int filter, string message)
    {
        using var file = Hdf5File.OpenRead(BitshuffleTests.FixturePath);
        var ex = Assert.Throws<Hdf5UnsupportedFilterException>(() => file.ReadDataset<double>(dataset));
        Assert.Equal(filter, ex.FilterId);
        Assert.Contains($"{dataset} is compressed with HDF5 filter {filter}", ex.Message);
        Assert.Contains(message, ex.Message);
    }
}
