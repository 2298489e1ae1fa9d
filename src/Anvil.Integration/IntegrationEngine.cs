using System.Diagnostics;
using System.Numerics;

namespace Anvil.Integration;

/// <summary>
/// A precomputed 1-D azimuthal integrator for one detector shape, geometry, mask and settings, giving pyFAI
/// 0.21.3's numbers (CSR engines, Poisson errors). Build once (≈ 0.1–0.5 s for a 2.85 Mpx canvas), then
/// <see cref="Integrate{T}"/> every frame with no allocation.
/// </summary>
/// <remarks>
/// Layout: a CSR matrix by bin (row pointer, pixel indices ascending within a bin, float32 coefficients;
/// none for no-split, where every coefficient is 1). Summing each bin in ascending pixel order is pyFAI's
/// order, so sums agree to the last bit for no/bbox. Per-bin Σw and Σw·norm are precomputed and only
/// recomputed for a bin that held an excluded pixel in this frame or when a flat is given.
/// One engine integrates one frame at a time (calls are serialised); use one engine per worker to go wider.
/// </remarks>
public sealed unsafe partial class IntegrationEngine : IDisposable
{
    private const double Eps32 = 1.0 + 1.0 / 8388608.0; // pyFAI's calc_upper_bound: max · (1 + 2⁻²³)

    private readonly int[] indptr;
    private readonly int[] indices;
    private readonly float[]? weights;
    private readonly float[] baseNorm;
    private readonly double[] preCount;
    private readonly double[] preNorm;
    private readonly double[] radialCentres;
    private readonly double[] tthCentres;
    private readonly int[] partBounds;
    private readonly int[]? binOfPixel;
    private readonly int[] pixelBounds;
    private readonly PartSums[] partSums;
    private readonly WorkerTeam? team;
    private readonly Lock gate = new();

    // The frame being integrated, visible to the worker threads for the duration of one Integrate call.
    private void* image;
    private float* dark;
    private float* flat;
    private IntegrationResult? current;
    private FrameRules rules;
    private bool[]? exclusionSigned;
    private bool[]? exclusionUnsigned;

    private IntegrationEngine(Geometry geometry, int rows, int cols, IntegrationSettings settings, string hash, Csr csr,
        float[] baseNorm, double lo, double hi, TimeSpan buildTime)
    {
        Geometry = geometry;
        Rows = rows;
        Cols = cols;
        Settings = settings;
        Hash = hash;
        indptr = csr.Indptr;
        indices = csr.Indices;
        weights = csr.Weights;
        this.baseNorm = baseNorm;
        RadialMin = lo;
        RadialMax = hi;
        BuildTime = buildTime;
        var npt = settings.Npt;
        preCount = new double[npt];
        preNorm = new double[npt];
        Parallel.For(0, npt, b => SumStatic(b, out preCount[b], out preNorm[b]));

        // numpy.linspace(lo + δ/2, hi − δ/2, npt): k·step + start, the last point set to stop exactly.
        var delta = (hi - lo) / npt;
        var start = lo + 0.5 * delta;
        var stop = hi - 0.5 * delta;
        var step = npt > 1 ? (stop - start) / (npt - 1) : 0.0;
        var pg = new PixelGeometry(geometry, settings.Unit);
        var scale = settings.Unit.Scale();
        radialCentres = new double[npt];
        tthCentres = new double[npt];
        for (var k = 0; k < npt; k++)
        {
            var c = k == npt - 1 && npt > 1 ? stop : k * step + start;
            radialCentres[k] = c * scale;
            tthCentres[k] = pg.TwoThetaDeg(c);
        }

        partBounds = SplitByEntries(indptr, Math.Max(1, settings.Threads));
        pixelBounds = new int[settings.Threads + 1];
        for (var p = 0; p <= settings.Threads; p++)
        {
            pixelBounds[p] = (int)((long)rows * cols * p / settings.Threads);
        }

        if (settings.Method == SplitMethod.No)
        {
            // Pixel-major copy of the no-split matrix: the 16-bit fast path streams the frame in memory order.
            var binOf = new int[rows * cols];
            Array.Fill(binOf, -1);
            Parallel.For(0, npt, b =>
            {
                for (var j = indptr[b]; j < indptr[b + 1]; j++)
                {
                    binOf[indices[j]] = b;
                }
            });
            binOfPixel = binOf;
            partSums = [.. Enumerable.Range(0, settings.Threads).Select(_ => new PartSums(npt))];
        }
        else
        {
            partSums = [];
        }

        team = settings.Threads > 1 ? new WorkerTeam(settings.Threads) : null;
    }

    public Geometry Geometry { get; }
    public int Rows { get; }
    public int Cols { get; }
    public IntegrationSettings Settings { get; }

    /// <summary><see cref="IntegrationSettings.ComputeHash"/> of this engine's geometry, mask and settings.</summary>
    public string Hash { get; }

    /// <summary>Lower end of the radial range in pyFAI's internal unit (2θ in rad, q in nm⁻¹).</summary>
    public double RadialMin { get; }

    /// <summary>Upper end (already × (1 + 2⁻²³) as pyFAI does) in the internal unit.</summary>
    public double RadialMax { get; }

    /// <summary>Stored matrix entries (pixels for no-split, pixel fractions otherwise).</summary>
    public int EntryCount => indices.Length;

    public TimeSpan BuildTime { get; }

    /// <summary>Bin centres in the settings' unit.</summary>
    public ReadOnlySpan<double> Radial => radialCentres;

    public IntegrationResult CreateResult() => new(Settings.Npt);

    /// <summary>
    /// Precomputes the matrix. <paramref name="mask"/>: rows·cols bytes, non-zero = masked (excluded, and left out of
    /// the automatic range); empty = none. Rows and columns are the detector's (canvas) shape.
    /// </summary>
    public static IntegrationEngine Build(Geometry geometry, int rows, int cols, ReadOnlySpan<byte> mask, IntegrationSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Npt, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Threads, 1);
        if (!mask.IsEmpty && mask.Length != rows * cols)
        {
            throw new ArgumentException($"mask has {mask.Length} pixels, the detector {rows}×{cols} = {rows * cols}.", nameof(mask));
        }

        var clock = Stopwatch.StartNew();
        var hash = settings.ComputeHash(geometry, mask);
        var builder = new CsrBuilder(geometry, rows, cols, mask.IsEmpty ? null : mask.ToArray(), settings);
        var csr = builder.Build();
        return new IntegrationEngine(geometry, rows, cols, settings, hash, csr, builder.Norm, builder.Lo, builder.Hi, clock.Elapsed);
    }

    /// <summary>
    /// Integrates one frame into <paramref name="result"/>. <paramref name="dark"/> and <paramref name="flat"/> are
    /// optional (empty) rows·cols float32 images: signal = raw − dark, norm = flat · polarisation · solid angle,
    /// Poisson variance = max(raw, 1) (before dark, as pyFAI 0.21).
    /// </summary>
    public void Integrate<T>(ReadOnlySpan<T> frame, IntegrationResult result, ReadOnlySpan<float> dark = default, ReadOnlySpan<float> flat = default)
        where T : unmanaged, INumberBase<T>
    {
        var n = Rows * Cols;
        if (frame.Length != n)
        {
            throw new ArgumentException($"frame has {frame.Length} pixels, the engine {Rows}×{Cols} = {n}.", nameof(frame));
        }

        if ((!dark.IsEmpty && dark.Length != n) || (!flat.IsEmpty && flat.Length != n))
        {
            throw new ArgumentException($"dark and flat must have {n} pixels or be empty.");
        }

        if (result.Npt != Settings.Npt)
        {
            throw new ArgumentException($"result has {result.Npt} bins, the engine {Settings.Npt}.", nameof(result));
        }

        lock (gate)
        {
            fixed (T* img = frame)
            fixed (float* d = dark)
            fixed (float* f = flat)
            {
                image = img;
                this.dark = dark.IsEmpty ? null : d;
                this.flat = flat.IsEmpty ? null : f;
                current = result;
                rules = FrameRules.For<T>(Settings);
                try
                {
                    if (team is null)
                    {
                        Kernel<T>(this, 0);
                    }
                    else
                    {
                        team.Run(&Kernel<T>, this);
                    }
                }
                finally
                {
                    image = null;
                    this.dark = null;
                    this.flat = null;
                    current = null;
                }
            }

            if (binOfPixel is not null && (typeof(T) == typeof(short) || typeof(T) == typeof(ushort)) && dark.IsEmpty && flat.IsEmpty)
            {
                MergePartSums(result);
            }

            radialCentres.CopyTo(result.Radial, 0);
            tthCentres.CopyTo(result.TwoThetaDeg, 0);
        }
    }

    public void Dispose() => team?.Dispose();

    private void SumStatic(int b, out double count, out double norm)
    {
        double c = 0, s = 0;
        for (var j = indptr[b]; j < indptr[b + 1]; j++)
        {
            double w = weights is null ? 1.0 : weights[j];
            c += w;
            s += w * baseNorm[indices[j]];
        }

        count = c;
        norm = s;
    }

    private static int[] SplitByEntries(int[] indptr, int parts)
    {
        var npt = indptr.Length - 1;
        var bounds = new int[parts + 1];
        bounds[parts] = npt;
        var total = (long)indptr[npt];
        var b = 0;
        for (var p = 1; p < parts; p++)
        {
            var target = total * p / parts;
            while (b < npt && indptr[b] < target)
            {
                b++;
            }

            bounds[p] = b;
        }

        return bounds;
    }

    private static void Kernel<T>(IntegrationEngine e, int part) where T : unmanaged, INumberBase<T>
    {
        if ((typeof(T) == typeof(short) || typeof(T) == typeof(ushort)) && e.dark is null && e.flat is null)
        {
            if (e.binOfPixel is not null)
            {
                PixelMajor16(e, part, typeof(T) == typeof(short));
            }
            else
            {
                Kernel16(e, part, typeof(T) == typeof(short));
            }

            return;
        }

        var img = (T*)e.image;
        var dk = e.dark;
        var fl = e.flat;
        var r = e.rules;
        var result = e.current!;
        var empty = (float)(e.Settings.Dummy ?? 0.0);
        fixed (int* ptr = e.indptr)
        fixed (int* ind = e.indices)
        fixed (float* wts = e.weights)
        fixed (float* bn = e.baseNorm)
        {
            var weighted = e.weights is not null;
            for (var b = e.partBounds[part]; b < e.partBounds[part + 1]; b++)
            {
                double s = 0, v = 0;
                var hit = false;
                int j0 = ptr[b], j1 = ptr[b + 1];
                for (var j = j0; j < j1; j++)
                {
                    var idx = ind[j];
                    var raw = float.CreateTruncating(img[idx]);
                    if (r.Any && r.Excluded(raw))
                    {
                        hit = true;
                        continue;
                    }

                    var sig = dk is null ? raw : raw - dk[idx];
                    var variance = raw > 1f ? raw : 1f;
                    if (weighted)
                    {
                        double w = wts[j];
                        s += w * sig;
                        v += w * w * variance;
                    }
                    else
                    {
                        s += sig;
                        v += variance;
                    }
                }

                double c, n;
                if (hit || fl is not null)
                {
                    c = 0;
                    n = 0;
                    for (var j = j0; j < j1; j++)
                    {
                        var idx = ind[j];
                        if (r.Any && r.Excluded(float.CreateTruncating(img[idx])))
                        {
                            continue;
                        }

                        double w = weighted ? wts[j] : 1.0;
                        var nrm = fl is null ? bn[idx] : fl[idx] * bn[idx];
                        c += w;
                        n += w * nrm;
                    }
                }
                else
                {
                    c = e.preCount[b];
                    n = e.preNorm[b];
                }

                result.SumSignal[b] = s;
                result.SumVariance[b] = v;
                result.SumNormalization[b] = n;
                result.Count[b] = c;
                if (c > 0)
                {
                    result.Intensity[b] = (float)(s / n);
                    result.Sigma[b] = (float)(Math.Sqrt(v) / n);
                }
                else
                {
                    result.Intensity[b] = empty;
                    result.Sigma[b] = empty;
                }
            }
        }
    }

    /// <summary>
    /// The common case (16-bit detector frame, no dark, no flat), about 3× faster than the generic loop: the
    /// exclusion rules become a 64 K lookup table, no-split sums are exact integer sums (equal to pyFAI's float64
    /// sums of the same integers), and weighted sums use two interleaved accumulators to hide add latency.
    /// </summary>
    private static void Kernel16(IntegrationEngine e, int part, bool signed)
    {
        var excluded = e.ExclusionTable(signed);
        var result = e.current!;
        var empty = (float)(e.Settings.Dummy ?? 0.0);
        var any = e.rules.Any;
        var s16 = (short*)e.image;
        var u16 = (ushort*)e.image;
        fixed (int* ptr = e.indptr)
        fixed (int* ind = e.indices)
        fixed (float* wts = e.weights)
        fixed (float* bn = e.baseNorm)
        fixed (bool* ex = excluded)
        {
            for (var b = e.partBounds[part]; b < e.partBounds[part + 1]; b++)
            {
                int j0 = ptr[b], j1 = ptr[b + 1];
                var hit = false;
                double s, v;
                if (wts is null)
                {
                    long si = 0, vi = 0;
                    for (var j = j0; j < j1; j++)
                    {
                        var idx = ind[j];
                        int raw = signed ? s16[idx] : (int)u16[idx];
                        if (any && ex[(ushort)raw])
                        {
                            hit = true;
                            continue;
                        }

                        si += raw;
                        vi += raw > 1 ? raw : 1;
                    }

                    s = si;
                    v = vi;
                }
                else
                {
                    double sa = 0, sb = 0, va = 0, vb = 0;
                    var j = j0;
                    for (; j + 1 < j1; j += 2)
                    {
                        int ia = ind[j], ib = ind[j + 1];
                        int ra = signed ? s16[ia] : (int)u16[ia];
                        int rb = signed ? s16[ib] : (int)u16[ib];
                        double wa = wts[j], wb = wts[j + 1];
                        if (any && (ex[(ushort)ra] | ex[(ushort)rb]))
                        {
                            hit = true;
                            wa = ex[(ushort)ra] ? 0 : wa;
                            wb = ex[(ushort)rb] ? 0 : wb;
                        }

                        sa += wa * ra;
                        sb += wb * rb;
                        va += wa * wa * (ra > 1 ? ra : 1);
                        vb += wb * wb * (rb > 1 ? rb : 1);
                    }

                    if (j < j1)
                    {
                        var ia = ind[j];
                        int ra = signed ? s16[ia] : (int)u16[ia];
                        if (any && ex[(ushort)ra])
                        {
                            hit = true;
                        }
                        else
                        {
                            double wa = wts[j];
                            sa += wa * ra;
                            va += wa * wa * (ra > 1 ? ra : 1);
                        }
                    }

                    s = sa + sb;
                    v = va + vb;
                }

                double c, n;
                if (hit)
                {
                    c = 0;
                    n = 0;
                    for (var j = j0; j < j1; j++)
                    {
                        var idx = ind[j];
                        if (ex[(ushort)(signed ? s16[idx] : (int)u16[idx])])
                        {
                            continue;
                        }

                        double w = wts is null ? 1.0 : wts[j];
                        c += w;
                        n += w * bn[idx];
                    }
                }
                else
                {
                    c = e.preCount[b];
                    n = e.preNorm[b];
                }

                result.SumSignal[b] = s;
                result.SumVariance[b] = v;
                result.SumNormalization[b] = n;
                result.Count[b] = c;
                result.Intensity[b] = c > 0 ? (float)(s / n) : empty;
                result.Sigma[b] = c > 0 ? (float)(Math.Sqrt(v) / n) : empty;
            }
        }
    }

    /// <summary>
    /// No-split, 16-bit frame, no dark/flat: stream the frame and the per-pixel bin index in memory order and add
    /// into per-part integer sums (a bin-major gather misses the cache on every ring). Integer sums are exact, so
    /// the merged result equals pyFAI's float64 sums bit for bit whatever the part boundaries. Excluded pixels are
    /// counted per bin and their normalisation subtracted from the precomputed Σnorm (≈ 1e-16 relative).
    /// </summary>
    private static void PixelMajor16(IntegrationEngine e, int part, bool signed)
    {
        var excluded = e.ExclusionTable(signed);
        var sums = e.partSums[part];
        sums.Clear();
        var any = e.rules.Any;
        var s16 = (short*)e.image;
        var u16 = (ushort*)e.image;
        fixed (int* binOf = e.binOfPixel)
        fixed (float* bn = e.baseNorm)
        fixed (bool* ex = excluded)
        fixed (long* sig = sums.Signal)
        fixed (long* variance = sums.Variance)
        {
            for (int k = e.pixelBounds[part], end = e.pixelBounds[part + 1]; k < end; k++)
            {
                var b = binOf[k];
                if (b < 0)
                {
                    continue;
                }

                int raw = signed ? s16[k] : (int)u16[k];
                if (any && ex[(ushort)raw])
                {
                    sums.ExcludedCount[b]++;
                    sums.ExcludedNorm[b] += bn[k];
                    continue;
                }

                // Four interleaved copies of each bin: neighbouring pixels usually share a bin, and a single copy
                // would chain every add through store-to-load forwarding.
                var slot = (b << 2) | (k & 3);
                sig[slot] += raw;
                variance[slot] += raw > 1 ? raw : 1;
            }
        }
    }

    private void MergePartSums(IntegrationResult result)
    {
        var empty = (float)(Settings.Dummy ?? 0.0);
        for (var b = 0; b < Settings.Npt; b++)
        {
            long s = 0, v = 0, excludedCount = 0;
            double excludedNorm = 0;
            foreach (var p in partSums)
            {
                for (var copy = 0; copy < 4; copy++)
                {
                    s += p.Signal[(b << 2) | copy];
                    v += p.Variance[(b << 2) | copy];
                }

                excludedCount += p.ExcludedCount[b];
                excludedNorm += p.ExcludedNorm[b];
            }

            var c = preCount[b] - excludedCount;
            var n = excludedCount == 0 ? preNorm[b] : preNorm[b] - excludedNorm;
            result.SumSignal[b] = s;
            result.SumVariance[b] = v;
            result.SumNormalization[b] = c > 0 ? n : 0;
            result.Count[b] = c;
            result.Intensity[b] = c > 0 ? (float)(s / n) : empty;
            result.Sigma[b] = c > 0 ? (float)(Math.Sqrt(v) / n) : empty;
        }
    }

    /// <summary>One part's no-split sums, allocated once per engine.</summary>
    private sealed class PartSums(int npt)
    {
        public long[] Signal { get; } = new long[4 * npt];
        public long[] Variance { get; } = new long[4 * npt];
        public int[] ExcludedCount { get; } = new int[npt];
        public double[] ExcludedNorm { get; } = new double[npt];

        public void Clear()
        {
            Array.Clear(Signal);
            Array.Clear(Variance);
            Array.Clear(ExcludedCount);
            Array.Clear(ExcludedNorm);
        }
    }

    /// <summary>For 16-bit frames: excluded[(ushort)value], evaluated once per engine with the float32 rules.</summary>
    private bool[] ExclusionTable(bool signed)
    {
        ref var table = ref signed ? ref exclusionSigned : ref exclusionUnsigned;
        if (table is null)
        {
            var t = new bool[65536];
            for (var k = 0; k < t.Length; k++)
            {
                t[k] = rules.Excluded(signed ? unchecked((short)k) : k);
            }

            table = t;
        }

        return table;
    }

    /// <summary>Which pixel values a frame excludes (pyFAI dummy, NaN, Anvil's detector rule), in float32 like pyFAI.</summary>
    private readonly struct FrameRules
    {
        private readonly bool nan, dummy, negative, saturation;
        private readonly float dummyValue, deltaDummy, saturationValue;

        private FrameRules(IntegrationSettings s, bool floating, bool signed)
        {
            nan = floating;
            dummy = s.Dummy.HasValue;
            dummyValue = (float)(s.Dummy ?? 0);
            deltaDummy = (float)(s.DeltaDummy ?? 0);
            negative = s.ExcludeNegative && signed;
            saturation = s.SaturationValue.HasValue;
            saturationValue = (float)(s.SaturationValue ?? 0);
            Any = nan || dummy || negative || saturation;
        }

        public bool Any { get; }

        public static FrameRules For<T>(IntegrationSettings s) where T : INumberBase<T> =>
            new(s, typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half),
                T.IsNegative(T.Zero - T.One));

        public bool Excluded(float raw) =>
            (nan && float.IsNaN(raw))
            || (dummy && (deltaDummy == 0f ? raw == dummyValue : MathF.Abs(raw - dummyValue) <= deltaDummy))
            || (negative && raw < 0f)
            || (saturation && raw >= saturationValue);
    }
}
