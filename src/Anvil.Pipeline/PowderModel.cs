namespace Anvil.Pipeline;

/// <summary>One Bragg reflection at a given frame: the truth the simulator draws and tests check.</summary>
public sealed record Reflection(string Phase, string Hkl, double DSpacingAngstrom, double TwoThetaDeg, double Amplitude);

/// <summary>
/// A compression ramp as a dynamic DAC run sees it: a gold pressure marker whose fcc rings move to higher
/// 2θ as pressure rises (third-order Birch–Murnaghan equation of state), and a high-pressure phase whose
/// rings appear and grow from the middle of the run.
/// </summary>
public sealed class PowderModel
{
    // Gold: a0 = 4.0782 Å, K0 = 167 GPa, K0' = 5.9 (a common Au pressure scale).
    private const double GoldA0 = 4.0782;
    private const double GoldK0 = 167.0;
    private const double GoldK0Prime = 5.9;
    private static readonly (string Hkl, double Inverse, double Amplitude)[] GoldLines =
    [
        ("111", Math.Sqrt(3), 120), ("200", 2, 60), ("220", Math.Sqrt(8), 40), ("311", Math.Sqrt(11), 42), ("222", Math.Sqrt(12), 15),
    ];

    // A hexagonal high-pressure phase (d-spacings at its onset), compressing more slowly than gold.
    private static readonly (string Hkl, double D0, double Amplitude)[] NewPhaseLines =
    [
        ("100", 2.62, 50), ("002", 2.47, 35), ("101", 2.31, 70), ("102", 1.80, 28), ("110", 1.51, 32),
    ];

    /// <summary>Creates the model of a ramp from 0 to <paramref name="maxPressureGpa"/>.</summary>
    public PowderModel(double wavelengthAngstrom, int frames, double maxPressureGpa = 60)
    {
        WavelengthAngstrom = wavelengthAngstrom;
        Frames = frames;
        MaxPressureGpa = maxPressureGpa;
    }

    public double WavelengthAngstrom { get; }

    public int Frames { get; }

    public double MaxPressureGpa { get; }

    /// <summary>Gaussian ring width (σ, degrees 2θ).</summary>
    public double RingSigmaDeg { get; init; } = 0.018;

    /// <summary>Pressure at 1-based <paramref name="frame"/> (a linear ramp).</summary>
    public double PressureGpa(int frame) => MaxPressureGpa * (frame - 1) / Math.Max(1, Frames - 1);

    /// <summary>The reflections visible at <paramref name="frame"/> (1-based).</summary>
    public IReadOnlyList<Reflection> Reflections(int frame)
    {
        var p = PressureGpa(frame);
        var a = GoldA0 * Math.Cbrt(VolumeRatio(p));
        var list = new List<Reflection>();
        foreach (var (hkl, inverse, amplitude) in GoldLines)
        {
            Add(list, "Au", hkl, a / inverse, amplitude);
        }

        // The new phase nucleates at half the run and reaches full strength at three quarters.
        var onset = (Frames / 2) + 1;
        if (frame >= onset)
        {
            var growth = Math.Min(1.0, (frame - onset + 1) / (Frames / 4.0));
            var strain = 1.0 - (0.0012 * (p - PressureGpa(onset)));
            foreach (var (hkl, d0, amplitude) in NewPhaseLines)
            {
                Add(list, "HP", hkl, d0 * strain, amplitude * growth);
            }
        }

        return list;
    }

    /// <summary>Background counts at 2θ (degrees): a slowly decaying diffuse term.</summary>
    public static double Background(double twoThetaDeg) => 0.4 + (6.0 * Math.Exp(-twoThetaDeg / 6.0));

    /// <summary>Expected counts at 2θ for a frame's reflections.</summary>
    public double Intensity(IReadOnlyList<Reflection> reflections, double twoThetaDeg)
    {
        var y = Background(twoThetaDeg);
        foreach (var r in reflections)
        {
            var x = (twoThetaDeg - r.TwoThetaDeg) / RingSigmaDeg;
            if (Math.Abs(x) < 8)
            {
                y += r.Amplitude * Math.Exp(-0.5 * x * x);
            }
        }

        return y;
    }

    // Third-order Birch–Murnaghan: solve P(V/V0) = p by bisection (monotonic in V).
    private static double VolumeRatio(double pressure)
    {
        double lo = 0.5, hi = 1.0;
        for (var i = 0; i < 60; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (BirchMurnaghan(mid) > pressure)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return 0.5 * (lo + hi);
    }

    private static double BirchMurnaghan(double v)
    {
        var x = Math.Pow(v, -1.0 / 3.0);
        var x2 = x * x;
        return 1.5 * GoldK0 * (Math.Pow(x, 7) - Math.Pow(x, 5)) * (1 + (0.75 * (GoldK0Prime - 4) * (x2 - 1)));
    }

    private void Add(List<Reflection> list, string phase, string hkl, double d, double amplitude)
    {
        var s = WavelengthAngstrom / (2 * d);
        if (s < 1)
        {
            list.Add(new Reflection(phase, hkl, d, 2 * Math.Asin(s) * 180 / Math.PI, amplitude));
        }
    }
}
