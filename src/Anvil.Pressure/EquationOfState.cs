using System.Globalization;

namespace Anvil.Pressure;

/// <summary>The isothermal equation-of-state forms offered.</summary>
public enum EosForm
{
    /// <summary>Third-order Birch–Murnaghan.</summary>
    BirchMurnaghan3,

    /// <summary>Vinet (Rydberg–Vinet).</summary>
    Vinet,
}

/// <summary>
/// An isothermal equation of state P(V) with V0 (Å³ per unit cell), K0 (GPa) and K0′. Construction refuses
/// parameters that cannot describe a solid (V0 ≤ 0, K0 ≤ 0, K0′ outside (0, 20), non-finite values), so a
/// wrong marker definition is an error, never a wrong pressure.
/// </summary>
public sealed class EquationOfState
{
    public EquationOfState(EosForm form, double v0, double k0, double k0Prime)
    {
        if (!double.IsFinite(v0) || v0 <= 0)
        {
            throw new ArgumentException($"V0 must be a positive volume in Å³, not {v0.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (!double.IsFinite(k0) || k0 <= 0)
        {
            throw new ArgumentException($"K0 must be a positive bulk modulus in GPa, not {k0.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (!double.IsFinite(k0Prime) || k0Prime <= 0 || k0Prime >= 20)
        {
            throw new ArgumentException($"K0′ must lie in (0, 20) (typical solids: 3–8), not {k0Prime.ToString(CultureInfo.InvariantCulture)}.");
        }

        Form = form;
        V0 = v0;
        K0 = k0;
        K0Prime = k0Prime;
    }

    public EosForm Form { get; }

    /// <summary>Unit-cell volume at zero pressure, Å³.</summary>
    public double V0 { get; }

    /// <summary>Isothermal bulk modulus at zero pressure, GPa.</summary>
    public double K0 { get; }

    /// <summary>Its pressure derivative (dimensionless).</summary>
    public double K0Prime { get; }

    /// <summary>"vinet" or "bm3".</summary>
    public string FormName => Form == EosForm.Vinet ? "vinet" : "bm3";

    /// <summary>Parses "vinet" or "bm3" (also "birch-murnaghan").</summary>
    public static EosForm ParseForm(string text) => text.Trim().ToLowerInvariant() switch
    {
        "vinet" => EosForm.Vinet,
        "bm3" or "birch-murnaghan" or "birch-murnaghan3" => EosForm.BirchMurnaghan3,
        _ => throw new FormatException($"unknown equation of state '{text}': use vinet or bm3"),
    };

    /// <summary>Pressure (GPa) at unit-cell volume <paramref name="v"/> (Å³).</summary>
    public double Pressure(double v)
    {
        if (!(v > 0))
        {
            return double.NaN;
        }

        if (Form == EosForm.Vinet)
        {
            // P = 3K0 (1 − x)/x² · exp(1.5 (K0′ − 1)(1 − x)), x = (V/V0)^(1/3)
            var x = Math.Cbrt(v / V0);
            return 3 * K0 * (1 - x) / (x * x) * Math.Exp(1.5 * (K0Prime - 1) * (1 - x));
        }

        // P = 3/2 K0 (η^7 − η^5)(1 + 3/4 (K0′ − 4)(η² − 1)), η = (V0/V)^(1/3)
        var eta = Math.Cbrt(V0 / v);
        var eta2 = eta * eta;
        var eta5 = eta2 * eta2 * eta;
        var eta7 = eta5 * eta2;
        return 1.5 * K0 * (eta7 - eta5) * (1 + (0.75 * (K0Prime - 4) * (eta2 - 1)));
    }

    /// <summary>Isothermal bulk modulus K = −V dP/dV (GPa) at <paramref name="v"/>, by a central difference.</summary>
    public double BulkModulus(double v)
    {
        var h = v * 1e-6;
        return -v * (Pressure(v + h) - Pressure(v - h)) / (2 * h);
    }

    /// <summary>
    /// Volume (Å³) at pressure <paramref name="p"/> (GPa): the root of P(V) − p, bracketed on [0.25 V0, 1.25 V0] and
    /// refined by bisection with secant steps (Illinois) to 1e-13 V0. Throws when p lies outside the bracket
    /// (beyond ~×4 compression or at a tension the form cannot reach).
    /// </summary>
    public double Volume(double p)
    {
        if (!double.IsFinite(p))
        {
            throw new ArgumentException("pressure must be finite.");
        }

        double lo = 0.25 * V0, hi = 1.25 * V0;
        var flo = Pressure(lo) - p;
        var fhi = Pressure(hi) - p;
        if (!(flo >= 0 && fhi <= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, $"no volume in [0.25 V0, 1.25 V0] gives {p} GPa for this equation of state.");
        }

        var side = 0;
        for (var i = 0; i < 200; i++)
        {
            var mid = ((lo * fhi) - (hi * flo)) / (fhi - flo);
            if (!(mid > lo && mid < hi))
            {
                mid = 0.5 * (lo + hi);
            }

            var f = Pressure(mid) - p;
            if (f == 0 || hi - lo < 1e-13 * V0)
            {
                return mid;
            }

            if (f > 0)
            {
                lo = mid;
                flo = f;
                if (side == -1)
                {
                    fhi /= 2;
                }

                side = -1;
            }
            else
            {
                hi = mid;
                fhi = f;
                if (side == 1)
                {
                    flo /= 2;
                }

                side = 1;
            }
        }

        return 0.5 * (lo + hi);
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{FormName}: V0 {V0} Å³, K0 {K0} GPa, K0′ {K0Prime}");
}
