using System.Globalization;

namespace Anvil.Viewer;

/// <summary>Text exports of profiles and whole acquisitions.</summary>
public static class Exports
{
    /// <summary>
    /// One profile as DIOPTAS saves a pattern (.xy): <c>#</c> header lines, the last naming the columns
    /// (<c># 2th_deg	 I</c>, <c># q_A^-1	 I</c>, …), then two space-separated columns. Values are written
    /// round-trippably (x as double, I as float), so reading the file back gives the stored numbers exactly.
    /// NaN bins (masked, no pixels) are left out, as DIOPTAS's own export has none.
    /// </summary>
    public static void WriteXy(TextWriter writer, IReadOnlyList<double> x, ReadOnlySpan<float> intensity, RadialUnit unit, IEnumerable<string> header)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(header);
        foreach (var line in header)
        {
            writer.Write("# ");
            writer.WriteLine(line);
        }

        writer.WriteLine("#");
        writer.WriteLine($"# {unit.Name()}\t I");
        var order = Enumerable.Range(0, x.Count);
        if (unit.Descending())
        {
            order = order.Reverse();
        }

        foreach (var i in order)
        {
            if (!float.IsFinite(intensity[i]) || !double.IsFinite(x[i]))
            {
                continue;
            }

            writer.Write(x[i].ToString("R", CultureInfo.InvariantCulture));
            writer.Write(' ');
            writer.WriteLine(intensity[i].ToString("R", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// A whole acquisition as CSV: a first row <c>frame,x1,x2,…</c> (the radial values),
    /// then one row per frame (empty cells where there is no data).
    /// </summary>
    public static void WriteCsv(TextWriter writer, IReadOnlyList<double> x, FrameMatrix matrix, IReadOnlyList<long> frameNumbers)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(frameNumbers);
        writer.Write("frame");
        foreach (var value in x)
        {
            writer.Write(',');
            writer.Write(value.ToString("R", CultureInfo.InvariantCulture));
        }

        writer.WriteLine();
        for (var row = 0; row < matrix.Rows; row++)
        {
            writer.Write(row < frameNumbers.Count ? frameNumbers[row] : row + 1);
            var data = matrix.Row(row);
            for (var i = 0; i < x.Count; i++)
            {
                writer.Write(',');
                if (!data.IsEmpty && float.IsFinite(data[i]))
                {
                    writer.Write(data[i].ToString("R", CultureInfo.InvariantCulture));
                }
            }

            writer.WriteLine();
        }

    }
}
