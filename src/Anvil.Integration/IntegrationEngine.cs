using System.Diagnostics;
using System.Numerics;
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
/// By responsibility: <see cref="CsrBuilder"/> builds pyFAI's matrix and <see cref="TiledMatrix"/> lays it out; this file
/// sets an engine up and dispatches calls; <c>IntegrationEngine.Kernels.cs</c> holds the single-frame kernels,
/// <c>IntegrationEngine.Sums.cs</c> the per-call state (sums, merging, the exclusion rules) and
/// <c>IntegrationEngine.Batch.cs</c> the several-frames-a-pass kernels.
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
        radialCentres = new double[npt];
        tthCentres = new double[npt];
        for (var k = 0; k < npt; k++)
        {
            var c = k == npt - 1 && npt > 1 ? stop : k * step + start;
            radialCentres[k] = settings.Unit.FromInternal(c);
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
}
