using System.Globalization;

namespace Anvil.Pressure;

/// <summary>Crystal structures of markers, with their reflection conditions.</summary>
public enum Structure
{
    /// <summary>Face-centred cubic (Au, Pt, Cu, Ag; rock salt B1 has the same conditions): h, k, l all odd or all even.</summary>
    Fcc,

    /// <summary>Body-centred cubic (Mo, W): h + k + l even.</summary>
    Bcc,

    /// <summary>Primitive cubic (CsCl-type B2): every hkl.</summary>
    SimpleCubic,

    /// <summary>Hexagonal with a fixed c/a ratio (a single reflection cannot give two lattice parameters).</summary>
    Hexagonal,
}

/// <summary>Miller indices.</summary>
public readonly record struct Hkl(int H, int K, int L)
{
    /// <summary>Parses "111", "200", "1 1 1", "1,1,1" or "-1 1 1"; three single digits may be written together.</summary>
    public static Hkl Parse(string text)
    {
        var parts = text.Split([' ', ',', ';'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 1 && parts[0].Length == 3 && parts[0].All(char.IsDigit))
        {
            parts = [parts[0][..1], parts[0][1..2], parts[0][2..]];
        }

        if (parts.Length != 3 || !parts.All(p => int.TryParse(p, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)))
        {
            throw new FormatException($"'{text}' is not a reflection: write hkl as 111, 200 or '1 1 1'");
        }

        var hkl = new Hkl(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
        if (hkl is { H: 0, K: 0, L: 0 })
        {
            throw new FormatException("000 is not a reflection");
        }

        return hkl;
    }

    public override string ToString() =>
        H is >= 0 and <= 9 && K is >= 0 and <= 9 && L is >= 0 and <= 9
            ? string.Create(CultureInfo.InvariantCulture, $"{H}{K}{L}")
            : string.Create(CultureInfo.InvariantCulture, $"{H} {K} {L}");
}

/// <summary>
/// Geometry of a marker's unit cell: d-spacing of a reflection from the lattice parameter a, and the unit-cell volume
/// from a. For hexagonal cells c = <see cref="CoverA"/>·a throughout.
/// </summary>
public sealed record Lattice(Structure Structure, double CoverA = 0)
{
    /// <summary>a / d for reflection <paramref name="hkl"/>: d = a / <c>Shape(hkl)</c>. Throws for a reflection the structure forbids.</summary>
    public double Shape(Hkl hkl)
    {
        var (h, k, l) = (hkl.H, hkl.K, hkl.L);
        switch (Structure)
        {
            case Structure.Fcc:
                var parity = Math.Abs(h % 2) + Math.Abs(k % 2) + Math.Abs(l % 2);
                if (parity is 1 or 2)
                {
                    throw new ArgumentException($"reflection {hkl} is forbidden in an fcc lattice (h, k, l must be all odd or all even).");
                }

                return Math.Sqrt((h * h) + (k * k) + (l * l));
            case Structure.Bcc:
                if ((h + k + l) % 2 != 0)
                {
                    throw new ArgumentException($"reflection {hkl} is forbidden in a bcc lattice (h + k + l must be even).");
                }

                return Math.Sqrt((h * h) + (k * k) + (l * l));
            case Structure.SimpleCubic:
                return Math.Sqrt((h * h) + (k * k) + (l * l));
            default:
                if (!(CoverA > 0))
                {
                    throw new ArgumentException("a hexagonal marker needs its c/a ratio.");
                }

                // 1/d² = 4/3 (h² + hk + k²)/a² + l²/c²
                return Math.Sqrt((4.0 / 3.0 * ((h * h) + (h * k) + (k * k))) + (l * l / (CoverA * CoverA)));
        }
    }

    /// <summary>Unit-cell volume (Å³) for lattice parameter a (Å).</summary>
    public double Volume(double a) => Structure == Structure.Hexagonal ? Math.Sqrt(3) / 2 * CoverA * a * a * a : a * a * a;

    /// <summary>Lattice parameter a (Å) of a cell of volume <paramref name="v"/> (Å³).</summary>
    public double LatticeParameter(double v) => Structure == Structure.Hexagonal ? Math.Cbrt(v / (Math.Sqrt(3) / 2 * CoverA)) : Math.Cbrt(v);

    /// <summary>d-spacing (Å) of <paramref name="hkl"/> in a cell of volume <paramref name="v"/>.</summary>
    public double DSpacing(Hkl hkl, double v) => LatticeParameter(v) / Shape(hkl);

    /// <summary>Unit-cell volume from the d-spacing of <paramref name="hkl"/>.</summary>
    public double VolumeFromD(Hkl hkl, double d) => Volume(d * Shape(hkl));
}

/// <summary>Bragg's law: 2θ (degrees) ↔ d (Å) at wavelength λ (Å).</summary>
public static class Bragg
{
    /// <summary>d = λ / (2 sin θ).</summary>
    public static double DSpacing(double twoThetaDeg, double wavelength) => wavelength / (2 * Math.Sin(twoThetaDeg * Math.PI / 360));

    /// <summary>2θ (degrees) of spacing d; NaN when λ > 2d (the reflection cannot be reached).</summary>
    public static double TwoTheta(double d, double wavelength)
    {
        var s = wavelength / (2 * d);
        return s is > 0 and <= 1 ? 2 * Math.Asin(s) * 180 / Math.PI : double.NaN;
    }

    /// <summary>σ_d from σ_2θ (degrees): |dd/d2θ| = d·cot θ / 2 per radian of 2θ.</summary>
    public static double DSpacingError(double twoThetaDeg, double twoThetaErrorDeg, double wavelength)
    {
        var theta = twoThetaDeg * Math.PI / 360;
        return DSpacing(twoThetaDeg, wavelength) / Math.Tan(theta) * 0.5 * (twoThetaErrorDeg * Math.PI / 180);
    }
}
