using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Anvil.Integration;

/// <summary>
/// A precomputed 1-D azimuthal integrator for one detector shape, geometry, mask and settings, giving pyFAI
/// 0.21.3's numbers (CSR engines, Poisson errors). Build once (0.1–0.5 CPU-s for a 2.85 Mpx canvas), then
/// <see cref="Integrate{T}(ReadOnlySpan{T}, IntegrationResult, ReadOnlySpan{float}, ReadOnlySpan{float})"/> every frame with no allocation.
/// </summary>
/// <remarks>
/// Layout: pyFAI's CSR matrix re-laid as <see cref="TiledMatrix"/> (bands of rows; within a band, groups of 8 bins
/// stored as sliced ELLPACK with 16-bit pixel offsets and float32 coefficients; for no-split unit coefficients, and a
/// pixel-major 16-bit bin index for the exact integer fallback). Per-bin Σw and Σw·norm are precomputed; a frame's
/// excluded pixels take their share out, and the generic path (dark, flat, non-16-bit frames) sums them per frame.
/// Sums are float64 (the 16-bit tiled path: float32 per bin within a band) over fixed chunks added in a fixed order, so
/// the thread count never changes a bit. See README.md in this folder.
/// One call at a time per engine (calls are serialised; a call may carry several frames, see the Batch part); use one
/// engine per worker to go wider.
/// </remarks>
public sealed unsafe partial class IntegrationEngine : IDisposable
{
    private const double Eps32 = 1.0 + 1.0 / 8388608.0; // pyFAI's calc_upper_bound: max · (1 + 2⁻²³)

    /// <summary>Chunks of the tiled matrix summed separately, then added in order: results do not depend on threads.</summary>
    private const int DefaultChunks = 8;

    private const int PackShift = 40;
    private const long PackMask = (1L << PackShift) - 1;

    private readonly TiledMatrix tiled;
    private readonly float[] baseNorm;
    private readonly double[] preCount;
    private readonly double[] preNorm;
    private readonly double[] radialCentres;
    private readonly double[] tthCentres;
    private readonly ChunkSums[] chunkSums;
    private readonly ushort[]? binOfPixel;

    // The coefficients the 16-bit tiled kernels use for the call in progress: the matrix's, the unit ones, or none.
    private float[]? kernelWeights;

    // No-split: whether the last 16-bit call took the tiled kernel (for BytesPerFrame).
    private bool? noSplitTiledLast;
    private readonly int[] pixelBounds;
    private readonly PartSums[] partSums;
    private readonly WorkerTeam? team;
    private readonly Lock gate = new();

    // The frame being integrated, visible to the worker threads for the duration of one Integrate call.
    private void* image;
    private float* dark;
    private float* flat;
    private FrameRules rules;
    private ValueRange range;
    private bool[]? exclusionSigned;
    private bool[]? exclusionUnsigned;
    private (bool Known, ValueRange? Range) keptSigned, keptUnsigned;
    private bool disposed;
    private bool packedSums;

    private IntegrationEngine(Geometry geometry, int rows, int cols, IntegrationSettings settings, string hash, TiledMatrix matrix,
        float[] baseNorm, double lo, double hi, TimeSpan buildTime, List<(string Phase, TimeSpan Time)> phases)
    {
        var clock = Stopwatch.StartNew();
        var phase = Stopwatch.StartNew();
        Geometry = geometry;
        Rows = rows;
        Cols = cols;
        Settings = settings;
        Hash = hash;
        tiled = matrix;
        this.baseNorm = baseNorm;
        RadialMin = lo;
        RadialMax = hi;
        var npt = settings.Npt;
        preCount = new double[npt];
        preNorm = new double[npt];
        StaticSums();
        EntryCount = matrix.EntryCount;
        phases.Add(("per-bin sums", phase.Elapsed));
        phase.Restart();
        // A fixed number of chunks whatever the thread count, so the order of the float64 sums never depends on it
        // (more than 8 threads find no chunk to sum).
        var chunks = DefaultChunks;
        matrix.SetChunks(chunks);
        chunkSums = [.. Enumerable.Range(0, chunks).Select(_ => new ChunkSums(npt))];

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

        // The pixel-major kernel's fixed parts (as many as the chunks, shared out the same way), added in part order:
        // the thread count changes no sum's order.
        pixelBounds = new int[chunks + 1];
        for (var p = 0; p <= chunks; p++)
        {
            pixelBounds[p] = (int)((long)rows * cols * p / chunks);
        }

        if (settings.Method == SplitMethod.No && npt < ushort.MaxValue)
        {
            // Pixel-major bin of each pixel (npt = "no bin", a sink the merge ignores): the 16-bit no-split path
            // streams the frame and this array in memory order, 2 bytes each.
            var binOf = new ushort[rows * cols];
            Array.Fill(binOf, (ushort)npt);
            Parallel.For(0, matrix.Groups, g =>
            {
                var origin = matrix.GroupTile[g] * matrix.TilePixels;
                for (var lane = 0; lane < TiledMatrix.Lanes; lane++)
                {
                    var bin = (ushort)(matrix.GroupBin[g] + lane);
                    var length = matrix.LaneLength[(g * TiledMatrix.Lanes) + lane];
                    for (int step = 0, j = matrix.GroupStart[g] + lane; step < length; step++, j += TiledMatrix.Lanes)
                    {
                        binOf[origin + matrix.Local[j]] = bin;
                    }
                }
            });
            binOfPixel = binOf;
            partSums = [.. Enumerable.Range(0, chunks).Select(_ => new PartSums(npt))];
        }
        else
        {
            partSums = [];
        }

        phases.Add(("pixel map", phase.Elapsed));
        BuildPhases = string.Join(", ", phases.Select(p => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.Phase} {p.Time.TotalMilliseconds:F0} ms")));
        BuildTime = buildTime + clock.Elapsed;
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
    public int EntryCount { get; }

    /// <summary>
    /// Bytes an int16 frame's fast path reads from memory: the frame plus the per-pixel bin index (no-split) or the
    /// padded matrix's offsets and coefficients (bbox/full).
    /// </summary>
    /// <remarks>For no-split, the kernel of the last 16-bit call (before any: a full-range int16 frame's).</remarks>
    public long BytesPerFrame => (2L * Rows * Cols) + (binOfPixel is not null && !NoSplitTiled ? 2L * binOfPixel.Length
        : (2L * tiled.StoredCount) + (Settings.Method == SplitMethod.No && !NoSplitTiled ? 0 : 4L * tiled.StoredCount));

    /// <summary>No-split 16-bit frames took (or would take) the tiled SIMD kernel with unit coefficients, not the pixel-major one.</summary>
    private bool NoSplitTiled => noSplitTiledLast ?? (Vectorised && UnitSumsExact(new ValueRange(short.MinValue, short.MaxValue)));

    /// <summary>
    /// Float32 lane sums of integers are exact while every partial sum stays within 2²⁴: the longest lane times the
    /// largest kept magnitude (max(raw, 1) for the variance is no larger).
    /// </summary>
    private bool UnitSumsExact(ValueRange kept) => (long)tiled.LongestLane * Math.Max(1, Math.Max(Math.Abs(kept.Lo), Math.Abs(kept.Hi))) <= 1 << 24;

    public TimeSpan BuildTime { get; }

    /// <summary>
    /// The 16-bit tiled kernel uses AVX2 (default: when the CPU has it); without it bbox/full run lane by lane with the
    /// same float32 operations and no-split takes the pixel-major integer kernel. Tests switch it off to compare.
    /// </summary>
    internal bool Vectorised { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Where <see cref="BuildTime"/> went, phase by phase (wall clock, ms).</summary>
    public string BuildPhases { get; }

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
        var matrix = builder.Build();
        return new IntegrationEngine(geometry, rows, cols, settings, hash, matrix, builder.Norm, builder.Lo, builder.Hi, clock.Elapsed, builder.Phases);
    }

    /// <summary>
    /// Integrates one frame into <paramref name="result"/>. <paramref name="dark"/> and <paramref name="flat"/> are
    /// optional (empty) rows·cols float32 images: signal = raw − dark, norm = flat · polarisation · solid angle,
    /// Poisson variance = max(raw, 1) (before dark, as pyFAI 0.21).
    /// </summary>
    public void Integrate<T>(ReadOnlySpan<T> frame, IntegrationResult result, ReadOnlySpan<float> dark = default, ReadOnlySpan<float> flat = default)
        where T : unmanaged, INumberBase<T>
    {
        CheckImages(dark, flat);
        CheckFrame(frame.Length, result, index: null);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            IntegrateLocked(frame, result, dark, flat);
        }
    }

    /// <summary>A frame of the engine's shape and a result of its bins; <paramref name="index"/> names the frame of several.</summary>
    private void CheckFrame(int pixels, IntegrationResult result, int? index)
    {
        if (pixels != Rows * Cols)
        {
            throw new ArgumentException($"frame{(index is { } i ? $" {i}" : "")} has {pixels} pixels, the engine {Rows}×{Cols} = {Rows * Cols}.",
                index is null ? "frame" : "frames");
        }

        if (result.Npt != Settings.Npt)
        {
            throw new ArgumentException($"result{(index is { } i ? $" {i}" : "")} has {result.Npt} bins, the engine {Settings.Npt}.",
                index is null ? "result" : "results");
        }
    }

    private void CheckImages(ReadOnlySpan<float> dark, ReadOnlySpan<float> flat)
    {
        var n = Rows * Cols;
        if ((!dark.IsEmpty && dark.Length != n) || (!flat.IsEmpty && flat.Length != n))
        {
            throw new ArgumentException($"dark and flat must have {n} pixels or be empty.");
        }
    }

    /// <summary>The 16-bit fast paths can take the frames: int16 or uint16, no dark, no flat.</summary>
    private static bool Sixteen<T>(ReadOnlySpan<float> dark, ReadOnlySpan<float> flat) =>
        (typeof(T) == typeof(short) || typeof(T) == typeof(ushort)) && dark.IsEmpty && flat.IsEmpty;

    /// <summary>
    /// Sets a call's frame rules, kept 16-bit range and kernel coefficients (under the engine's lock, for one or several
    /// frames of type <typeparamref name="T"/>); returns the kept range, null when the 16-bit tiled kernels cannot run.
    /// </summary>
    private ValueRange? PrepareCall<T>(bool sixteen) where T : INumberBase<T>
    {
        rules = FrameRules.For<T>(Settings);
        var kept = sixteen ? KeptRange(typeof(T) == typeof(short)) : null;
        range = kept ?? default;
        kernelWeights = KernelWeights(kept);
        if (sixteen && Settings.Method == SplitMethod.No)
        {
            noSplitTiledLast = kernelWeights is not null;
        }

        return kept;
    }

    /// <summary>One frame, the engine's lock held and the arguments checked.</summary>
    private void IntegrateLocked<T>(ReadOnlySpan<T> frame, IntegrationResult result, ReadOnlySpan<float> dark, ReadOnlySpan<float> flat)
        where T : unmanaged, INumberBase<T>
    {
        var sixteen = Sixteen<T>(dark, flat);
        var kept = PrepareCall<T>(sixteen);
        var path = !sixteen ? Path.Generic
            : binOfPixel is not null && kernelWeights is null ? Path.PixelMajor16
            : Path.Tiled16;
        if (path == Path.Tiled16 && kept is null)
        {
            path = Path.Generic;
        }

        // Packed no-split sums need kept values ≥ 0 and Σraw < 2⁴⁰ in any one slot.
        packedSums = path == Path.PixelMajor16 && kept is { Lo: >= 0 } k && (long)Rows * Cols * k.Hi < PackMask;
        fixed (T* img = frame)
        fixed (float* d = dark)
        fixed (float* f = flat)
        {
            image = img;
            this.dark = dark.IsEmpty ? null : d;
            this.flat = flat.IsEmpty ? null : f;
            delegate*<IntegrationEngine, int, void> body = path switch
            {
                Path.PixelMajor16 => &PixelMajor16,
                Path.Tiled16 => &Tiled16,
                _ => &Generic<T>,
            };
            try
            {
                if (team is null)
                {
                    body(this, 0);
                }
                else
                {
                    team.Run(body, this);
                }
            }
            finally
            {
                image = null;
                this.dark = null;
                this.flat = null;
            }
        }

        if (path == Path.PixelMajor16)
        {
            MergePartSums(result);
        }
        else
        {
            MergeChunkSums(result, chunkSums, path == Path.Generic);
        }

        radialCentres.CopyTo(result.Radial, 0);
        tthCentres.CopyTo(result.TwoThetaDeg, 0);
    }

    /// <summary>Stops the worker threads; waits for a frame being integrated. Later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (!disposed)
            {
                disposed = true;
                team?.Dispose();
            }
        }
    }

    private enum Path
    {
        Generic,
        Tiled16,
        PixelMajor16,
    }

    /// <summary>Σw and Σw·norm per bin with every pixel kept: per group and lane in parallel, then added band by band.</summary>
    private void StaticSums()
    {
        const int lanes = TiledMatrix.Lanes;
        var m = tiled;
        var count = new double[m.Groups * lanes];
        var norm = new double[m.Groups * lanes];
        Parallel.For(0, m.Groups, g =>
        {
            var origin = m.GroupTile[g] * m.TilePixels;
            for (var lane = 0; lane < lanes; lane++)
            {
                double c = 0, s = 0;
                for (int step = 0, j = m.GroupStart[g] + lane, length = m.LaneLength[g * lanes + lane]; step < length; step++, j += lanes)
                {
                    double w = m.Weights[j];
                    c += w;
                    s += w * baseNorm[origin + m.Local[j]];
                }

                count[g * lanes + lane] = c;
                norm[g * lanes + lane] = s;
            }
        });
        for (var g = 0; g < m.Groups; g++)
        {
            for (var lane = 0; lane < lanes && m.GroupBin[g] + lane < Settings.Npt; lane++)
            {
                preCount[m.GroupBin[g] + lane] += count[g * lanes + lane];
                preNorm[m.GroupBin[g] + lane] += norm[g * lanes + lane];
            }
        }
    }

    /// <summary>The chunks a part (thread) sums: a fixed split of the fixed chunks.</summary>
    private (int First, int End) ChunksOf(int part) =>
        (tiled.Chunks * part / Settings.Threads, tiled.Chunks * (part + 1) / Settings.Threads);

    /// <summary>
    /// Any frame type, dark, flat: per bin and band Σw·(raw − dark), Σw²·max(raw, 1), Σw, Σw·flat·norm over the
    /// pixels the rules keep, in float64 like pyFAI.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Generic<T>(IntegrationEngine e, int part) where T : unmanaged, INumberBase<T>
    {
        const int lanes = TiledMatrix.Lanes;
        var img = (T*)e.image;
        var dk = e.dark;
        var fl = e.flat;
        var r = e.rules;
        var m = e.tiled;
        var (first, end) = e.ChunksOf(part);
        int* groupStart = m.GroupStartAt, groupBin = m.GroupBinAt, groupTile = m.GroupTileAt, laneLength = m.LaneLengthAt;
        var local = m.LocalAt;
        var wts = m.WeightsAt;
        fixed (float* bn = e.baseNorm)
        {
            for (var c = first; c < end; c++)
            {
                var sums = e.chunkSums[c];
                sums.Clear(withCounts: true);
                fixed (double* sS = sums.Signal)
                fixed (double* sV = sums.Variance)
                fixed (double* sC = sums.Count)
                fixed (double* sN = sums.Norm)
                {
                    for (int g = m.ChunkBounds[c], gEnd = m.ChunkBounds[c + 1]; g < gEnd; g++)
                    {
                        var origin = groupTile[g] * m.TilePixels;
                        for (var lane = 0; lane < lanes; lane++)
                        {
                            var length = laneLength[g * lanes + lane];
                            if (length == 0)
                            {
                                continue;
                            }

                            double s = 0, v = 0, cnt = 0, n = 0;
                            for (int step = 0, j = groupStart[g] + lane; step < length; step++, j += lanes)
                            {
                                var idx = origin + local[j];
                                var raw = float.CreateTruncating(img[idx]);
                                if (r.Any && r.Excluded(raw))
                                {
                                    continue;
                                }

                                var sig = dk is null ? raw : raw - dk[idx];
                                var variance = raw > 1f ? raw : 1f;
                                double w = wts[j];
                                var nrm = fl is null ? bn[idx] : fl[idx] * bn[idx];
                                s += w * sig;
                                v += w * w * variance;
                                cnt += w;
                                n += w * nrm;
                            }

                            var bin = groupBin[g] + lane;
                            sS[bin] += s;
                            sV[bin] += v;
                            sC[bin] += cnt;
                            sN[bin] += n;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// 16-bit frame, no dark or flat, exclusion rules that keep one contiguous range of values (Lambda: 0 ≤ v &lt;
    /// saturation). Weighted (bbox, full): a group's eight bins at once, one vector step per eight entries —
    /// eight pixel loads from the band, coefficients zeroed for excluded values, float32 fused multiply-adds
    /// per lane (a lane sums one bin's ≈ 15–60 entries of one band), then added into the float64 bin sums.
    /// No-split: the same with unit coefficients when float32 sums are exact (<see cref="UnitSumsExact"/>), else
    /// (≥ 65,535 bins, no pixel-major index) integer sums per lane. Σw and Σw·norm come precomputed per bin; an
    /// excluded pixel's share is subtracted (rare: most gap pixels are masked and never appear in the matrix).
    /// </summary>
    private static void Tiled16(IntegrationEngine e, int part) => BySign(e, part, &Tiled16<short>, &Tiled16<ushort>);

    /// <summary>Runs a 16-bit kernel's int16 or uint16 form, as the frame's type (the rules record it).</summary>
    private static void BySign(IntegrationEngine e, int part, delegate*<IntegrationEngine, int, void> signed, delegate*<IntegrationEngine, int, void> unsigned) =>
        (e.rules.Signed ? signed : unsigned)(e, part);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiled16<TPixel>(IntegrationEngine e, int part) where TPixel : unmanaged
    {
        const int lanes = TiledMatrix.Lanes;
        var m = e.tiled;
        var (first, end) = e.ChunksOf(part);
        var lo = e.range.Lo;
        var hi = e.range.Hi;
        var simd = e.Vectorised;
        var s8 = stackalloc float[lanes];
        var v8 = stackalloc float[lanes];
        int* groupStart = m.GroupStartAt, groupBin = m.GroupBinAt, groupTile = m.GroupTileAt, laneLength = m.LaneLengthAt;
        var local = m.LocalAt;
        var wts = Pinned.At(e.kernelWeights);
        for (var c = first; c < end; c++)
        {
            var sums = e.chunkSums[c];
            sums.Clear(withCounts: false);
            var sS = sums.SignalAt;
            var sV = sums.VarianceAt;
            for (int g = m.ChunkBounds[c], gEnd = m.ChunkBounds[c + 1]; g < gEnd; g++)
            {
                var origin = groupTile[g] * m.TilePixels;
                var img = (TPixel*)e.image + origin;
                int j0 = groupStart[g], steps = (groupStart[g + 1] - j0) / lanes;
                var bin = groupBin[g];
                int invalid;
                if (wts is null)
                {
                    invalid = 0;
                    for (var lane = 0; lane < lanes; lane++)
                    {
                        var (s, v, bad) = LaneUnweighted(img, local, j0 + lane, laneLength[g * lanes + lane], lo, hi);
                        sS[bin + lane] += s;
                        sV[bin + lane] += v;
                        invalid |= bad ? 1 << lane : 0;
                    }
                }
                else
                {
                    if (simd)
                    {
                        invalid = GroupAvx2(img, local + j0, wts + j0, steps, lo, hi, out var s, out var v);
                        AddLanes(sS + bin, s);
                        AddLanes(sV + bin, v);
                    }
                    else
                    {
                        invalid = GroupScalar(img, local + j0, wts + j0, steps, lo, hi, s8, v8);
                        for (var lane = 0; lane < lanes; lane++)
                        {
                            sS[bin + lane] += s8[lane];
                            sV[bin + lane] += v8[lane];
                        }
                    }
                }

                for (var lane = 0; invalid != 0; lane++, invalid >>= 1)
                {
                    if ((invalid & 1) != 0)
                    {
                        e.AddExcluded(sums, e.image, origin, j0 + lane, laneLength[g * lanes + lane], bin + lane, lo, hi);
                    }
                }
            }
        }
    }

    private static int Raw<TPixel>(TPixel* img, int offset) where TPixel : unmanaged =>
        typeof(TPixel) == typeof(short) ? ((short*)img)[offset] : ((ushort*)img)[offset];

    /// <summary>One lane of an unweighted group (stride 8): exact integer sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double S, double V, bool Bad) LaneUnweighted<TPixel>(TPixel* img, ushort* local, int j, int length, int lo, int hi)
        where TPixel : unmanaged
    {
        long si = 0, vi = 0;
        var span = (uint)(hi - lo);
        var excluded = false;
        for (var step = 0; step < length; step++, j += TiledMatrix.Lanes)
        {
            var raw = Raw(img, local[j]);
            if ((uint)(raw - lo) > span)
            {
                excluded = true;
                continue;
            }

            si += raw;
            vi += raw > 1 ? raw : 1;
        }

        return (si, vi, excluded);
    }

    /// <summary>
    /// One group, eight bins in eight lanes: per step eight scalar pixel loads (vpgatherdd is 2.4× slower on this
    /// machine), the validity test, Σw·raw and Σw²·max(raw, 1) in float32 fused multiply-adds. Returns the lanes that
    /// met an excluded value (bit per lane).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int GroupAvx2<TPixel>(TPixel* band, ushort* local, float* wts, int steps, int lo, int hi,
        out Vector256<float> s, out Vector256<float> v) where TPixel : unmanaged
    {
        var sa = Vector256<float>.Zero;
        var va = sa;
        var allValid = Vector256<int>.AllBitsSet;
        var below = Vector256.Create(lo - 1);
        var above = Vector256.Create(hi + 1);
        var one = Vector256.Create(1f);
        for (var step = 0; step < steps; step++, local += TiledMatrix.Lanes, wts += TiledMatrix.Lanes)
        {
            var raw = Load8(band, local);
            var valid = Avx2.CompareGreaterThan(raw, below) & Avx2.CompareGreaterThan(above, raw);
            allValid &= valid;
            var w = Avx.And(Avx.LoadVector256(wts), valid.AsSingle());
            var rf = Avx.ConvertToVector256Single(raw);
            sa = Fma.MultiplyAdd(w, rf, sa);
            va = Fma.MultiplyAdd(w * w, Avx.Max(rf, one), va);
        }

        s = sa;
        v = va;
        return ~Avx.MoveMask(allValid.AsSingle()) & 0xFF;
    }

    /// <summary>Eight 16-bit pixels at eight band offsets, inserted straight from memory (vpinsrw) and widened to int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector256<int> Load8<TPixel>(TPixel* band, ushort* offsets) where TPixel : unmanaged
    {
        var p = (short*)band;
        var x = Vector128.CreateScalarUnsafe(p[offsets[0]]);
        x = Sse2.Insert(x, p[offsets[1]], 1);
        x = Sse2.Insert(x, p[offsets[2]], 2);
        x = Sse2.Insert(x, p[offsets[3]], 3);
        x = Sse2.Insert(x, p[offsets[4]], 4);
        x = Sse2.Insert(x, p[offsets[5]], 5);
        x = Sse2.Insert(x, p[offsets[6]], 6);
        x = Sse2.Insert(x, p[offsets[7]], 7);
        return typeof(TPixel) == typeof(short) ? Avx2.ConvertToVector256Int32(x) : Avx2.ConvertToVector256Int32(x.AsUInt16());
    }

    /// <summary>Adds eight float32 lane sums into eight float64 bin sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddLanes(double* sums, Vector256<float> lanes)
    {
        Avx.Store(sums, Avx.LoadVector256(sums) + Avx.ConvertToVector256Double(lanes.GetLower()));
        Avx.Store(sums + 4, Avx.LoadVector256(sums + 4) + Avx.ConvertToVector256Double(lanes.GetUpper()));
    }

    /// <summary><see cref="GroupAvx2{TPixel}"/> without SIMD, lane by lane with the same float32 operations (same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int GroupScalar<TPixel>(TPixel* band, ushort* local, float* wts, int steps, int lo, int hi, float* s, float* v)
        where TPixel : unmanaged
    {
        var span = (uint)(hi - lo);
        var invalid = 0;
        for (var lane = 0; lane < TiledMatrix.Lanes; lane++)
        {
            float sa = 0, va = 0;
            for (int step = 0, j = lane; step < steps; step++, j += TiledMatrix.Lanes)
            {
                var raw = Raw(band, local[j]);
                var w = wts[j];
                if ((uint)(raw - lo) > span)
                {
                    invalid |= 1 << lane;
                    w = 0f;
                }

                sa = MathF.FusedMultiplyAdd(w, raw, sa);
                va = MathF.FusedMultiplyAdd(w * w, raw > 1 ? raw : 1, va);
            }

            s[lane] = sa;
            v[lane] = va;
        }

        return invalid;
    }

    /// <summary>Rare path: the share of Σw and Σw·norm that one lane's excluded pixels take out of its bin.</summary>
    private void AddExcluded(ChunkSums sums, void* frame, int origin, int j, int length, int bin, int lo, int hi)
    {
        var span = (uint)(hi - lo);
        var local = tiled.LocalAt;
        var wts = tiled.WeightsAt;
        for (var step = 0; step < length; step++, j += TiledMatrix.Lanes)
        {
            var idx = origin + local[j];
            var raw = rules.Signed ? ((short*)frame)[idx] : (int)((ushort*)frame)[idx];
            if ((uint)(raw - lo) > span)
            {
                double w = wts[j];
                sums.MarkExcluded(bin, w, w * baseNorm[idx]);
            }
        }
    }

    /// <summary>Adds the chunks in order; bins with excluded pixels (or every bin, for the generic path) get Σw and Σw·norm from the frame.</summary>
    private void MergeChunkSums(IntegrationResult result, ChunkSums[] chunkSums, bool countsSummed)
    {
        var empty = (float)(Settings.Dummy ?? 0.0);
        var anyExcluded = false;
        foreach (var c in chunkSums)
        {
            anyExcluded |= c.AnyExcluded;
        }

        for (var b = 0; b < Settings.Npt; b++)
        {
            double s = 0, v = 0, cnt, n;
            foreach (var c in chunkSums)
            {
                s += c.Signal[b];
                v += c.Variance[b];
            }

            if (countsSummed)
            {
                cnt = 0;
                n = 0;
                foreach (var c in chunkSums)
                {
                    cnt += c.Count[b];
                    n += c.Norm[b];
                }
            }
            else
            {
                cnt = preCount[b];
                n = preNorm[b];
                if (anyExcluded)
                {
                    long entries = 0;
                    double exCount = 0, exNorm = 0;
                    foreach (var c in chunkSums)
                    {
                        if (c.AnyExcluded)
                        {
                            entries += c.ExcludedEntries[b];
                            exCount += c.Count[b];
                            exNorm += c.Norm[b];
                        }
                    }

                    if (entries == tiled.EntriesPerBin[b])
                    {
                        (cnt, n) = (0, 0);
                    }
                    else if (entries > 0)
                    {
                        cnt -= exCount;
                        n -= exNorm;
                    }
                }
            }

            result.SumSignal[b] = s;
            result.SumVariance[b] = v;
            result.SumNormalization[b] = n;
            result.Count[b] = cnt;
            result.Intensity[b] = cnt > 0 ? (float)(s / n) : empty;
            result.Sigma[b] = cnt > 0 ? (float)(Math.Sqrt(v) / n) : empty;
        }
    }

    /// <summary>One chunk's per-bin sums, allocated once per engine.</summary>
    private sealed class ChunkSums(int npt)
    {
        // Whole groups of lanes: the 16-bit path adds eight bins at a time. Pinned, so the batch kernel can hold
        // pointers to four frames' sums at once.
        public double[] Signal { get; } = GC.AllocateArray<double>((npt + TiledMatrix.Lanes - 1) / TiledMatrix.Lanes * TiledMatrix.Lanes, pinned: true);
        public double[] Variance { get; } = GC.AllocateArray<double>((npt + TiledMatrix.Lanes - 1) / TiledMatrix.Lanes * TiledMatrix.Lanes, pinned: true);

        public double* SignalAt => Pinned.At(Signal);

        public double* VarianceAt => Pinned.At(Variance);

        /// <summary>Σw (generic path) or the excluded Σw (16-bit path).</summary>
        public double[] Count { get; } = new double[npt];

        /// <summary>Σw·norm (generic path) or the excluded Σw·norm (16-bit path).</summary>
        public double[] Norm { get; } = new double[npt];

        public int[] ExcludedEntries { get; } = new int[npt];
        public bool AnyExcluded { get; private set; }

        // Count and Norm hold something: the generic path's sums or the 16-bit paths' excluded shares.
        private bool countsUsed;

        public void Clear(bool withCounts)
        {
            Array.Clear(Signal);
            Array.Clear(Variance);
            if (countsUsed)
            {
                Array.Clear(Count);
                Array.Clear(Norm);
                Array.Clear(ExcludedEntries);
                AnyExcluded = false;
            }

            countsUsed = withCounts;
        }

        public void MarkExcluded(int bin, double w, double wn)
        {
            countsUsed = true;
            AnyExcluded = true;
            ExcludedEntries[bin]++;
            Count[bin] += w;
            Norm[bin] += wn;
        }
    }

    /// <summary>
    /// The coefficients of the 16-bit tiled kernels: the matrix's; for no-split (all 1) only when the SIMD kernel runs
    /// and its float32 sums are exact for the kept range, else none (exact integer paths).
    /// </summary>
    private float[]? KernelWeights(ValueRange? kept) =>
        Settings.Method != SplitMethod.No || (kept is { } k && Vectorised && UnitSumsExact(k)) ? tiled.Weights : null;

    /// <summary>The one contiguous range of 16-bit values the rules keep; null when they keep none or several.</summary>
    private ValueRange? KeptRange(bool signed)
    {
        ref var kept = ref signed ? ref keptSigned : ref keptUnsigned;
        if (!kept.Known)
        {
            kept = (true, ValueRange.From(ExclusionTable(signed), signed, rules.Any));
        }

        return kept.Range;
    }

    /// <summary>For 16-bit frames: an inclusive range of kept values.</summary>
    private readonly record struct ValueRange(int Lo, int Hi)
    {
        public static ValueRange? From(bool[] excluded, bool signed, bool any)
        {
            int min = signed ? short.MinValue : 0, max = signed ? short.MaxValue : ushort.MaxValue;
            if (!any)
            {
                return new ValueRange(min, max);
            }

            int lo = int.MaxValue, hi = int.MinValue;
            for (var v = min; v <= max; v++)
            {
                if (!excluded[(ushort)v])
                {
                    lo = Math.Min(lo, v);
                    hi = Math.Max(hi, v);
                }
            }

            if (lo > hi)
            {
                return null;
            }

            for (var v = lo; v <= hi; v++)
            {
                if (excluded[(ushort)v])
                {
                    return null;
                }
            }

            return new ValueRange(lo, hi);
        }
    }

    /// <summary>
    /// No-split, 16-bit frame, no dark/flat: stream the frame and the per-pixel bin index in memory order and add
    /// into per-part integer sums (a bin-major gather misses the cache on every ring). Integer sums are exact, so
    /// the merged result equals pyFAI's float64 sums bit for bit whatever the part boundaries. Excluded pixels are
    /// counted per bin and their normalisation subtracted from the precomputed Σnorm (≈ 1e-16 relative).
    /// </summary>
    private static void PixelMajor16(IntegrationEngine e, int thread)
    {
        var (first, end) = e.ChunksOf(thread);
        for (var part = first; part < end; part++)
        {
            if (e.rules.Signed)
            {
                PixelMajor16((short*)e.image, e, part);
            }
            else
            {
                PixelMajor16((ushort*)e.image, e, part);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PixelMajor16<TPixel>(TPixel* img, IntegrationEngine e, int part) where TPixel : unmanaged
    {
        var sums = e.partSums[part];
        sums.Clear();
        if (e.packedSums)
        {
            PixelMajorPacked(img, e, sums, part);
            return;
        }

        var excluded = e.ExclusionTable(typeof(TPixel) == typeof(short));
        var any = e.rules.Any;
        var npt = e.Settings.Npt;
        fixed (ushort* binOf = e.binOfPixel)
        fixed (float* bn = e.baseNorm)
        fixed (bool* ex = excluded)
        fixed (long* sig = sums.Signal)
        fixed (long* variance = sums.Variance)
        {
            for (int k = e.pixelBounds[part], end = e.pixelBounds[part + 1]; k < end; k++)
            {
                int b = binOf[k];
                var raw = Raw(img, k);
                if (any && ex[(ushort)raw] && b != npt)
                {
                    sums.ExcludedCount[b]++;
                    sums.ExcludedNorm[b] += bn[k];
                    continue;
                }

                // Four interleaved copies of each bin: neighbouring pixels usually share a bin, and a single copy
                // would chain every add through store-to-load forwarding. Pixels in no bin add into the sink bin npt.
                var slot = (b << 2) | (k & 3);
                sig[slot] += raw;
                variance[slot] += raw > 1 ? raw : 1;
            }
        }
    }

    /// <summary>
    /// The common Lambda case (kept values ≥ 0): max(raw, 1) = raw + [raw = 0], so one 64-bit add per pixel carries
    /// both sums — Σraw in the low 40 bits, the number of zeros above — instead of two read-modify-writes (≈ 1.3×).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PixelMajorPacked<TPixel>(TPixel* img, IntegrationEngine e, PartSums sums, int part) where TPixel : unmanaged
    {
        var lo = e.range.Lo;
        var span = (uint)(e.range.Hi - lo);
        var npt = e.Settings.Npt;
        fixed (ushort* binOf = e.binOfPixel)
        fixed (float* bn = e.baseNorm)
        fixed (long* packed = sums.Signal)
        {
            for (int k = e.pixelBounds[part], end = e.pixelBounds[part + 1]; k < end; k++)
            {
                int b = binOf[k];
                var raw = Raw(img, k);
                if ((uint)(raw - lo) > span)
                {
                    if (b != npt)
                    {
                        sums.ExcludedCount[b]++;
                        sums.ExcludedNorm[b] += bn[k];
                    }

                    continue;
                }

                packed[(b << 2) | (k & 3)] += raw + (raw == 0 ? 1L << PackShift : 0);
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
                    var x = p.Signal[(b << 2) | copy];
                    if (packedSums)
                    {
                        s += x & PackMask;
                        v += (x & PackMask) + (x >> PackShift);
                    }
                    else
                    {
                        s += x;
                        v += p.Variance[(b << 2) | copy];
                    }
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
        public long[] Signal { get; } = new long[4 * (npt + 1)];
        public long[] Variance { get; } = new long[4 * (npt + 1)];
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
            Signed = signed;
        }

        public bool Any { get; }

        public bool Signed { get; }

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
