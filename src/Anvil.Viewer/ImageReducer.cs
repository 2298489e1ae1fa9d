namespace Anvil.Viewer;

/// <summary>How many source cells become one pixel.</summary>
public enum ReduceMode
{
    /// <summary>The mean of the finite values (smooth, what the eye expects of an overview).</summary>
    Mean,

    /// <summary>The maximum (a single hot frame or sharp peak never disappears when zoomed out).</summary>
    Max,
}

/// <summary>A reduced image: <see cref="Height"/> × <see cref="Width"/> values, row-major, NaN where no data.</summary>
public sealed record ReducedImage(int Width, int Height, int FirstRow, int EndRow, float[] Values, float Min, float Max);

/// <summary>
/// Reduces frames × bins to what is on screen: rows are frames [first, end) split evenly over the output height,
/// columns are given as fractional bin-index edges (so the x axis can be linear in any unit, and d runs backwards).
/// Each pixel aggregates the source cells it covers (mean or max); when zoomed in past the data's resolution each
/// pixel takes the nearest cell. The work is proportional to the cells on screen, never to the whole file.
/// </summary>
public static class ImageReducer
{
    /// <summary>Reduces <paramref name="matrix"/> rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) to <paramref name="height"/> rows.</summary>
    public static ReducedImage Reduce(FrameMatrix matrix, int firstRow, int endRow, IReadOnlyList<double> columnEdges, int height, ReduceMode mode)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(columnEdges);
        var width = columnEdges.Count - 1;
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        firstRow = Math.Clamp(firstRow, 0, matrix.Rows);
        endRow = Math.Clamp(endRow, firstRow, matrix.Rows);
        var span = endRow - firstRow;
        height = Math.Max(0, Math.Min(height, span));
        var values = new float[width * height];
        if (height == 0)
        {
            return new ReducedImage(width, 0, firstRow, endRow, values, float.NaN, float.NaN);
        }

        // Zoomed out so far that every pixel row covers at least one coarse block: read the coarse level (block means,
        // or maxima) instead of every cell. Means of block means equal the exact means wherever the blocks are whole
        // and fully finite; a pixel row's borders move to block borders (at most one block, ~0.1 % of the frames).
        if (matrix.Coarse is { } coarse && span >= (long)coarse.RowBlock * height)
        {
            var level = mode == ReduceMode.Max ? coarse.Max : coarse.Mean;
            var first = firstRow / coarse.RowBlock;
            var end = Math.Min(level.Rows, (endRow + coarse.RowBlock - 1) / coarse.RowBlock);
            var edges = columnEdges.Select(e => e / coarse.ColBlock).ToArray();
            var reduced = Reduce(level, first, end, edges, height, mode);
            return reduced with { FirstRow = firstRow, EndRow = endRow };
        }

        // Bin ranges per output column, once.
        var lo = new int[width];
        var hi = new int[width];
        for (var c = 0; c < width; c++)
        {
            var a = Math.Min(columnEdges[c], columnEdges[c + 1]);
            var b = Math.Max(columnEdges[c], columnEdges[c + 1]);
            if (double.IsNaN(a) || double.IsNaN(b))
            {
                lo[c] = hi[c] = -1;
                continue;
            }

            var first = (int)Math.Floor(a);
            var last = (int)Math.Ceiling(b) - 1;
            if (last < first)
            {
                last = first;
            }

            first = Math.Max(first, 0);
            last = Math.Min(last, matrix.Columns - 1);
            (lo[c], hi[c]) = first > last ? (-1, -1) : (first, last);
        }

        Parallel.For(0, height, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, r =>
        {
            var r0 = firstRow + (int)((long)r * span / height);
            var r1 = firstRow + (int)((long)(r + 1) * span / height);
            var sums = new double[width];
            var counts = new int[width];
            var maxima = new float[width];
            Array.Fill(maxima, float.NegativeInfinity);
            for (var row = r0; row < Math.Max(r1, r0 + 1); row++)
            {
                var data = matrix.Row(row);
                if (data.IsEmpty)
                {
                    continue;
                }

                for (var c = 0; c < width; c++)
                {
                    if (lo[c] < 0)
                    {
                        continue;
                    }

                    for (var k = lo[c]; k <= hi[c]; k++)
                    {
                        var v = data[k];
                        if (float.IsFinite(v))
                        {
                            sums[c] += v;
                            counts[c]++;
                            if (v > maxima[c])
                            {
                                maxima[c] = v;
                            }
                        }
                    }
                }
            }

            var output = values.AsSpan(r * width, width);
            for (var c = 0; c < width; c++)
            {
                output[c] = counts[c] == 0 ? float.NaN : mode == ReduceMode.Max ? maxima[c] : (float)(sums[c] / counts[c]);
            }
        });

        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (float.IsFinite(v))
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }

        return new ReducedImage(width, height, firstRow, endRow, values, float.IsFinite(min) ? min : float.NaN, float.IsFinite(max) ? max : float.NaN);
    }

    /// <summary>
    /// Column edges (fractional bin indices) for <paramref name="width"/> pixels spanning [<paramref name="from"/>,
    /// <paramref name="to"/>] in <paramref name="unit"/>, over a 2θ axis of evenly spaced bin centres.
    /// </summary>
    public static double[] ColumnEdges(RadialAxis axis, RadialUnit unit, double from, double to, int width)
    {
        ArgumentNullException.ThrowIfNull(axis);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        var edges = new double[width + 1];
        for (var c = 0; c <= width; c++)
        {
            var value = from + ((to - from) * c / width);
            edges[c] = axis.BinIndex(axis.ToTwoTheta(value, unit));
        }

        return edges;
    }
}
