using System.Globalization;

namespace Anvil.Pressure;

/// <summary>One DIHKL line of a .jcpds card: ambient d-spacing (Å), relative intensity, Miller indices (0 when left out).</summary>
public sealed record JcpdsLine(double D, double Intensity, int H, int K, int L);

/// <summary>
/// The one reader of DIOPTAS's .jcpds text: <c>KEY: value</c> lines, the first of each key kept (VERSION, COMMENT, K0,
/// K0P, SYMMETRY, A, C, ALPHAT, …), and every <c>DIHKL: d I h k l</c> line in order. What the keys mean is for the
/// caller: <see cref="JcpdsFile"/> makes a pressure marker of it, the results console draws its lines.
/// </summary>
public sealed record JcpdsCard(IReadOnlyDictionary<string, string> Values, IReadOnlyList<JcpdsLine> Lines)
{
    /// <summary>The VERSION line's number, or 0 without one.</summary>
    public int Version => Values.TryGetValue("VERSION", out var v) && int.TryParse(v.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;

    /// <summary>The COMMENT line, or null.</summary>
    public string? Comment => Values.TryGetValue("COMMENT", out var c) && c.Length > 0 ? c : null;

    /// <summary>Reads the text; a DIHKL line without a positive d and an intensity throws <see cref="FormatException"/>.</summary>
    public static JcpdsCard Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var lines = new List<JcpdsLine>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (!key.Equals("DIHKL", StringComparison.OrdinalIgnoreCase))
            {
                values.TryAdd(key, value);
                continue;
            }

            var parts = value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || !(d > 0) ||
                !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var intensity))
            {
                throw new FormatException($"bad DIHKL line '{line}': expected d I h k l");
            }

            int Index(int i) => parts.Length > i && int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
            lines.Add(new JcpdsLine(d, intensity, Index(2), Index(3), Index(4)));
        }

        return new JcpdsCard(values, lines);
    }
}
