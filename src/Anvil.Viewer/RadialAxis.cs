namespace Anvil.Viewer;

/// <summary>Thrown when a unit needs a wavelength the acquisition does not have (its PONI is missing or has none).</summary>
public sealed class UnitNotSupportedException(string message) : Exception(message);

/// <summary>
/// The radial axis of an acquisition: bin centres in 2θ degrees (what result files and profiles store, evenly
/// spaced) and the wavelength from the PONI, when known, to express it in q or d.
/// </summary>
public sealed class RadialAxis
{
    private readonly double[] twoTheta;

    public RadialAxis(double[] twoThetaDeg, double? wavelengthAngstrom, string wavelengthSource = "")
    {
        ArgumentNullException.ThrowIfNull(twoThetaDeg);
        if (twoThetaDeg.Length == 0)
        {
            throw new ArgumentException("An axis needs at least one bin.", nameof(twoThetaDeg));
        }

        twoTheta = twoThetaDeg;
        WavelengthAngstrom = wavelengthAngstrom is > 0 ? wavelengthAngstrom : null;
        WavelengthSource = wavelengthSource;
        Step = twoThetaDeg.Length > 1 ? (twoThetaDeg[^1] - twoThetaDeg[0]) / (twoThetaDeg.Length - 1) : 1;
    }

    /// <summary>Bin centres, 2θ in degrees.</summary>
    public IReadOnlyList<double> TwoTheta => twoTheta;

    /// <summary>Bins.</summary>
    public int Count => twoTheta.Length;

    /// <summary>λ in Å, or null when unknown.</summary>
    public double? WavelengthAngstrom { get; }

    /// <summary>Where the wavelength came from, or why there is none.</summary>
    public string WavelengthSource { get; }

    /// <summary>Bin width in 2θ degrees.</summary>
    public double Step { get; }

    /// <summary>The units this axis can be shown in.</summary>
    public IEnumerable<RadialUnit> Units => RadialUnits.All.Select(u => u.Unit).Where(u => !u.NeedsWavelength() || WavelengthAngstrom is not null);

    /// <summary>Fails with a clear message when <paramref name="unit"/> needs a wavelength this axis lacks.</summary>
    public void Require(RadialUnit unit)
    {
        if (unit.NeedsWavelength() && WavelengthAngstrom is null)
        {
            throw new UnitNotSupportedException($"{unit.Name()} needs the X-ray wavelength, and this acquisition has none ({WavelengthSource}); use 2th_deg.");
        }
    }

    /// <summary>Bin centres in <paramref name="unit"/>.</summary>
    public double[] Values(RadialUnit unit)
    {
        Require(unit);
        return twoTheta.Select(t => RadialUnits.FromTwoTheta(t, unit, WavelengthAngstrom ?? 1)).ToArray();
    }

    /// <summary>2θ (degrees) of <paramref name="value"/> in <paramref name="unit"/>.</summary>
    public double ToTwoTheta(double value, RadialUnit unit)
    {
        Require(unit);
        return RadialUnits.ToTwoTheta(value, unit, WavelengthAngstrom ?? 1);
    }

    /// <summary><paramref name="twoThetaDeg"/> in <paramref name="unit"/>.</summary>
    public double FromTwoTheta(double twoThetaDeg, RadialUnit unit)
    {
        Require(unit);
        return RadialUnits.FromTwoTheta(twoThetaDeg, unit, WavelengthAngstrom ?? 1);
    }

    /// <summary>The axis's extent in <paramref name="unit"/> (bin edges), low to high.</summary>
    public (double Min, double Max) Range(RadialUnit unit)
    {
        var a = FromTwoTheta(Math.Max(twoTheta[0] - (Step / 2), 1e-9), unit);
        var b = FromTwoTheta(twoTheta[^1] + (Step / 2), unit);
        return (Math.Min(a, b), Math.Max(a, b));
    }

    /// <summary>Fractional bin-edge index of 2θ: bin i spans [i, i + 1).</summary>
    public double BinIndex(double twoThetaDeg) => double.IsNaN(twoThetaDeg) ? double.NaN : ((twoThetaDeg - twoTheta[0]) / Step) + 0.5;
}
