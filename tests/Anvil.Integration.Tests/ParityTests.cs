using Xunit.Abstractions;

namespace Anvil.Integration.Tests;

/// <summary>
/// Every committed pyFAI case: bin centres ≤ 1e-9 relative; intensity, sigma and count ≤ 1e-5 relative on bins
/// with signal, for every split mode (issue 4), counts exact for no-split. The matrix is pyFAI's bit for bit in
/// every mode, full splitting included (<see cref="MatrixParityTests"/>); only the order of the float64 sums
/// differs (chunks, then bins), so measured: intensity and sigma equal pyFAI's float32 values except on the
/// dark/flat no-split case (≤ 1.2e-7), counts ≤ 4.1e-16. The 16-bit bbox/full kernel sums
/// each bin within a band in float32 lanes: ≈ 1e-7 from the float64 paths.
/// </summary>
public sealed class ParityTests(ITestOutputHelper output)
{
    private const double RadialTolerance = 1e-9;
    private const double ValueTolerance = 1e-5;

    public static TheoryData<string> CaseNames() => [.. PyFaiCases.Names];

    /// <summary>Every case through each kernel: int32 frames take the generic path, int16 frames the fast paths (tiled
    /// SIMD, for no-split with unit coefficients; "int16-pixelmajor" the no-split integer fallback, SIMD off;
    /// dark/flat cases fall back to the generic path), float32 frames the generic path with NaN screening, and two
    /// threads must not change a bit.</summary>
    public static TheoryData<string, string> CaseKernels()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in PyFaiCases.Names)
        {
            string[] kernels = PyFaiCases.FloatFrame(PyFaiCases.Get(name)) ? ["float32", "float32-2threads"]
                : PyFaiCases.Get(name).Str("method") == "no" ? ["int32", "int16", "int16-2threads", "int16-pixelmajor", "float32"]
                : ["int32", "int16", "int16-2threads", "float32"];
            foreach (var kernel in kernels)
            {
                data.Add(name, kernel);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseKernels))]
    public void Integrate_PyFaiCase_MatchesReference(string name, string kernel)
    {
        var c = PyFaiCases.Get(name);
        var settings = PyFaiCases.Settings(c);
        if (kernel.EndsWith("-2threads", StringComparison.Ordinal))
        {
            settings = settings with { Threads = 2 };
        }

        var (rows, cols, frame) = PyFaiCases.Frame(c);
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        var result = engine.CreateResult();
        var dark = PyFaiCases.Image(c, "dark");
        var flat = PyFaiCases.Image(c, "flat");
        switch (kernel)
        {
            case "int32":
                engine.Integrate<int>(Array.ConvertAll(frame, v => checked((int)v)), result, dark, flat);
                break;
            case "float32" or "float32-2threads":
                engine.Integrate<float>(Array.ConvertAll(frame, v => (float)v), result, dark, flat);
                break;
            default:
                engine.Vectorised = kernel != "int16-pixelmajor";
                engine.Integrate<short>(Array.ConvertAll(frame, v => checked((short)v)), result, dark, flat);
                break;
        }

        var expected = PyFaiCases.Expected(c);
        Assert.Equal(settings.Npt, expected.GetLength(0));
        double dRadial = 0, dI = 0, dS = 0, dCount = 0;
        var emptyMismatch = 0;
        var worst = 0;
        var exactCount = settings.Method == SplitMethod.No;
        for (var b = 0; b < settings.Npt; b++)
        {
            dRadial = Math.Max(dRadial, Rel(result.Radial[b], expected[b, 0]));
            var count = expected[b, 3];
            if (count > 0)
            {
                if (Rel(result.Intensity[b], expected[b, 1]) > dI)
                {
                    worst = b;
                }

                dI = Math.Max(dI, Rel(result.Intensity[b], expected[b, 1]));
                dS = Math.Max(dS, Rel(result.Sigma[b], expected[b, 2]));
                dCount = Math.Max(dCount, exactCount ? Math.Abs(result.Count[b] - count) : Rel(result.Count[b], count));
            }
            else if (result.Count[b] != 0 || (settings.Dummy is not null && result.Intensity[b] != expected[b, 1]))
            {
                emptyMismatch++;
            }
        }

        output.WriteLine($"{name}: radial {dRadial:G3}, I {dI:G3}, sigma {dS:G3}, count {dCount:G3}, entries {engine.EntryCount}; worst intensity in bin {worst}");
        Assert.True(dRadial <= RadialTolerance, $"radial centres differ by {dRadial:G3} relative");
        Assert.True(dCount <= (exactCount ? 0 : ValueTolerance), $"counts differ by {dCount:G3}");
        Assert.True(dI <= ValueTolerance, $"intensity differs by {dI:G3} relative");
        Assert.True(dS <= ValueTolerance, $"sigma differs by {dS:G3} relative");
        Assert.Equal(0, emptyMismatch);
    }

    /// <summary>Sums run over fixed chunks added in a fixed order, so the thread count cannot change a bit.</summary>
    [Theory]
    [InlineData("tilted_bbox_q_nm")]
    [InlineData("centred_full_2th_deg")]
    [InlineData("centred_no_dummy")]
    public void Integrate_TwoOrThreeThreads_SameBitsAsOne(string name)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var frame = Array.ConvertAll(pixels, v => checked((short)v));
        var results = new[] { 1, 2, 3 }.Select(threads =>
        {
            using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c) with { Threads = threads });
            var result = engine.CreateResult();
            engine.Integrate<short>(frame, result);
            return result;
        }).ToArray();
        foreach (var other in results.Skip(1))
        {
            Assert.Equal(results[0].SumSignal, other.SumSignal);
            Assert.Equal(results[0].SumVariance, other.SumVariance);
            Assert.Equal(results[0].SumNormalization, other.SumNormalization);
            Assert.Equal(results[0].Count, other.Count);
            Assert.Equal(results[0].Intensity, other.Intensity);
        }
    }

    /// <summary>
    /// The 16-bit bbox/full kernel without AVX2 runs the same float32 operations lane by lane, so it must give the
    /// vector kernel's bits, with and without excluded pixels (every 97th pixel −1, negatives excluded).
    /// </summary>
    [Theory]
    [InlineData("tilted_bbox_q_nm", false)]
    [InlineData("tilted_bbox_q_nm", true)]
    [InlineData("centred_full_2th_deg", false)]
    [InlineData("centred_full_2th_deg", true)]
    public void Integrate_Int16WithoutSimd_SameBitsAsVectorKernel(string name, bool withExcluded)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var frame = Array.ConvertAll(pixels, v => checked((short)v));
        var settings = PyFaiCases.Settings(c);
        if (withExcluded)
        {
            settings = settings with { ExcludeNegative = true };
            for (var k = 0; k < frame.Length; k += 97)
            {
                frame[k] = -1;
            }
        }

        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        Assert.True(engine.Vectorised, "this machine runs the AVX2 kernel, so the comparison means something");
        var vector = engine.CreateResult();
        engine.Integrate<short>(frame, vector);
        engine.Vectorised = false;
        var scalar = engine.CreateResult();
        engine.Integrate<short>(frame, scalar);
        Assert.Equal(vector.SumSignal, scalar.SumSignal);
        Assert.Equal(vector.SumVariance, scalar.SumVariance);
        Assert.Equal(vector.SumNormalization, scalar.SumNormalization);
        Assert.Equal(vector.Count, scalar.Count);
        Assert.Contains(vector.Count, n => n > 0);
    }

    /// <summary>
    /// No-split int16 frames take the tiled SIMD kernel with unit coefficients (float32 lane sums of integers, exact
    /// within 2²⁴), or without SIMD the pixel-major integer kernel: the same signal, variance and count, bit for bit,
    /// and the same normalisation to rounding (excluded pixels' shares are subtracted in another order).
    /// </summary>
    [Theory]
    [InlineData("tilted_no_q_nm", false)]
    [InlineData("tilted_no_q_nm", true)]
    [InlineData("lambda_no_2th_deg", true)]
    public void Integrate_Int16NoSplit_TiledKernelSameSumsAsPixelMajor(string name, bool withExcluded)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var frame = Array.ConvertAll(pixels, v => checked((short)v));
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = true, Threads = 2 };
        if (withExcluded)
        {
            for (var k = 0; k < frame.Length; k += 97)
            {
                frame[k] = -1;
            }
        }

        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        Assert.True(engine.Vectorised, "this machine runs the SIMD kernels, so the comparison means something");
        var tiled = engine.CreateResult();
        engine.Integrate<short>(frame, tiled);
        var tiledBytes = engine.BytesPerFrame;
        engine.Vectorised = false;
        var pixelMajor = engine.CreateResult();
        engine.Integrate<short>(frame, pixelMajor);
        Assert.NotEqual(tiledBytes, engine.BytesPerFrame);
        Assert.Equal(pixelMajor.SumSignal, tiled.SumSignal);
        Assert.Equal(pixelMajor.SumVariance, tiled.SumVariance);
        Assert.Equal(pixelMajor.Count, tiled.Count);
        for (var b = 0; b < tiled.Npt; b++)
        {
            Assert.Equal(pixelMajor.SumNormalization[b], tiled.SumNormalization[b], 1e-12 * Math.Abs(pixelMajor.SumNormalization[b]));
        }

        Assert.Contains(tiled.Count, n => n > 0);
    }

    /// <summary>
    /// No-split sums in float32 lanes are exact only while a lane's sum stays within 2²⁴. One bin (npt 1) gives a lane
    /// of a whole band: 16 × 1100 pixels of 32,767 (signed) or 16 × 20 of 65,535 (unsigned, no rules) exceed it, so
    /// the pixel-major integer kernel must run; with a saturation at 954, 16 × 1100 × 953 fits, so the tiled kernel
    /// runs. Either way Σ signal is exactly count × value.
    /// </summary>
    [Theory]
    [InlineData(16, 1100, true, null, 32767, false)]
    [InlineData(16, 1100, true, 954.0, 953, true)]
    [InlineData(16, 20, false, null, 65535, false)]
    public void Integrate_NoSplitLaneSumBeyondFloat32_StaysExact(int rows, int cols, bool signed, double? saturation, int value, bool tiledExpected)
    {
        var c = PyFaiCases.Get("tilted_no_q_nm");
        var settings = PyFaiCases.Settings(c) with { Npt = 1, ExcludeNegative = signed, SaturationValue = saturation };
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, [], settings);
        var result = engine.CreateResult();
        if (signed)
        {
            engine.Integrate<short>(Enumerable.Repeat((short)value, rows * cols).ToArray(), result);
        }
        else
        {
            engine.Integrate<ushort>(Enumerable.Repeat((ushort)value, rows * cols).ToArray(), result);
        }

        Assert.Equal(rows * cols, result.Count[0]);
        Assert.Equal((double)rows * cols * value, result.SumSignal[0]);
        Assert.Equal((double)rows * cols * value, result.SumVariance[0]);
        var pixelMajorBytes = 4L * rows * cols;
        Assert.Equal(tiledExpected, engine.BytesPerFrame != pixelMajorBytes);
    }

    /// <summary>
    /// One engine, a generic-path frame (int32: Σw summed per frame) and then a 16-bit frame with excluded pixels: the
    /// second must equal a fresh engine's result (no Σw of the first frame left in the chunk sums).
    /// </summary>
    [Fact]
    public void Integrate_Int16AfterGenericFrame_SameAsFreshEngine()
    {
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var settings = PyFaiCases.Settings(c) with { ExcludeNegative = true };
        var frame = Array.ConvertAll(pixels, v => checked((short)v));
        for (var k = 0; k < frame.Length; k += 89)
        {
            frame[k] = -1;
        }

        using var fresh = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        var expected = fresh.CreateResult();
        fresh.Integrate<short>(frame, expected);

        using var reused = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        var result = reused.CreateResult();
        reused.Integrate<int>(Array.ConvertAll(pixels, v => checked((int)v)), result);
        reused.Integrate<short>(frame, result);
        Assert.Equal(expected.Count, result.Count);
        Assert.Equal(expected.SumNormalization, result.SumNormalization);
        Assert.Equal(expected.Intensity, result.Intensity);
    }

    /// <summary>Steady state allocates nothing (after warm-up, so tiered JIT compilation has settled).</summary>
    [Theory]
    [InlineData("tilted_bbox_q_nm", 1)]
    [InlineData("tilted_bbox_q_nm", 2)]
    [InlineData("centred_no_dummy", 2)]
    [InlineData("tilted_no_darkflat", 1)]
    public void Integrate_SteadyState_AllocatesNothing(string name, int threads)
    {
        var c = PyFaiCases.Get(name);
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        var frame = Array.ConvertAll(pixels, v => checked((short)v));
        var dark = PyFaiCases.Image(c, "dark");
        var flat = PyFaiCases.Image(c, "flat");
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c) with { Threads = threads });
        var result = engine.CreateResult();
        var least = long.MaxValue;
        for (var round = 0; round < 20 && least > 0; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var k = 0; k < 50; k++)
            {
                engine.Integrate<short>(frame, result, dark, flat);
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, least);
    }

    private static double Rel(double actual, double expected) =>
        actual == expected ? 0 : Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-300);
}
