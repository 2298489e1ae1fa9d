namespace Anvil.Integration.Tests;

/// <summary>
/// Several frames per call (<see cref="IntegrationEngine.Integrate{T}(ReadOnlySpan{ReadOnlyMemory{T}}, ReadOnlySpan{IntegrationResult}, ReadOnlySpan{float}, ReadOnlySpan{float})"/>):
/// each frame's result must equal the single-frame call's bit for bit, whatever the batch size, thread count, pixel
/// type or excluded pixels, and the steady state must allocate nothing.
/// </summary>
public class BatchTests
{
    /// <summary>Distinct frames: the case's frame with other values, and some frames with excluded (−1) pixels (the only excluded values).</summary>
    private static short[][] Frames(double[] pixels, int count, bool withExcluded)
    {
        var frames = new short[count][];
        for (var f = 0; f < count; f++)
        {
            var frame = new short[pixels.Length];
            for (var i = 0; i < frame.Length; i++)
            {
                // Kept values only (0…4000), so the −1s below are the only excluded ones, as in Lambda frames.
                frame[i] = (short)(((Math.Abs((long)pixels[i]) * (f + 1)) + (i % (7 + f))) % 4001);
            }

            // Excluded pixels in frames 1, 3, 5, …, at places that differ from frame to frame.
            if (withExcluded && f % 2 == 1)
            {
                for (var k = f * 13; k < frame.Length; k += 89 + f)
                {
                    frame[k] = -1;
                }
            }

            frames[f] = frame;
        }

        return frames;
    }

    private static void AssertSameBits(IntegrationResult expected, IntegrationResult actual, string what)
    {
        Assert.True(expected.SumSignal.AsSpan().SequenceEqual(actual.SumSignal), $"{what}: Σ signal differs");
        Assert.True(expected.SumVariance.AsSpan().SequenceEqual(actual.SumVariance), $"{what}: Σ variance differs");
        Assert.True(expected.SumNormalization.AsSpan().SequenceEqual(actual.SumNormalization), $"{what}: Σ norm differs");
        Assert.True(expected.Count.AsSpan().SequenceEqual(actual.Count), $"{what}: count differs");
        Assert.True(expected.Intensity.AsSpan().SequenceEqual(actual.Intensity), $"{what}: intensity differs");
        Assert.True(expected.Sigma.AsSpan().SequenceEqual(actual.Sigma), $"{what}: sigma differs");
        Assert.True(expected.Radial.AsSpan().SequenceEqual(actual.Radial), $"{what}: radial differs");
    }

    [Theory]
    [InlineData("tilted_bbox_q_nm", 4, 1, true)]
    [InlineData("tilted_bbox_q_nm", 9, 2, true)]
    [InlineData("centred_full_2th_deg", 2, 2, true)]
    [InlineData("centred_full_2th_deg", 3, 1, false)]
    [InlineData("tilted_full_q_nm", 5, 2, true)]
    [InlineData("lambda_bbox_2th_deg", 4, 2, true)]
    [InlineData("lambda_full_2th_deg", 6, 2, false)]
    [InlineData("tilted_no_q_nm", 4, 2, true)]
    [InlineData("lambda_no_2th_deg", 5, 1, true)]
    public void Integrate_SeveralInt16Frames_SameBitsAsOneByOne(string name, int count, int threads, bool withExcluded)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = true, Threads = threads };
        var frames = Frames(pixels, count, withExcluded);
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        // Machines of this kind have AVX-512, so the four-frame kernel is what is compared; elsewhere the call goes frame by frame.
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512BW.IsSupported && System.Runtime.Intrinsics.X86.Avx512F.IsSupported, engine.BatchVectorised);

        var batch = frames.Select(_ => engine.CreateResult()).ToArray();
        engine.Integrate<short>([.. frames.Select(f => (ReadOnlyMemory<short>)f)], batch);
        for (var f = 0; f < count; f++)
        {
            var single = engine.CreateResult();
            engine.Integrate<short>(frames[f], single);
            AssertSameBits(single, batch[f], $"frame {f} of {count}");
            Assert.Contains(single.Count, n => n > 0);
        }
    }

    /// <summary>
    /// Out-of-range values only where the mask keeps the matrix from reading (as Lambda's −1 gap pixels): the pass needs
    /// no per-value test there, and every frame still equals the single-frame call, which equals the frame without them.
    /// </summary>
    [Theory]
    [InlineData("tilted_bbox_q_nm")]
    [InlineData("lambda_full_2th_deg")]
    public void Integrate_ExcludedValuesOnlyInMaskedPixels_SameBitsAsOneByOne(string name)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var mask = PyFaiCases.Mask(c);
        Assert.Contains(mask, m => m != 0);
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = true, Threads = 2 };
        var clean = Frames(pixels, 4, withExcluded: false);
        var gapped = clean.Select(f => f.Select((v, i) => mask[i] != 0 ? (short)-1 : v).ToArray()).ToArray();
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, mask, settings);
        var batch = gapped.Select(_ => engine.CreateResult()).ToArray();
        engine.Integrate<short>([.. gapped.Select(f => (ReadOnlyMemory<short>)f)], batch);
        for (var f = 0; f < gapped.Length; f++)
        {
            AssertSameBits(Single(engine, gapped[f]), batch[f], $"frame {f}");
            AssertSameBits(Single(engine, clean[f]), batch[f], $"frame {f} without the masked values");
        }
    }

    private static IntegrationResult Single(IntegrationEngine engine, short[] frame)
    {
        var result = engine.CreateResult();
        engine.Integrate<short>(frame, result);
        return result;
    }

    /// <summary>
    /// A 37 × 123 detector: its last band has 5 rows (615 pixels), so the interleave pass ends in a scalar tail of 7
    /// pixels. An excluded value only there, in one frame of three, must still reach the range test: for signed frames
    /// below 0, for signed frames with negatives kept (range from −32768) at saturation, for unsigned frames above
    /// 32,767.
    /// </summary>
    [Theory]
    [InlineData(true, true, null, (short)-1)]
    [InlineData(true, false, 3000.0, (short)3100)]
    [InlineData(false, false, 60000.0, unchecked((short)61000))]
    public void Integrate_ExcludedValueInTheLastBandsTail_SameBitsAsOneByOne(bool signed, bool excludeNegative, double? saturation, short excluded)
    {
        const int rows = 37, cols = 123;
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = excludeNegative, SaturationValue = saturation, Npt = 50, Threads = 2 };
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, [], settings);
        var random = new Random(3);
        var frames = new short[3][];
        for (var f = 0; f < frames.Length; f++)
        {
            // In range for every rule: 0…2999, with some negatives where they are kept.
            frames[f] = [.. Enumerable.Range(0, rows * cols).Select(_ => (short)random.Next(excludeNegative || !signed ? 0 : -200, 3000))];
        }

        frames[1][(rows * cols) - 3] = excluded;
        var batch = frames.Select(_ => engine.CreateResult()).ToArray();
        var singles = new IntegrationResult[frames.Length];
        if (signed)
        {
            engine.Integrate<short>([.. frames.Select(f => (ReadOnlyMemory<short>)f)], batch);
            for (var f = 0; f < frames.Length; f++)
            {
                singles[f] = Single(engine, frames[f]);
            }
        }
        else
        {
            var unsigned = frames.Select(f => Array.ConvertAll(f, v => unchecked((ushort)v))).ToArray();
            engine.Integrate<ushort>([.. unsigned.Select(f => (ReadOnlyMemory<ushort>)f)], batch);
            for (var f = 0; f < frames.Length; f++)
            {
                singles[f] = engine.CreateResult();
                engine.Integrate<ushort>(unsigned[f], singles[f]);
            }
        }

        for (var f = 0; f < frames.Length; f++)
        {
            AssertSameBits(singles[f], batch[f], $"frame {f}");
        }

        // The excluded pixel is in a bin: frame 1 counts less there than frame 0, which has it.
        Assert.Contains(Enumerable.Range(0, 50), b => singles[1].Count[b] < singles[0].Count[b]);
    }

    /// <summary>
    /// One excluded value in one of four frames, inside an 8-pixel step of the interleave pass that crosses a row
    /// boundary (37 × 123 detector: pixels 120…127 are columns 120–122 of row 0 and 0–4 of row 1): the group reading it
    /// must take the checking kernel, whichever frame and column.
    /// </summary>
    [Theory]
    [InlineData(0, 121)]
    [InlineData(1, 122)]
    [InlineData(2, 124)]
    [InlineData(3, 127)]
    [InlineData(3, 1000)]
    public void Integrate_OneExcludedValueInOneFrame_SameBitsAsOneByOne(int frameWithIt, int pixel)
    {
        const int rows = 37, cols = 123;
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = true, Npt = 300, Threads = 2 };
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, [], settings);
        var random = new Random(pixel);
        var frames = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, rows * cols).Select(_ => (short)random.Next(0, 3000)).ToArray()).ToArray();
        frames[frameWithIt][pixel] = -1;
        var batch = frames.Select(_ => engine.CreateResult()).ToArray();
        engine.Integrate<short>([.. frames.Select(f => (ReadOnlyMemory<short>)f)], batch);
        for (var f = 0; f < frames.Length; f++)
        {
            AssertSameBits(Single(engine, frames[f]), batch[f], $"frame {f}");
        }

        var clean = (short[])frames[frameWithIt].Clone();
        clean[pixel] = 7;
        Assert.Contains(Enumerable.Range(0, settings.Npt), b => Single(engine, clean).Count[b] > batch[frameWithIt].Count[b]);
    }

    /// <summary>Unsigned frames (values above 32,767, a saturation rule) take the same kernel with zero extension.</summary>
    [Fact]
    public void Integrate_SeveralUInt16Frames_SameBitsAsOneByOne()
    {
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var settings = PyFaiCases.Settings(c) with { SaturationValue = 60000 };
        var frames = new ushort[3][];
        for (var f = 0; f < frames.Length; f++)
        {
            frames[f] = new ushort[pixels.Length];
            for (var i = 0; i < pixels.Length; i++)
            {
                frames[f][i] = (ushort)(((long)pixels[i] * 16 * (f + 1)) % 65000);
            }
        }

        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        var batch = frames.Select(_ => engine.CreateResult()).ToArray();
        engine.Integrate<ushort>([.. frames.Select(f => (ReadOnlyMemory<ushort>)f)], batch);
        Assert.Contains(frames.SelectMany(f => f), v => v >= 60000);
        for (var f = 0; f < frames.Length; f++)
        {
            var single = engine.CreateResult();
            engine.Integrate<ushort>(frames[f], single);
            AssertSameBits(single, batch[f], $"frame {f}");
        }
    }

    /// <summary>Float frames have no batch kernel: the call integrates them one by one, same numbers.</summary>
    [Theory]
    [InlineData("tilted_no_q_nm")]
    [InlineData("centred_bbox_2th_deg")]
    public void Integrate_SeveralFramesWithoutBatchKernel_SameAsOneByOne(string name)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var frames = new[] { Array.ConvertAll(pixels, v => (float)v), Array.ConvertAll(pixels, v => (float)(v * 2)) };
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c));
        var batch = frames.Select(_ => engine.CreateResult()).ToArray();
        engine.Integrate<float>([.. frames.Select(f => (ReadOnlyMemory<float>)f)], batch);
        for (var f = 0; f < frames.Length; f++)
        {
            var single = engine.CreateResult();
            engine.Integrate<float>(frames[f], single);
            AssertSameBits(single, batch[f], $"frame {f}");
        }
    }

    /// <summary>Dark and flat take the generic path frame by frame: each frame's numbers are the single call's.</summary>
    [Fact]
    public void Integrate_SeveralFramesWithDarkAndFlat_SameBitsAsOneByOne()
    {
        var c = PyFaiCases.Get("tilted_bbox_darkflat");
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var (dark, flat) = (PyFaiCases.Image(c, "dark"), PyFaiCases.Image(c, "flat"));
        Assert.NotEmpty(dark);
        Assert.NotEmpty(flat);
        var frames = Frames(pixels, 3, withExcluded: false);
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c));
        var batch = frames.Select(_ => engine.CreateResult()).ToArray();
        engine.Integrate<short>([.. frames.Select(f => (ReadOnlyMemory<short>)f)], batch, dark, flat);
        for (var f = 0; f < frames.Length; f++)
        {
            var single = engine.CreateResult();
            engine.Integrate<short>(frames[f], single, dark, flat);
            AssertSameBits(single, batch[f], $"frame {f}");
            Assert.NotEqual(Single(engine, frames[f]).Intensity, batch[f].Intensity);
        }

        Assert.Throws<ArgumentException>(() => engine.Integrate<short>([.. frames.Select(f => (ReadOnlyMemory<short>)f)], batch, new float[5]));
    }

    [Fact]
    public void Integrate_MismatchedFramesAndResults_ThrowsWithWhatToFix()
    {
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c));
        var frame = Array.ConvertAll(pixels, v => (short)v);
        var error = Assert.Throws<ArgumentException>(() => engine.Integrate<short>([frame, frame], [engine.CreateResult()]));
        Assert.Contains("one result per frame", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<ArgumentException>(() => engine.Integrate<short>([frame, new short[5]], [engine.CreateResult(), engine.CreateResult()]));
        Assert.Contains("frame 1 has 5 pixels", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<ArgumentException>(() => engine.Integrate<short>([frame, frame], [engine.CreateResult(), new IntegrationResult(3)]));
        Assert.Contains("result 1 has 3 bins", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Integrate_SeveralFrames_SteadyStateAllocatesNothing()
    {
        var c = PyFaiCases.Get("tilted_full_q_nm");
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = true, Threads = 2 };
        var frames = Frames(pixels, 4, withExcluded: true).Select(f => (ReadOnlyMemory<short>)f).ToArray();
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        var results = frames.Select(_ => engine.CreateResult()).ToArray();
        for (var k = 0; k < 50; k++)
        {
            engine.Integrate<short>(frames, results);
        }

        var least = long.MaxValue;
        for (var round = 0; round < 5 && least > 0; round++)
        {
            var mark = GC.GetAllocatedBytesForCurrentThread();
            engine.Integrate<short>(frames, results);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - mark);
        }

        Assert.Equal(0, least);
    }
}
