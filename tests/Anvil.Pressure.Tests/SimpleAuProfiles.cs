namespace Anvil.Pressure.Tests;

/// <summary>
/// An independent simulator for the end-to-end checks (deliberately not Anvil.Pipeline's PowderModel and not the
/// library's own equation of state): gold's 111 and 200 reflections as bin-averaged Gaussians on a sloping
/// background, Poisson noise, following a pressure history P(frame). Truth: Fei et al. 2007's Vinet scale for Au
/// (V0 67.850 Å³, K0 167 GPa, K0′ 6.00), inverted here by plain bisection.
/// </summary>
public sealed class SimpleAuProfiles
{
    private const double V0 = 67.850;
    private const double K0 = 167.0;
    private const double K0Prime = 6.00;
    private const int SubSamples = 16;
    private readonly Random random;

    public SimpleAuProfiles(int seed, double height, double background = 20)
    {
        random = new Random(seed);
        Height = height;
        Background = background;
        Radial = Enumerable.Range(0, Bins).Select(i => AxisLo + ((i + 0.5) * BinWidth)).ToArray();
    }

    public const double Wavelength = 0.2906;
    public const double AxisLo = 6.0;
    public const double BinWidth = 0.004;
    public const int Bins = 750;
    public const double Fwhm = 0.03;

    public double Height { get; }

    public double Background { get; }

    /// <summary>Bin centres, 2θ degrees (6.002 … 8.998).</summary>
    public double[] Radial { get; }

    /// <summary>2θ (degrees) of Au hkl at pressure p (GPa).</summary>
    public static double TwoTheta(double p, double hklSquared)
    {
        var v = Volume(p);
        var d = Math.Cbrt(v) / Math.Sqrt(hklSquared);
        return 2 * Math.Asin(Wavelength / (2 * d)) * 180 / Math.PI;
    }

    /// <summary>One noisy profile at pressure p: counts per bin (and σ = √max(y, 1)).</summary>
    public (double[] Y, double[] Sigma) Profile(double p)
    {
        var c111 = TwoTheta(p, 3);
        var c200 = TwoTheta(p, 4);
        var s = Fwhm / (2 * Math.Sqrt(2 * Math.Log(2)));
        var y = new double[Bins];
        var sigma = new double[Bins];
        for (var i = 0; i < Bins; i++)
        {
            var mean = 0.0;
            for (var k = 0; k < SubSamples; k++)
            {
                var x = AxisLo + ((i + ((k + 0.5) / SubSamples)) * BinWidth);
                mean += (Height * Math.Exp(-0.5 * Sq((x - c111) / s))) + (0.5 * Height * Math.Exp(-0.5 * Sq((x - c200) / s)));
            }

            var x0 = Radial[i];
            var expected = (mean / SubSamples) + (Background * (1 + (0.1 * (x0 - 7.5))));
            y[i] = Poisson(expected);
            sigma[i] = Math.Sqrt(Math.Max(y[i], 1));
        }

        return (y, sigma);
    }

    private static double Sq(double v) => v * v;

    private static double Pressure(double v)
    {
        var x = Math.Cbrt(v / V0);
        return 3 * K0 * (1 - x) / (x * x) * Math.Exp(1.5 * (K0Prime - 1) * (1 - x));
    }

    private static double Volume(double p)
    {
        double lo = 0.3 * V0, hi = 1.1 * V0;
        for (var i = 0; i < 200; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (Pressure(mid) > p)
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

    private double Poisson(double mean)
    {
        if (mean < 50)
        {
            // Knuth: multiply uniforms until the product falls below e^−mean.
            var limit = Math.Exp(-mean);
            var k = 0;
            var product = random.NextDouble();
            while (product > limit)
            {
                k++;
                product *= random.NextDouble();
            }

            return k;
        }

        // Normal approximation with the same mean and variance (skew ~1/√mean is negligible here).
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        var z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return Math.Max(0, Math.Round(mean + (Math.Sqrt(mean) * z)));
    }
}
