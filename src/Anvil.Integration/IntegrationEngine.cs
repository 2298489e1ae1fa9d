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
    private readonly WorkerTeam? team;
    private readonly Lock gate = new();

    // The frame being integrated, visible to the worker threads for the duration of one Integrate call.
    private void* image;
    private float* dark;
    private float* flat;
    private IntegrationResult? current;
    private FrameRules rules;

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
