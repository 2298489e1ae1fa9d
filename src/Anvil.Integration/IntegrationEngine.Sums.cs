using System.Numerics;

namespace Anvil.Integration;

/// <summary>
/// Per-call state: the chunk and part sums the kernels fill, merged into a result in a fixed order, and the rules that
/// decide per frame which pixel values are excluded (with their 16-bit tables and kept ranges, computed once per engine).
/// </summary>
public sealed unsafe partial class IntegrationEngine
{
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
