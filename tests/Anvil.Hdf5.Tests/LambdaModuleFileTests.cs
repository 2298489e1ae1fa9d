namespace Anvil.Hdf5.Tests;

public sealed class LambdaModuleFileTests
{
    public static IEnumerable<object[]> Files => LambdaFixtures.FileNames;

    [Fact]
    public void Fixtures_AllFifteenModulePartsAreListed()
    {
        Assert.Equal(15, LambdaFixtures.All.Count);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Open_RealFixture_MetadataMatchesH5py(string name)
    {
        var reference = LambdaFixtures.All[name];
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf(name));

        Assert.Equal(reference.Shape, new[] { module.FrameCount, module.Rows, module.Cols });
        Assert.Equal(reference.SequenceNumber, module.SequenceNumbers);
        Assert.Equal(reference.Translation[0], module.TranslationX);
        Assert.Equal(reference.Translation[1], module.TranslationY);
        Assert.Equal(reference.Translation[2], module.TranslationZ);
        Assert.Equal("Lambda", module.Description);
        Assert.Equal(Hdf5ElementType.Int16, module.ElementType);
        Assert.True(module.UsesChunkFastPath);
    }

    [Theory]
    [InlineData("m1", 0f, 0f)]
    [InlineData("m2", -2f, 660f)]
    [InlineData("m3", -2f, 1317f)]
    public void Open_EachModule_HasItsKnownTranslation(string moduleName, float x, float y)
    {
        for (var part = 0; part < 5; part++)
        {
            using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf($"testasapo1_1009_00002_{moduleName}_part{part:D5}.nxs"));
            Assert.Equal((x, y, 0f), (module.TranslationX, module.TranslationY, module.TranslationZ));
        }
    }

    [Theory]
    [InlineData("m1")]
    [InlineData("m2")]
    [InlineData("m3")]
    public void SequenceNumbers_ContinueAcrossParts_OneBased(string moduleName)
    {
        var all = new List<int>();
        for (var part = 0; part < 5; part++)
        {
            using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf($"testasapo1_1009_00002_{moduleName}_part{part:D5}.nxs"));
            all.AddRange(module.SequenceNumbers);
        }

        Assert.Equal(Enumerable.Range(1, 50), all);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ReadFrame_RealFixture_SumsMatchH5pyAndFallback(string name)
    {
        var reference = LambdaFixtures.All[name];
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf(name));
        var fast = new short[module.Rows * module.Cols];
        var slow = new short[module.Rows * module.Cols];
        for (var k = 0; k < module.FrameCount; k++)
        {
            module.ReadFrame(k, fast);
            module.ReadFrameWithH5Dread(k, slow);

            Assert.Equal((reference.FrameSums[k], reference.ColWeightedSums[k], reference.RowWeightedSums[k]), LambdaFixtures.Sums(fast, module.Rows, module.Cols));
            Assert.True(fast.AsSpan().SequenceEqual(slow), $"{name} frame {k}: fast path and H5Dread differ");
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ReadFrame_RealFixture_ValuesAreTwelveBitAndMinusOneOnlyInGapColumns(string name)
    {
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf(name));
        var frame = new short[module.Rows * module.Cols];
        for (var k = 0; k < module.FrameCount; k++)
        {
            module.ReadFrame(k, frame);
            var bad = -1;
            for (var i = 0; i < frame.Length && bad < 0; i++)
            {
                var inGap = i % module.Cols is >= 772 and <= 781;
                if (frame[i] is < -1 or > 4095 || inGap != (frame[i] == -1))
                {
                    bad = i;
                }
            }

            Assert.True(bad < 0, $"{name} frame {k}: pixel (row {bad / module.Cols}, col {bad % module.Cols}) = {(bad < 0 ? 0 : frame[bad])}");
        }
    }

    [Fact]
    public void ReadFrame_IntoCanvas_PlacesModuleAndLeavesTheRestAlone()
    {
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf("testasapo1_1009_00002_m2_part00003.nxs"));
        var frame = new short[module.Rows * module.Cols];
        module.ReadFrame(4, frame);
        int canvasRows = module.Rows + 7, canvasCols = module.Cols + 5, rowOffset = 4, colOffset = 3;
        var canvas = new short[canvasRows * canvasCols];
        canvas.AsSpan().Fill(short.MinValue);

        module.ReadFrame(4, canvas, canvasCols, rowOffset, colOffset);

        for (var r = 0; r < canvasRows; r++)
        {
            for (var c = 0; c < canvasCols; c++)
            {
                var inside = r >= rowOffset && r < rowOffset + module.Rows && c >= colOffset && c < colOffset + module.Cols;
                var expected = inside ? frame[((r - rowOffset) * module.Cols) + c - colOffset] : short.MinValue;
                Assert.Equal(expected, canvas[(r * canvasCols) + c]);
            }
        }
    }

    [Fact]
    public void ReadFrame_CanvasTooSmall_Throws()
    {
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf("testasapo1_1009_00002_m1_part00000.nxs"));
        var canvas = new short[module.Rows * module.Cols];
        Assert.Throws<ArgumentException>(() => module.ReadFrame(0, canvas, module.Cols, 1, 0));
    }

    [Fact]
    public void ReadFrame_IndexOutOfRange_Throws()
    {
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf("testasapo1_1009_00002_m1_part00000.nxs"));
        var frame = new short[module.Rows * module.Cols];
        Assert.Throws<ArgumentOutOfRangeException>(() => module.ReadFrame(module.FrameCount, frame));
    }

    [Fact]
    public async Task ReadFrame_ManyThreads_SameResultAsOneThread()
    {
        var name = "testasapo1_1009_00002_m3_part00002.nxs";
        var reference = LambdaFixtures.All[name];
        using var module = LambdaModuleFile.Open(LambdaFixtures.PathOf(name));
        var tasks = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            var frame = new short[module.Rows * module.Cols];
            for (var round = 0; round < 3; round++)
            {
                for (var k = 0; k < module.FrameCount; k++)
                {
                    module.ReadFrame((k + t) % module.FrameCount, frame);
                    Assert.Equal(reference.FrameSums[(k + t) % module.FrameCount], LambdaFixtures.Sums(frame, module.Rows, module.Cols).Sum);
                }
            }
        }));

        await Task.WhenAll(tasks).DefaultTimeout();
    }

    [Fact]
    public async Task Open_FileHeldOpenByAWriterWithFileLock_ReadsFrames()
    {
        using var temp = new TempDirectory();
        var name = "testasapo1_1009_00002_m1_part00002.nxs";
        var path = temp.File(name);
        File.Copy(LambdaFixtures.PathOf(name), path);

        // A classic (non-SWMR) writer: h5py opens the file read-write with libhdf5's exclusive lock and keeps it open.
        using var writer = Python.Start("import h5py, sys; f = h5py.File(sys.argv[1], 'r+', locking=True); print('open', flush=True); sys.stdin.read()", [path], fileLocking: true);
        try
        {
            Assert.Equal("open", await writer.StandardOutput.ReadLineAsync().DefaultTimeout());

            using var module = LambdaModuleFile.Open(path);
            var frame = new short[module.Rows * module.Cols];
            module.ReadFrame(9, frame);

            Assert.Equal(LambdaFixtures.All[name].FrameSums[9], LambdaFixtures.Sums(frame, module.Rows, module.Cols).Sum);
        }
        finally
        {
            writer.StandardInput.Close();
            await writer.WaitForExitAsync().DefaultTimeout();
        }
    }

    [Fact]
    public void Open_MissingFile_ThrowsHdf5ExceptionNamingThePath()
    {
        using var temp = new TempDirectory();
        var path = temp.File("nope_m1_part00000.nxs");

        var ex = Assert.Throws<Hdf5Exception>(() => LambdaModuleFile.Open(path));

        Assert.Equal(path, ex.Path);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Open_TruncatedCopy_ThrowsHdf5ExceptionWithLibraryText()
    {
        using var temp = new TempDirectory();
        var source = File.ReadAllBytes(LambdaFixtures.PathOf("testasapo1_1009_00002_m1_part00000.nxs"));
        var path = temp.File("truncated.nxs");
        File.WriteAllBytes(path, source.AsSpan(0, source.Length / 3).ToArray());

        var ex = Assert.Throws<Hdf5Exception>(() =>
        {
            using var module = LambdaModuleFile.Open(path);
            var frame = new short[module.Rows * module.Cols];
            for (var k = 0; k < module.FrameCount; k++)
            {
                module.ReadFrame(k, frame);
            }
        });

        Assert.Contains(path, ex.Message);
        Assert.NotEmpty(ex.Message);
    }

    [Fact]
    public void Open_NotAnHdf5File_ThrowsHdf5ExceptionWithLibraryText()
    {
        using var temp = new TempDirectory();
        var path = temp.File("text.nxs");
        File.WriteAllText(path, "this is not HDF5");

        var ex = Assert.Throws<Hdf5Exception>(() => LambdaModuleFile.Open(path));

        Assert.Equal(path, ex.Path);
        Assert.Contains("signature", ex.Hdf5Error);
    }
}
