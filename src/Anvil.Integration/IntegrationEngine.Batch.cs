using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Anvil.Integration;

/// <summary>
/// Several frames per pass over the matrix. The 16-bit tiled kernel is bound by reading the matrix (85 MB a frame for
/// bbox/full at npt 5000) and by the eight scalar pixel loads per vector step; with four frames in one pass, each band's pixels
/// are first interleaved (four int16 values of a pixel side by side, 8 bytes), so one 8-byte load fetches a pixel for
/// all four frames and one coefficient load serves four frames. Each (bin, frame) lane runs the single-frame kernel's
/// float32 operations in the same order, so every frame's result equals <see cref="Integrate{T}(ReadOnlySpan{T},
/// IntegrationResult, ReadOnlySpan{float}, ReadOnlySpan{float})"/>'s bit for bit.
/// </summary>
public sealed unsafe partial class IntegrationEngine
{
    /// <summary>Frames one pass over the matrix serves.</summary>
    public const int FramesPerPass = 4;

    private readonly nint[] batchImages = new nint[FramesPerPass];
    private ChunkSums[][]? batchSums;
    private short[][]? bandBuffers;
    private byte[]? referenced;
    private ulong[]? groupColumns;
    private int batchCount;

    /// <summary>
    /// The four-frame kernel runs (default: when the CPU has AVX-512BW). Otherwise, and for frames the tiled kernel does
    /// not take (dark, flat, other types, no-split whose float32 sums could be inexact), frames are integrated one by
    /// one: same numbers either way.
    /// </summary>
    internal bool BatchVectorised { get; set; } = Avx512BW.IsSupported && Avx512F.IsSupported;

    /// <summary>
    /// Bytes the 16-bit fast path reads from memory per frame when <paramref name="frames"/> frames share each pass
    /// over the matrix: each frame once, the matrix once per pass (the pixel-major no-split kernel reads its index per frame).
    /// </summary>
    public long BytesPerFrameInPasses(int frames)
    {
        var matrix = BytesPerFrame - (2L * Rows * Cols);
        var batched = BatchVectorised && (Settings.Method != SplitMethod.No || NoSplitTiled);
        return !batched ? BytesPerFrame : (2L * Rows * Cols) + (matrix / Math.Clamp(frames, 1, FramesPerPass));
    }

    /// <summary>
    /// Integrates several frames of the same shape into <paramref name="results"/> (frame i into results[i]), with the
    /// numbers <c>Integrate(frame, result, dark, flat)</c> gives each. For 16-bit frames without dark or flat, four
    /// frames share each pass over the matrix (about 2× the single-frame rate at npt 5000); pass whatever frames are
    /// ready, the engine does not wait for more.
    /// </summary>
    public void Integrate<T>(ReadOnlySpan<ReadOnlyMemory<T>> frames, ReadOnlySpan<IntegrationResult> results,
        ReadOnlySpan<float> dark = default, ReadOnlySpan<float> flat = default)
        where T : unmanaged, INumberBase<T>
    {
        if (frames.Length != results.Length)
        {
            throw new ArgumentException($"{frames.Length} frames but {results.Length} results: give one result per frame.", nameof(results));
        }

        CheckImages(dark, flat);
        for (var i = 0; i < frames.Length; i++)
        {
            CheckFrame(frames[i].Length, results[i], i);
        }

        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            var kept = PrepareCall<T>(Sixteen<T>(dark, flat));
            if (frames.Length < 2 || kept is null || kernelWeights is null || !BatchVectorised)
            {
                for (var i = 0; i < frames.Length; i++)
                {
                    IntegrateLocked(frames[i].Span, results[i], dark, flat);
                }

                return;
            }

            batchSums ??= [.. Enumerable.Range(0, FramesPerPass).Select(_ => chunkSums.Select(c => new ChunkSums(Settings.Npt)).ToArray())];
            bandBuffers ??= [.. Enumerable.Range(0, Settings.Threads).Select(_ => GC.AllocateUninitializedArray<short>(FramesPerPass * tiled.TilePixels, pinned: true))];
            if (referenced is null)
            {
                (referenced, groupColumns) = MatrixReads();
            }
            for (var start = 0; start < frames.Length; start += FramesPerPass)
            {
                var count = Math.Min(FramesPerPass, frames.Length - start);
                if (count == 1)
                {
                    // A last frame alone: the single-frame kernel reads the matrix once just the same, without interleaving.
                    IntegrateLocked(frames[start].Span, results[start], default, default);
                }
                else
                {
                    IntegrateFour(frames.Slice(start, count), results.Slice(start, count));
                }
            }
        }
    }

    private void IntegrateFour<T>(ReadOnlySpan<ReadOnlyMemory<T>> frames, ReadOnlySpan<IntegrationResult> results)
        where T : unmanaged
    {
        // Missing frames repeat the last one; their sums are computed and ignored.
        var last = frames.Length - 1;
        fixed (T* f0 = frames[0].Span)
        fixed (T* f1 = frames[Math.Min(1, last)].Span)
        fixed (T* f2 = frames[Math.Min(2, last)].Span)
        fixed (T* f3 = frames[Math.Min(3, last)].Span)
        {
            batchImages[0] = (nint)f0;
            batchImages[1] = (nint)f1;
            batchImages[2] = (nint)f2;
            batchImages[3] = (nint)f3;
            batchCount = frames.Length;
            try
            {
                if (team is null)
                {
                    TiledFour(this, 0);
                }
                else
                {
                    team.Run(&TiledFour, this);
                }
            }
            finally
            {
                Array.Clear(batchImages);
            }
        }

        for (var f = 0; f < frames.Length; f++)
        {
            MergeChunkSums(results[f], batchSums![f], countsSummed: false);
            radialCentres.CopyTo(results[f].Radial, 0);
            tthCentres.CopyTo(results[f].TwoThetaDeg, 0);
        }
    }

    private static void TiledFour(IntegrationEngine e, int part) => BySign(e, part, &TiledFour<short>, &TiledFour<ushort>);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TiledFour<TPixel>(IntegrationEngine e, int part) where TPixel : unmanaged
    {
        const int lanes = TiledMatrix.Lanes;
        var m = e.tiled;
        var (first, end) = e.ChunksOf(part);
        var lo = e.range.Lo;
        var hi = e.range.Hi;
        var pixels = e.Rows * e.Cols;
        var count = e.batchCount;
        var used = count == FramesPerPass ? uint.MaxValue : 0x11111111u * ((1u << count) - 1);
        var images = e.batchImages;
        short* i0 = (short*)images[0], i1 = (short*)images[1], i2 = (short*)images[2], i3 = (short*)images[3];
        var buffer = (long*)Pinned.At(e.bandBuffers![part]);
        var referenced = Pinned.At(e.referenced);
        var groupColumns = e.groupColumns!;
        var excludedColumns = 0UL;
        var cols = e.Cols;
        var sums = e.batchSums!;
        var s = stackalloc double*[FramesPerPass];
        var v = stackalloc double*[FramesPerPass];
        var tile = -1;
        int* groupStart = m.GroupStartAt, groupBin = m.GroupBinAt, groupTile = m.GroupTileAt, laneLength = m.LaneLengthAt;
        var local = m.LocalAt;
        var wts = Pinned.At(e.kernelWeights);
        for (var c = first; c < end; c++)
        {
            for (var f = 0; f < FramesPerPass; f++)
            {
                sums[f][c].Clear(withCounts: false);
                s[f] = sums[f][c].SignalAt;
                v[f] = sums[f][c].VarianceAt;
            }

            for (int g = m.ChunkBounds[c], gEnd = m.ChunkBounds[c + 1]; g < gEnd; g++)
            {
                var origin = groupTile[g] * m.TilePixels;
                if (groupTile[g] != tile)
                {
                    tile = groupTile[g];
                    excludedColumns = Interleave(i0 + origin, i1 + origin, i2 + origin, i3 + origin, referenced + origin,
                        Math.Min(m.TilePixels, pixels - origin), cols, lo, hi, (short*)buffer);
                }

                int j0 = groupStart[g], steps = (groupStart[g + 1] - j0) / lanes;
                var bin = groupBin[g];
                Vector512<float> sLow, sHigh, vLow, vHigh;
                uint invalid = 0;
                if ((groupColumns[g] & excludedColumns) != 0)
                {
                    invalid = GroupFour<TPixel, Checked>(buffer, local + j0, wts + j0, steps, lo, hi, out sLow, out sHigh, out vLow, out vHigh) & used;
                }
                else
                {
                    GroupFour<TPixel, Unchecked>(buffer, local + j0, wts + j0, steps, lo, hi, out sLow, out sHigh, out vLow, out vHigh);
                }

                for (var f = 0; f < count; f++)
                {
                    // Lane l of frame f sits at l·4 + f across the two halves.
                    var pick = Vector512.Create(f, 4 + f, 8 + f, 12 + f, 16 + f, 20 + f, 24 + f, 28 + f, 0, 0, 0, 0, 0, 0, 0, 0);
                    AddLanes(s[f] + bin, Avx512F.PermuteVar16x32x2(sLow, pick, sHigh).GetLower());
                    AddLanes(v[f] + bin, Avx512F.PermuteVar16x32x2(vLow, pick, vHigh).GetLower());
                }

                for (; invalid != 0; invalid &= invalid - 1)
                {
                    var bit = BitOperations.TrailingZeroCount(invalid);
                    int lane = bit >> 2, f = bit & 3;
                    e.AddExcluded(sums[f][c], (void*)images[f], origin, j0 + lane, laneLength[g * lanes + lane], bin + lane, lo, hi);
                }
            }
        }
    }

    /// <summary>
    /// Four frames' pixels of one band side by side: destination[4·i + f] = frame f's pixel i. Returns the column
    /// blocks (<see cref="ColumnBlock"/>) where a pixel the matrix reads holds a value outside [lo, hi] in any of the
    /// four: the band's groups that read those blocks take the checking kernel. Values of pixels the matrix never
    /// reads, such as masked gaps, do not matter.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ulong Interleave(short* a, short* b, short* c, short* d, byte* referenced, int pixels, int cols, int lo, int hi, short* destination)
    {
        var low = Vector128.Create((short)lo);
        var span = Vector128.Create((ushort)(hi - lo));
        var blocks = 0UL;
        var i = 0;
        for (; i + 8 <= pixels; i += 8)
        {
            var va = Vector128.Load(a + i);
            var vb = Vector128.Load(b + i);
            var vc = Vector128.Load(c + i);
            var vd = Vector128.Load(d + i);

            // (v − lo) as unsigned above hi − lo, by saturating subtraction: non-zero where a value is outside.
            var beyond = Sse2.SubtractSaturate((va - low).AsUInt16(), span) | Sse2.SubtractSaturate((vb - low).AsUInt16(), span)
                | Sse2.SubtractSaturate((vc - low).AsUInt16(), span) | Sse2.SubtractSaturate((vd - low).AsUInt16(), span);
            var outside = beyond & Sse41.ConvertToVector128Int16((sbyte*)(referenced + i)).AsUInt16();
            if (outside != Vector128<ushort>.Zero)
            {
                // Rare (Lambda: a few −1 columns the mask leaves open): which of the eight, by column block.
                for (var k = 0; k < 8; k++)
                {
                    blocks |= outside.GetElement(k) != 0 ? 1UL << ColumnBlock((i + k) % cols, cols) : 0;
                }
            }

            var ab0 = Sse2.UnpackLow(va, vb).AsInt32();
            var ab1 = Sse2.UnpackHigh(va, vb).AsInt32();
            var cd0 = Sse2.UnpackLow(vc, vd).AsInt32();
            var cd1 = Sse2.UnpackHigh(vc, vd).AsInt32();
            var o = destination + (4 * i);
            Sse2.UnpackLow(ab0, cd0).Store((int*)o);
            Sse2.UnpackHigh(ab0, cd0).Store((int*)(o + 8));
            Sse2.UnpackLow(ab1, cd1).Store((int*)(o + 16));
            Sse2.UnpackHigh(ab1, cd1).Store((int*)(o + 24));
        }

        // The same test in 16-bit wrap-around arithmetic, right for signed and unsigned frames alike.
        var spanScalar = (ushort)(hi - lo);
        for (; i < pixels; i++)
        {
            destination[4 * i] = a[i];
            destination[(4 * i) + 1] = b[i];
            destination[(4 * i) + 2] = c[i];
            destination[(4 * i) + 3] = d[i];
            if (referenced[i] != 0 && ((ushort)(a[i] - lo) > spanScalar || (ushort)(b[i] - lo) > spanScalar
                || (ushort)(c[i] - lo) > spanScalar || (ushort)(d[i] - lo) > spanScalar))
            {
                blocks |= 1UL << ColumnBlock(i % cols, cols);
            }
        }

        return blocks;
    }

    /// <summary>Columns in 64 blocks of equal width: a block is a bit of a 64-bit set.</summary>
    private static int ColumnBlock(int column, int cols) => (int)((long)column * 64 / cols);

    /// <summary>
    /// What the matrix reads, in one pass over it: 0xFF for each pixel it refers to (padding included: it repeats
    /// pixels of its group), 0 elsewhere; and for each group the column blocks of its pixels (a band starts at a row,
    /// so a band offset mod cols is the column).
    /// </summary>
    private (byte[] Referenced, ulong[] GroupColumns) MatrixReads()
    {
        var m = tiled;
        var flags = GC.AllocateArray<byte>(Rows * Cols, pinned: true);
        var blocks = new ulong[m.Groups];
        for (var g = 0; g < m.Groups; g++)
        {
            var origin = m.GroupTile[g] * m.TilePixels;
            var set = 0UL;
            for (var j = m.GroupStart[g]; j < m.GroupStart[g + 1]; j++)
            {
                flags[origin + m.Local[j]] = 0xFF;
                set |= 1UL << ColumnBlock(m.Local[j] % Cols, Cols);
            }

            blocks[g] = set;
        }

        return (flags, blocks);
    }

    /// <summary>Kernel flavours: <see cref="Checked"/> tests every value against the kept range, <see cref="Unchecked"/> knows they all are.</summary>
    private struct Checked;

    private struct Unchecked;

    /// <summary>
    /// One group (eight bins) for four frames: per step eight 8-byte loads (a pixel of all four frames each), the
    /// single-frame kernel's validity test, Σw·raw and Σw²·max(raw, 1) in float32 fused multiply-adds, in 2 × 16
    /// lanes (bin l, frame f at l·4 + f). Returns the (bin, frame) lanes that met an excluded value, bit l·4 + f.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static uint GroupFour<TPixel, TCheck>(long* band, ushort* local, float* wts, int steps, int lo, int hi,
        out Vector512<float> sLow, out Vector512<float> sHigh, out Vector512<float> vLow, out Vector512<float> vHigh)
        where TPixel : unmanaged
        where TCheck : struct
    {
        Vector512<float> sl = default, sh = default, vl = default, vh = default;
        var okLow = Vector512<int>.AllBitsSet;
        var okHigh = okLow;
        var lo32 = Vector512.Create(lo);
        var above = Vector512.Create(hi + 1);
        var one = Vector512.Create(1f);
        var spreadLow = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        var spreadHigh = Vector512.Create(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
        for (var step = 0; step < steps; step++, local += TiledMatrix.Lanes, wts += TiledMatrix.Lanes)
        {
            // Built from its lower half, so no step waits on the previous step's register.
            var q = Avx512F.InsertVector256(
                Vector256.Create(Vector128.Create(band[local[0]], band[local[1]]), Vector128.Create(band[local[2]], band[local[3]])).ToVector512Unsafe(),
                Vector256.Create(Vector128.Create(band[local[4]], band[local[5]]), Vector128.Create(band[local[6]], band[local[7]])), 1);
            Vector512<int> rl, rh;
            if (typeof(TPixel) == typeof(short))
            {
                rl = Avx512BW.ConvertToVector512Int32(q.AsInt16().GetLower());
                rh = Avx512BW.ConvertToVector512Int32(q.AsInt16().GetUpper());
            }
            else
            {
                rl = Avx512BW.ConvertToVector512Int32(q.AsUInt16().GetLower());
                rh = Avx512BW.ConvertToVector512Int32(q.AsUInt16().GetUpper());
            }

            var w = Vector256.Load(wts).ToVector512Unsafe();
            var wl = Avx512F.PermuteVar16x32(w, spreadLow);
            var wh = Avx512F.PermuteVar16x32(w, spreadHigh);
            var fl = Avx512F.ConvertToVector512Single(rl);
            var fh = Avx512F.ConvertToVector512Single(rh);
            if (typeof(TCheck) == typeof(Checked))
            {
                // lo ≤ raw ≤ hi ⇔ the sign bit of (raw − (hi + 1)) & ~(raw − lo): plain integer operations, because an
                // AVX-512 compare gives a mask register that costs more to turn back into a vector here (≈ 30 %).
                var validLow = Vector512.AndNot(rl - above, rl - lo32);
                var validHigh = Vector512.AndNot(rh - above, rh - lo32);
                okLow &= validLow;
                okHigh &= validHigh;
                wl &= Vector512.ShiftRightArithmetic(validLow, 31).AsSingle();
                wh &= Vector512.ShiftRightArithmetic(validHigh, 31).AsSingle();
            }

            sl = Avx512F.FusedMultiplyAdd(wl, fl, sl);
            sh = Avx512F.FusedMultiplyAdd(wh, fh, sh);
            vl = Avx512F.FusedMultiplyAdd(wl * wl, Avx512F.Max(fl, one), vl);
            vh = Avx512F.FusedMultiplyAdd(wh * wh, Avx512F.Max(fh, one), vh);
        }

        sLow = sl;
        sHigh = sh;
        vLow = vl;
        vHigh = vh;
        return ~((uint)okLow.ExtractMostSignificantBits() | ((uint)okHigh.ExtractMostSignificantBits() << 16));
    }
}
