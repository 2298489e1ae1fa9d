namespace Anvil.Pressure;

/// <summary>Pressure from one reflection's 2θ, with 1σ errors propagated from the position's standard error.</summary>
public sealed record PressureReading(double DSpacing, double DSpacingError, double Volume, double Pressure, double PressureError);

/// <summary>
/// A marker reflection at a wavelength: 2θ → d (Bragg) → unit-cell volume (lattice) → P (equation of state).
/// Errors: σ_d = d·cot θ·σ_θ; σ_V = 3V·σ_d/d (cubic, and hexagonal at fixed c/a); σ_P = K(V)·σ_V/V with K = −V dP/dV.
/// Only the peak position's statistical error is propagated; the wavelength and the EOS parameters are taken as exact.
/// </summary>
public sealed class PressureGauge
{
    public PressureGauge(Marker marker, Hkl reflection, EquationOfState eos, double wavelength)
    {
        if (!double.IsFinite(wavelength) || wavelength <= 0 || wavelength > 10)
        {
            throw new ArgumentException($"the wavelength must be in Å (0 < λ ≤ 10), not {wavelength}.");
        }

        Marker = marker;
        Reflection = reflection;
        Eos = eos;
        Wavelength = wavelength;
        _ = marker.Lattice.Shape(reflection); // refuses a forbidden reflection now
    }

    public Marker Marker { get; }

    public Hkl Reflection { get; }

    public EquationOfState Eos { get; }

    /// <summary>Å.</summary>
    public double Wavelength { get; }

    /// <summary>2θ (degrees) of the reflection at pressure <paramref name="p"/> (GPa); NaN when out of reach of λ.</summary>
    public double TwoThetaAt(double p) => Bragg.TwoTheta(Marker.Lattice.DSpacing(Reflection, Eos.Volume(p)), Wavelength);

    public PressureReading Read(double twoThetaDeg, double twoThetaErrorDeg)
    {
        var d = Bragg.DSpacing(twoThetaDeg, Wavelength);
        var dError = Bragg.DSpacingError(twoThetaDeg, twoThetaErrorDeg, Wavelength);
        var v = Marker.Lattice.VolumeFromD(Reflection, d);
        var p = Eos.Pressure(v);
        var vError = 3 * v * dError / d;
        var pError = Eos.BulkModulus(v) * vError / v;
        return new PressureReading(d, dError, v, p, pError);
    }
}
