using System.Runtime.InteropServices;

namespace Anvil.Integration;

/// <summary>
/// Builds pyFAI's CSR matrix (bins × pixels) for no/bbox/full splitting: per-pixel geometry in parallel,
/// then two passes over contiguous pixel chunks (count per bin, then fill) so every bin lists its pixels in
/// ascending order, which is pyFAI's summation order.
/// </summary>
internal sealed class CsrBuilder
{
    private readonly Geometry geometry;
    private readonly int rows, cols, npt;
    private readonly byte[]? mask;
    private readonly IntegrationSettings settings;
    private readonly PixelGeometry pg;
    private readonly double[] centre;
    private readonly double[]? chi;
    private readonly float[]? cornerRadial;
    private readonly float[]? cornerChi;
    private readonly double[]? dpos;
    private readonly bool[] valid;
    private readonly bool[] unmasked;
    private readonly double azLo, azHi;
    private double delta;

    public CsrBuilder(Geometry geometry, int rows, int cols, byte[]? mask, IntegrationSettings settings)
    {
        this.geometry = geometry;
        this.rows = rows;
        this.cols = cols;
        this.mask = mask;
        this.settings = settings;
        npt = settings.Npt;
        pg = new PixelGeometry(geometry, settings.Unit);
        var n = rows * cols;
        centre = new double[n];
        Norm = new float[n];
        valid = new bool[n];
        unmasked = new bool[n];
        var needChi = settings.AzimuthRange is not null;
        chi = needChi ? new double[n] : null;
        if (settings.AzimuthRange is { } az)
        {
            // As pyFAI's normalize_azimuth_range: a range whose end folds below its start wraps past π.
            azLo = AzimuthRadians(az.Lo);
            azHi = AzimuthRadians(az.Hi);
            if (azHi <= azLo)
            {
                azHi += 2 * Math.PI;
            }
        }

        if (settings.Method != SplitMethod.No)
        {
            cornerRadial = new float[(rows + 1) * (cols + 1)];
            if (settings.Method == SplitMethod.Full || needChi)
            {
                cornerChi = new float[(rows + 1) * (cols + 1)];
            }

            if (settings.Method == SplitMethod.BBox)
            {
                dpos = new double[n];
            }
        }
    }

    /// <summary>Per-pixel normalisation: polarisation · solid angle as a float32 product (1 when both are off).</summary>
    public float[] Norm { get; }

    public double Lo { get; private set; }
    public double Hi { get; private set; }

    /// <summary>Wall-clock time of each build phase, for <see cref="IntegrationEngine.BuildPhases"/>.</summary>
    public List<(string Phase, TimeSpan Time)> Phases { get; } = [];

    public TiledMatrix Build()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ComputeGeometry();
        Phases.Add(("pixel geometry", clock.Elapsed));
        clock.Restart();
        ComputeRange();
        delta = (Hi - Lo) / npt;
        Phases.Add(("radial range", clock.Elapsed));
        clock.Restart();
        var matrix = Assemble();
        Phases.Add(("matrix", clock.Elapsed));
        return matrix;
    }

    private void ComputeGeometry()
    {
        var pol = settings.PolarizationFactor;
        var sa = settings.CorrectSolidAngle;
        Parallel.For(0, rows, i =>
        {
            var p1 = pg.CentreP1(i);
            for (var j = 0; j < cols; j++)
            {
                var k = i * cols + j;
                var p2 = pg.CentreP2(j);
                pg.TwoTheta(p1, p2, out var tth, out var cos2Tth, out var cos2Chi);
                centre[k] = pg.Radial(tth);
                if (chi is not null)
                {
                    pg.Angles(p1, p2, out _, out chi[k]);
                }

                var nrm = 1f;
                if (pol is { } f)
                {
                    nrm = PixelGeometry.Polarization(cos2Tth, cos2Chi, f);
                }

                if (sa)
                {
                    nrm = pol is null ? (float)pg.SolidAngle(p1, p2) : nrm * (float)pg.SolidAngle(p1, p2);
                }

                Norm[k] = nrm;
            }
        });
        if (cornerRadial is not null)
        {
            var w = cols + 1;
            Parallel.For(0, rows + 1, i =>
            {
                var e1 = pg.EdgeP1(i);
                for (var j = 0; j <= cols; j++)
                {
                    if (cornerChi is not null)
                    {
                        pg.Angles(e1, pg.EdgeP2(j), out var tth, out var ch);
                        cornerRadial[i * w + j] = (float)pg.Radial(tth);
                        cornerChi[i * w + j] = (float)ch;
                    }
                    else
                    {
                        pg.TwoTheta(e1, pg.EdgeP2(j), out var tth, out _, out _);
                        cornerRadial[i * w + j] = (float)pg.Radial(tth);
                    }
                }
            });
        }

        Parallel.For(0, rows, i =>
        {
            for (var j = 0; j < cols; j++)
            {
                var k = i * cols + j;
                if (dpos is not null)
                {
                    double c = centre[k], d = 0;
                    foreach (var corner in Corners(i, j))
                    {
                        d = Math.Max(d, Math.Abs(cornerRadial![corner] - c));
                    }

                    dpos[k] = d;
                }

                unmasked[k] = mask is null || mask[k] == 0;
                valid[k] = unmasked[k] && InAzimuthRange(i, j, k);
            }
        });
    }

    // Corner order A=(i,j), B=(i+1,j), C=(i+1,j+1), D=(i,j+1) as in pyFAI's corner arrays.
    private (int A, int B, int C, int D) CornerIndex(int i, int j)
    {
        var w = cols + 1;
        return (i * w + j, (i + 1) * w + j, (i + 1) * w + j + 1, i * w + j + 1);
    }

    private int[] Corners(int i, int j)
    {
        var (a, b, c, d) = CornerIndex(i, j);
        return [a, b, c, d];
    }

    private bool InAzimuthRange(int i, int j, int k)
    {
        if (chi is null)
        {
            return true;
        }

        switch (settings.Method)
        {
            case SplitMethod.No:
                return chi[k] >= azLo && chi[k] <= azHi;
            case SplitMethod.BBox:
                {
                    double dc = 0;
                    foreach (var corner in Corners(i, j))
                    {
                        // Across χ = ±π the corner is 2π away on paper but next door on the detector.
                        var diff = Math.Abs(cornerChi![corner] - chi[k]);
                        dc = Math.Max(dc, Math.Min(diff, 2 * Math.PI - diff));
                    }

                    return chi[k] + dc >= azLo && chi[k] - dc <= azHi;
                }

            default:
                {
                    // pyFAI 0.21: the recentred corners' χ span against [lo, upper bound of hi).
                    var (a, b, c, d) = CornerIndex(i, j);
                    var cr = cornerRadial!;
                    var cc = cornerChi!;
                    double a1 = cc[a], b1 = cc[b], c1 = cc[c], d1 = cc[d];
                    Recenter(cr[a], ref a1, cr[b], ref b1, cr[c], ref c1, cr[d], ref d1);
                    var lo = Math.Min(Math.Min(a1, b1), Math.Min(c1, d1));
                    var hi = Math.Max(Math.Max(a1, b1), Math.Max(c1, d1));
                    return hi >= azLo && lo < UpperBound(azHi);
                }
        }
    }

    /// <summary>pyFAI's calc_upper_bound: the range's maximum nudged up by one float32 epsilon.</summary>
    private static double UpperBound(double max) => max > 0 ? max * Eps32 : max / Eps32;

    /// <summary>
    /// pyFAI's degrees → radians for the azimuth range (utils.mathutil.deg2rad with the discontinuity at π):
    /// (deg / 180) mod 2 folded into [−1, 1), times π.
    /// </summary>
    private static double AzimuthRadians(double deg)
    {
        var r = deg / 180.0 % 2.0;
        if (r < 0)
        {
            r += 2.0;
        }

        if (r >= 1.0)
        {
            r -= 2.0;
        }

        return r * Math.PI;
    }

    private void ComputeRange()
    {
        if (settings.RadialRange is { } range)
        {
            (Lo, Hi) = settings.Unit.ToInternalRange(range.Lo, range.Hi);
            Hi *= Eps32;
            return;
        }

        // Min/max over unmasked pixels: centres (no), centre ± half extent clipped at 0 (bbox), corners (full).
        // The azimuth range does not narrow it (pyFAI 0.21 takes the radial range from every unmasked pixel).
        var parts = Environment.ProcessorCount * 4;
        var mins = new double[parts];
        var maxs = new double[parts];
        Parallel.For(0, parts, p =>
        {
            double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
            for (var i = p * rows / parts; i < (p + 1) * rows / parts; i++)
            {
                for (var j = 0; j < cols; j++)
                {
                    var k = i * cols + j;
                    if (!unmasked[k])
                    {
                        continue;
                    }

                    switch (settings.Method)
                    {
                        case SplitMethod.No:
                            lo = Math.Min(lo, centre[k]);
                            hi = Math.Max(hi, centre[k]);
                            break;
                        case SplitMethod.BBox:
                            lo = Math.Min(lo, centre[k] - dpos![k]);
                            hi = Math.Max(hi, centre[k] + dpos![k]);
                            break;
                        default:
                            foreach (var corner in Corners(i, j))
                            {
                                lo = Math.Min(lo, cornerRadial![corner]);
                                hi = Math.Max(hi, cornerRadial![corner]);
                            }

                            break;
                    }
                }
            }

            mins[p] = lo;
            maxs[p] = hi;
        });
        var min = mins.Min();
        var max = maxs.Max();
        if (!double.IsFinite(min))
        {
            throw new InvalidOperationException("every pixel is masked: nothing to integrate.");
        }

        Lo = settings.Method == SplitMethod.No ? min : Math.Max(0.0, min);
        Hi = max * Eps32;
    }

    private const double Eps32 = 1.0 + 1.0 / 8388608.0;

    /// <summary>First and last bin a pixel contributes to; false when it contributes to none.</summary>
    private bool BinSpan(int k, out int first, out int last)
    {
        first = last = 0;
        if (!valid[k])
        {
            return false;
        }

        switch (settings.Method)
        {
            case SplitMethod.No:
                {
                    var f = (centre[k] - Lo) / delta;
                    if (!(f > -1.0 && f < npt))
                    {
                        return false;
                    }

                    first = last = (int)f; // truncation toward zero, like pyFAI's C cast
                    return true;
                }

            case SplitMethod.BBox:
                {
                    var f0 = (centre[k] - dpos![k] - Lo) / delta;
                    var f1 = (centre[k] + dpos![k] - Lo) / delta;
                    var b0 = Trunc(f0);
                    var b1 = Trunc(f1);
                    if (b1 < 0 || b0 >= npt)
                    {
                        return false;
                    }

                    first = (int)Math.Max(b0, 0);
                    last = (int)Math.Min(b1, npt - 1);
                    return true;
                }

            default:
                {
                    var (min0, max0) = FullBinExtent(k);
                    if (max0 < 0 || min0 >= npt)
                    {
                        return false;
                    }

                    first = (int)Math.Max(Math.Floor(min0), 0);
                    last = (int)Math.Min(Math.Floor(max0), npt - 1);
                    return true;
                }
        }
    }

    private static long Trunc(double f) => f >= long.MaxValue ? long.MaxValue : f <= long.MinValue ? long.MinValue : (long)f;

    private (double Min, double Max) FullBinExtent(int k)
    {
        var (a, b, c, d) = CornerIndex(k / cols, k % cols);
        var cr = cornerRadial!;
        double a0 = (cr[a] - Lo) / delta, b0 = (cr[b] - Lo) / delta, c0 = (cr[c] - Lo) / delta, d0 = (cr[d] - Lo) / delta;
        return (Math.Min(Math.Min(a0, b0), Math.Min(c0, d0)), Math.Max(Math.Max(a0, b0), Math.Max(c0, d0)));
    }

    /// <summary>Coefficients of pixel k over bins first..last (bbox: overlap / extent; full: polygon area share).</summary>
    private void Coefficients(int k, int first, int last, Span<float> w, Span<float> buffer)
    {
        if (first == last)
        {
            w[0] = 1f;
            return;
        }

        if (settings.Method == SplitMethod.BBox)
        {
            var f0 = (centre[k] - dpos![k] - Lo) / delta;
            var f1 = (centre[k] + dpos![k] - Lo) / delta;
            var inv = 1.0 / (f1 - f0);
            for (var b = first; b <= last; b++)
            {
                w[b - first] = (float)(b == first ? inv * (first + 1 - f0) : b == last ? inv * (f1 - last) : inv);
            }

            return;
        }

        FullSplit(k, first, last, w, buffer);
    }

    /// <summary>
    /// Full splitting, pyFAI 0.21.3's arithmetic step for step (splitpixel_common: FullSplitIntegrator.calc_lut_1d),
    /// so the float32 coefficients come out bit for bit: the pixel is the quadrilateral ABCD in (radial bin, χ)
    /// space, corners from the float32 corner array widened to float64, χ recentred across ±π
    /// (<see cref="Recenter"/>), bin coordinates absolute ((x − Lo) / δ, not relative to the pixel). Each edge's
    /// ∫ χ dx is added per unit-wide column into a **float32** buffer (pyFAI's buffer_t), one rounding per edge and
    /// column, in the order AB, BC, CD, DA; the in-range columns are summed in float64 and each share is
    /// column / sum (signed: both carry the orientation's sign), rounded to float32.
    /// </summary>
    private void FullSplit(int k, int first, int last, Span<float> w, Span<float> buffer)
    {
        var (a, b, c, d) = CornerIndex(k / cols, k % cols);
        var cr = cornerRadial!;
        var cc = cornerChi!;
        double a1 = cc[a], b1 = cc[b], c1 = cc[c], d1 = cc[d];
        Recenter(cr[a], ref a1, cr[b], ref b1, cr[c], ref c1, cr[d], ref d1);
        double a0 = (cr[a] - Lo) / delta, b0 = (cr[b] - Lo) / delta;
        double c0 = (cr[c] - Lo) / delta, d0 = (cr[d] - Lo) / delta;
        var span = last - first + 1;
        // Every column an edge can touch lies in first..last: the pixel's own bins, clipped to the range.
        var buf = buffer[..span];
        buf.Clear();
        Edge(buf, first, npt, a0, a1, b0, b1);
        Edge(buf, first, npt, b0, b1, c0, c1);
        Edge(buf, first, npt, c0, c1, d0, d1);
        Edge(buf, first, npt, d0, d1, a0, a1);
        // Shares are normalised by the in-range area (pyFAI 0.21): a pixel reaching past the range still sums to 1.
        double sum = 0;
        for (var s = 0; s < span; s++)
        {
            sum += buf[s];
        }

        var inv = 1.0 / sum;
        for (var s = 0; s < span; s++)
        {
            w[s] = (float)(buf[s] * inv);
        }
    }

    /// <summary>pyFAI's χ-discontinuity threshold: its <c>pi</c> constant is float32.</summary>
    private static readonly double PiF = (float)Math.PI;

    /// <summary>
    /// pyFAI 0.21's test for a pixel on the χ = ±π discontinuity, kept as it is: the sign of
    /// ½·(c0 − a0)(d1 − b1) − (c1 − a1)(d0 − b0) (the ½ applies to the first product only). pyFAI expects it
    /// negative for an ordinary pixel; a positive value flags a crossed one: then every negative χ gets 2π added
    /// and, if the mean of the four is above (float32) π, all four get 2π taken off again.
    /// </summary>
    private static void Recenter(double a0, ref double a1, double b0, ref double b1, double c0, ref double c1, double d0, ref double d1)
    {
        if (!(0.5 * ((c0 - a0) * (d1 - b1)) - ((c1 - a1) * (d0 - b0)) > 0))
        {
            return;
        }

        a1 = Unwrap(a1);
        b1 = Unwrap(b1);
        c1 = Unwrap(c1);
        d1 = Unwrap(d1);
        if (0.25 * (a1 + b1 + c1 + d1) > PiF)
        {
            a1 -= 2 * Math.PI;
            b1 -= 2 * Math.PI;
            c1 -= 2 * Math.PI;
            d1 -= 2 * Math.PI;
        }
    }

    private static double Unwrap(double chi) => chi < 0 ? chi + 2 * Math.PI : chi;

    /// <summary>
    /// Adds ∫ y dx of the segment (x0,y0)→(x1,y1) to each unit-wide column [i, i + 1) it crosses, i in [0, n),
    /// signed by direction, as pyFAI 0.21's _integrate1d does: slope and intercept from the absolute coordinates,
    /// each piece (xb − xa)·(½·slope·(xb + xa) + intercept) in float64, added to the float32 column (rounded
    /// once per add). Column i is held at buf[i − offset].
    /// </summary>
    private static void Edge(Span<float> buf, int offset, int n, double x0, double y0, double x1, double y1)
    {
        if (x1 == x0)
        {
            return;
        }

        var i0 = (long)Math.Floor(x0);
        var i1 = (long)Math.Floor(x1);
        var slope = (y1 - y0) / (x1 - x0);
        var intercept = y0 - slope * x0;
        if (i1 == i0 && i0 >= 0 && i1 < n)
        {
            Add(buf, i0 - offset, Piece(x0, x1, slope, intercept));
        }
        else if (x1 > x0)
        {
            if (x0 >= 0 && x0 < n)
            {
                Add(buf, i0 - offset, Piece(x0, Math.Floor(x0 + 1), slope, intercept));
            }

            for (var i = Math.Max(i0 + 1, 0); i < Math.Min(i1, n); i++)
            {
                Add(buf, i - offset, Piece(i, i + 1, slope, intercept));
            }

            if (x1 >= 0 && x1 < n)
            {
                Add(buf, i1 - offset, Piece(i1, x1, slope, intercept));
            }
        }
        else
        {
            if (x0 >= 0 && x0 < n)
            {
                Add(buf, i0 - offset, Piece(x0, i0, slope, intercept));
            }

            for (var i = Math.Min(i0, n) - 1; i > Math.Max(i1, -1); i--)
            {
                Add(buf, i - offset, Piece(i + 1, i, slope, intercept));
            }

            if (x1 >= 0 && x1 < n)
            {
                Add(buf, i1 - offset, Piece(Math.Floor(x1 + 1), x1, slope, intercept));
            }
        }
    }

    private static double Piece(double xa, double xb, double slope, double intercept) =>
        (xb - xa) * (0.5 * slope * (xb + xa) + intercept);

    private static void Add(Span<float> buf, long column, double value) => buf[(int)column] = (float)(buf[(int)column] + value);

    /// <summary>
    /// Two passes over bands of rows (count per bin, then fill), straight into the tiled layout: within a band each
    /// bin's pixels come out ascending, as in pyFAI's CSR rows.
    /// </summary>
    private TiledMatrix Assemble()
    {
        var tileRows = TiledMatrix.RowsPerTile(cols);
        var tilePixels = tileRows * cols;
        var tiles = (rows + tileRows - 1) / tileRows;
        var n = rows * cols;
        var counts = new int[tiles][];
        var maxSpan = new int[tiles];
        Parallel.For(0, tiles, t =>
        {
            var cnt = counts[t] = new int[npt];
            for (int k = t * tilePixels, end = Math.Min(n, (t + 1) * tilePixels); k < end; k++)
            {
                if (BinSpan(k, out var first, out var last))
                {
                    for (var b = first; b <= last; b++)
                    {
                        cnt[b]++;
                    }

                    maxSpan[t] = Math.Max(maxSpan[t], last - first + 1);
                }
            }
        });

        // Groups band by band, blocks of 8 bins ascending; counts[t][b] becomes the next free entry of lane (t, b),
        // which then advances by one step (8 entries) per pixel.
        const int lanes = TiledMatrix.Lanes;
        var entriesPerBin = new int[npt];
        var groupBin = new List<int>();
        var groupTile = new List<int>();
        var groupStart = new List<int>();
        var laneLength = new List<int>();
        long total = 0;
        for (var t = 0; t < tiles; t++)
        {
            var cnt = counts[t];
            for (var b0 = 0; b0 < npt; b0 += lanes)
            {
                var steps = 0;
                for (var b = b0; b < Math.Min(npt, b0 + lanes); b++)
                {
                    steps = Math.Max(steps, cnt[b]);
                }

                if (steps == 0)
                {
                    continue;
                }

                groupBin.Add(b0);
                groupTile.Add(t);
                groupStart.Add(checked((int)total));
                for (var lane = 0; lane < lanes; lane++)
                {
                    var b = b0 + lane;
                    var c = b < npt ? cnt[b] : 0;
                    laneLength.Add(c);
                    if (b < npt)
                    {
                        entriesPerBin[b] += c;
                        cnt[b] = (int)total + lane;
                    }
                }

                total += (long)steps * lanes;
            }
        }

        groupStart.Add(checked((int)total));
        var local = GC.AllocateUninitializedArray<ushort>(checked((int)total), pinned: true);
        // No-split coefficients are 1 (as pyFAI's CSR data): the SIMD kernels then sum no-split frames too.
        var unit = settings.Method == SplitMethod.No;
        var weights = GC.AllocateUninitializedArray<float>((int)total, pinned: true);
        var widest = Math.Max(1, maxSpan.Max());
        Parallel.For(0, tiles, t =>
        {
            var off = counts[t];
            var w = new float[widest];
            var buffer = new float[widest];
            var origin = t * tilePixels;
            for (int k = origin, end = Math.Min(n, (t + 1) * tilePixels); k < end; k++)
            {
                if (!BinSpan(k, out var first, out var last))
                {
                    continue;
                }

                if (!unit)
                {
                    Coefficients(k, first, last, w, buffer);
                }

                for (var b = first; b <= last; b++)
                {
                    var pos = off[b];
                    off[b] += lanes;
                    local[pos] = (ushort)(k - origin);
                    weights[pos] = unit ? 1f : w[b - first];
                }
            }
        });
        // Padding: coefficient 0, so a vector step over it adds nothing, and the offset of a pixel the lane (or, for
        // an empty lane, the group) already holds, so a padding entry is excluded only when a real one is: pointing it
        // anywhere else (a gap pixel at −1, say) would flag the lane for the slow exclusion path on every frame.
        Parallel.For(0, groupBin.Count, g =>
        {
            var start = groupStart[g];
            var steps = (groupStart[g + 1] - start) / lanes;
            var any = -1;
            for (var lane = 0; lane < lanes && any < 0; lane++)
            {
                any = laneLength[(g * lanes) + lane] > 0 ? local[start + lane] : -1;
            }

            for (var lane = 0; lane < lanes; lane++)
            {
                var length = laneLength[(g * lanes) + lane];
                var pad = (ushort)(length > 0 ? local[start + ((length - 1) * lanes) + lane] : any);
                for (var step = length; step < steps; step++)
                {
                    local[start + (step * lanes) + lane] = pad;
                    weights[start + (step * lanes) + lane] = 0f;
                }
            }
        });
        return new TiledMatrix(tileRows, tilePixels, CollectionsMarshal.AsSpan(groupBin), CollectionsMarshal.AsSpan(groupTile),
            CollectionsMarshal.AsSpan(groupStart), CollectionsMarshal.AsSpan(laneLength), local, weights, entriesPerBin);
    }
}
