using Anvil.Pressure;

namespace Anvil.Viewer;

/// <summary>One reflection of a phase: lattice spacing in Å, relative intensity (0–100) and Miller indices.</summary>
public sealed record Reflection(double D, double Intensity, int H, int K, int L);

/// <summary>A phase whose reflections are drawn as lines on the profile and heatmap.</summary>
public sealed record Phase(string Name, IReadOnlyList<Reflection> Reflections);

/// <summary>Built-in calibrants and pressure markers, and DIOPTAS's .jcpds files.</summary>
public static class Phases
{
    // Cubic cells at ambient conditions (Å): fcc metals, rock salts and fluorite obey the fcc rule (h, k, l all
    // even or all odd); LaB6 is primitive cubic. Values are the usual calibrant/marker constants (LaB6 NIST SRM 660c).
    private static readonly (string Name, double A, bool Fcc)[] Cubic =
    [
        ("Au", 4.0782, true),
        ("Pt", 3.9242, true),
        ("NaCl", 5.6402, true),
        ("MgO", 4.2112, true),
        ("CeO2", 5.4116, true),
        ("LaB6", 4.15683, false),
    ];

    /// <summary>Names of the built-in phases.</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } = Cubic.Select(c => c.Name).ToArray();

    /// <summary>A built-in phase by name (case-insensitive), or null.</summary>
    public static Phase? BuiltIn(string name)
    {
        foreach (var (n, a, fcc) in Cubic)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
            {
                return new Phase(n, CubicReflections(a, fcc, maxSquare: 48));
            }
        }

        return null;
    }

    /// <summary>
    /// Reflections of a cubic cell with lattice constant <paramref name="a"/> (Å): one per distinct h² + k² + l²
    /// up to <paramref name="maxSquare"/>, d = a / √(h² + k² + l²). Intensities are not modelled (100 each).
    /// </summary>
    public static IReadOnlyList<Reflection> CubicReflections(double a, bool fcc, int maxSquare)
    {
        var seen = new HashSet<int>();
        var list = new List<Reflection>();
        var max = (int)Math.Ceiling(Math.Sqrt(maxSquare));
        for (var h = 0; h <= max; h++)
        {
            for (var k = 0; k <= h; k++)
            {
                for (var l = 0; l <= k; l++)
                {
                    var s = (h * h) + (k * k) + (l * l);
                    if (s == 0 || s > maxSquare)
                    {
                        continue;
                    }

                    if (fcc && !((h % 2 == 0 && k % 2 == 0 && l % 2 == 0) || (h % 2 == 1 && k % 2 == 1 && l % 2 == 1)))
                    {
                        continue;
                    }

                    if (seen.Add(s))
                    {
                        list.Add(new Reflection(a / Math.Sqrt(s), 100, h, k, l));
                    }
                }
            }
        }

        return list.OrderByDescending(r => r.D).ToList();
    }

    /// <summary>
    /// Reads a DIOPTAS .jcpds file with the one .jcpds reader (<see cref="JcpdsCard"/>, Anvil.Pressure): one line per
    /// <c>DIHKL: d I h k l</c>, <c>COMMENT:</c> names the phase. The tabulated ambient d-spacings are drawn as they are
    /// (no equation of state; `anvil pressure --jcpds` uses the card's K0 and K0′).
    /// </summary>
    public static Phase ParseJcpds(string text, string fallbackName)
    {
        var card = JcpdsCard.Parse(text);
        if (card.Lines.Count == 0)
        {
            throw new FormatException(card.Version is > 0 and < 4
                ? $"jcpds version {card.Version} is not supported (only version 4, as DIOPTAS writes it)"
                : "no DIHKL reflections: not a version 4 .jcpds file");
        }

        return new Phase(card.Comment ?? fallbackName, card.Lines.Select(l => new Reflection(l.D, l.Intensity, l.H, l.K, l.L)).ToList());
    }
}
