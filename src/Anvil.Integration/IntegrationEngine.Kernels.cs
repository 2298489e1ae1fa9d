using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Anvil.Integration;

/// <summary>
/// The single-frame kernels, one per path: <c>Generic</c> (any frame type, dark, flat; float64 sums), <c>Tiled16</c>
/// (16-bit frames over the tiled matrix, AVX2 or scalar groups) and <c>PixelMajor16</c> (no-split, exact integer sums).
/// Each sums one part (thread) of the fixed chunks into the per-call state (<c>IntegrationEngine.Sums.cs</c>).
/// </summary>
public sealed unsafe partial class IntegrationEngine
{
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
}
