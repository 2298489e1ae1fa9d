namespace Anvil.Viewer;

/// <summary>The radial axes the viewer shows. Result files always store 2θ in degrees; the others are computed.</summary>
public enum RadialUnit
{
    /// <summary>Scattering angle 2θ in degrees (<c>2th_deg</c>).</summary>
    TwoThetaDeg,

    /// <summary>Momentum transfer q in inverse ångström (<c>q_A^-1</c>).</summary>
    QPerAngstrom,

    /// <summary>Momentum transfer q in inverse nanometres (<c>q_nm^-1</c>).</summary>
    QPerNanometre,

    /// <summary>Lattice spacing d in ångström (<c>d_A</c>).</summary>
    DAngstrom,
}

/// <summary>
/// Conversions between 2θ, q and d for a wavelength λ: q = 4π sin θ / λ, d = λ / (2 sin θ) = 2π / q.
/// Names follow pyFAI/DIOPTAS (<c>2th_deg</c>, <c>q_A^-1</c>, <c>q_nm^-1</c>, <c>d_A</c>).
/// </summary>
public static class RadialUnits
{
    /// <summary>Every unit with its pyFAI-style name.</summary>
    public static IReadOnlyList<(RadialUnit Unit, string Name)> All { get; } =
    [
        (RadialUnit.TwoThetaDeg, "2th_deg"),
        (RadialUnit.QPerAngstrom, "q_A^-1"),
        (RadialUnit.QPerNanometre, "q_nm^-1"),
        (RadialUnit.DAngstrom, "d_A"),
    ];

    /// <summary>Parses a unit name; throws <see cref="FormatException"/> naming the accepted ones.</summary>
    public static RadialUnit Parse(string? name) =>
        TryParse(name, out var unit)
            ? unit
            : throw new FormatException($"unknown unit '{name}': use one of {string.Join(", ", All.Select(u => u.Name))}");

    /// <summary>Parses a unit name.</summary>
    public static bool TryParse(string? name, out RadialUnit unit)
    {
        foreach (var (u, n) in All)
        {
            if (string.Equals(n, name, StringComparison.Ordinal))
            {
                unit = u;
                return true;
            }
        }

        unit = RadialUnit.TwoThetaDeg;
        return false;
    }

    /// <summary>The pyFAI-style name.</summary>
    public static string Name(this RadialUnit unit) => All.First(u => u.Unit == unit).Name;

    /// <summary>An axis label, e.g. "q (Å⁻¹)".</summary>
    public static string Label(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => "2θ (°)",
        RadialUnit.QPerAngstrom => "q (Å⁻¹)",
        RadialUnit.QPerNanometre => "q (nm⁻¹)",
        _ => "d (Å)",
    };

    /// <summary>True when the unit needs the wavelength.</summary>
    public static bool NeedsWavelength(this RadialUnit unit) => unit != RadialUnit.TwoThetaDeg;

    /// <summary>Converts 2θ in degrees to <paramref name="unit"/>; <paramref name="wavelengthAngstrom"/> is λ in Å.</summary>
    public static double FromTwoTheta(double twoThetaDeg, RadialUnit unit, double wavelengthAngstrom)
    {
        if (unit == RadialUnit.TwoThetaDeg)
        {
            return twoThetaDeg;
        }

        var sinTheta = Math.Sin(twoThetaDeg * Math.PI / 360.0);
        return unit switch
        {
            RadialUnit.QPerAngstrom => 4 * Math.PI * sinTheta / wavelengthAngstrom,
            RadialUnit.QPerNanometre => 40 * Math.PI * sinTheta / wavelengthAngstrom,
            _ => sinTheta <= 0 ? double.PositiveInfinity : wavelengthAngstrom / (2 * sinTheta),
        };
    }

    /// <summary>Converts a value in <paramref name="unit"/> back to 2θ in degrees (NaN when no angle gives it).</summary>
    public static double ToTwoTheta(double value, RadialUnit unit, double wavelengthAngstrom)
    {
        var sinTheta = unit switch
        {
            RadialUnit.TwoThetaDeg => Math.Sin(value * Math.PI / 360.0),
            RadialUnit.QPerAngstrom => value * wavelengthAngstrom / (4 * Math.PI),
            RadialUnit.QPerNanometre => value * wavelengthAngstrom / (40 * Math.PI),
            _ => wavelengthAngstrom / (2 * value),
        };
        if (unit == RadialUnit.TwoThetaDeg)
        {
            return value;
        }

        return sinTheta is < 0 or > 1 || double.IsNaN(sinTheta) ? double.NaN : 360.0 / Math.PI * Math.Asin(sinTheta);
    }

    /// <summary>True when larger 2θ means a smaller value in the unit (d).</summary>
    public static bool Descending(this RadialUnit unit) => unit == RadialUnit.DAngstrom;
}
