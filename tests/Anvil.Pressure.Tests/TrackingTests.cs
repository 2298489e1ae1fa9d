using System.Globalization;
using Xunit.Abstractions;

namespace Anvil.Pressure.Tests;

/// <summary>
/// End to end without files: profiles from <see cref="SimpleAuProfiles"/> (an independent model) following a known
/// P(t), tracked and converted with the built-in Au scale; accuracy against the truth, and whether the stated errors
/// are honest, at several count levels.
/// </summary>
public sealed class TrackingTests(ITestOutputHelper output)
{
    private static readonly Hkl Au111 = new(1, 1, 1);

    // A history with a ramp and an oscillation: 5 → 35 GPa over 300 frames, ±3 GPa every 40 frames.
    private static double History(int frame) => 5 + (30.0 * frame / 300) + (3 * Math.Sin(2 * Math.PI * frame / 40));

    [Theory]
    [InlineData(10000)]
    [InlineData(1000)]
    [InlineData(300)]
    [InlineData(100)]
    [InlineData(50)]
    public void StatedErrors_AreHonestAtEveryCountLevel(double height)
    {
        var stats = Run(height, PeakShape.PseudoVoigt, seed: (int)height);
        output.WriteLine(stats.ToString());

        // The stated error is 1σ: honest errors cover 68.3 % of frames at 1σ and 95.4 % at 2σ. With 300 frames the
        // binomial spread is ±2.7 % and ±1.2 %, so each level is held to 3 spreads; the ≥ 95 % check is on the pooled frames.
        Assert.True(stats.OkFraction >= 0.95, $"only {stats.OkFraction:P1} of frames tracked");
        Assert.InRange(stats.Within1Sigma, 0.60, 0.77);
        Assert.True(stats.Within2Sigma >= 0.92, $"{stats.Within2Sigma:P1} of frames within 2σ");
        Assert.True(Math.Abs(stats.Bias) < 3 * stats.Rms / Math.Sqrt(300 * stats.OkFraction), $"bias {stats.Bias} GPa");
    }

    [Fact]
    public void Pressure_IsWithinTwiceItsStatedErrorOn95PercentOfFrames()
    {
        // All five count levels together (1500 frames, binomial spread ±0.5 %): the acceptance check.
        var all = new[] { 10000.0, 1000, 300, 100, 50 }.Select(h => Run(h, PeakShape.PseudoVoigt, seed: (int)h)).ToArray();
        var tracked = all.Sum(s => s.OkFraction * 300);
        var within = all.Sum(s => s.Within2Sigma * s.OkFraction * 300);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{within:F0} of {tracked:F0} tracked frames within 2σ ({within / tracked:P2})"));
        Assert.True(within / tracked >= 0.95, $"{within / tracked:P2}");
    }

    [Fact]
    public void Precision_ImprovesAsTheSquareRootOfCounts()
    {
        var low = Run(100, PeakShape.PseudoVoigt, seed: 7);
        var high = Run(10000, PeakShape.PseudoVoigt, seed: 8);
        output.WriteLine(low.ToString());
        output.WriteLine(high.ToString());

        // 100× the counts: ~10× better at high counts over the background (√100); at least 5× here, at most 20×.
        Assert.InRange(low.Rms / high.Rms, 5, 20);
        Assert.InRange(low.MedianError / high.MedianError, 5, 20);
    }

    [Fact]
    public void GaussianModel_TracksAsWell()
    {
        var stats = Run(1000, PeakShape.Gaussian, seed: 3);
        output.WriteLine(stats.ToString());
        Assert.True(stats.Within2Sigma >= 0.95);
    }

    [Fact]
    public void CompressionDecompressionRampTo71Gpa_ComesBackWithItsShape()
    {
        // 800 frames: 0 → 71 GPa over the first 400, back to 0 over the last 400.
        static double Ramp(int f) => f < 400 ? 71.0 * f / 399 : 71.0 * (799 - f) / 399;
        var sim = new SimpleAuProfiles(seed: 71, height: 1000);
        var gauge = new PressureGauge(Markers.Get("Au"), Au111, Markers.Get("Au").DefaultScale.Create(), SimpleAuProfiles.Wavelength);
        var start = SimpleAuProfiles.TwoTheta(0, 3);
        var tracker = new MarkerTracker(start - 0.15, start + 0.15);
        var p = new double[800];
        var truth = new double[800];
        for (var f = 0; f < 800; f++)
        {
            truth[f] = Ramp(f);
            var (y, s) = sim.Profile(truth[f]);
            var fit = tracker.Next(sim.Radial, y, s);
            Assert.True(fit.Ok, $"frame {f} at {truth[f]:F1} GPa lost: {fit.Reason}");
            p[f] = gauge.Read(fit.Position, fit.PositionError).Pressure;
        }

        var peak = Array.IndexOf(p, p.Max());
        var rise = Slope(p, 0, 400);
        var fall = Slope(p, 400, 800);
        var rms = Math.Sqrt(p.Zip(truth, (a, b) => (a - b) * (a - b)).Average());
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ramp: max {p.Max():F2} GPa at frame {peak}, slopes {rise:F4} / {fall:F4} GPa/frame (truth ±{71.0 / 399:F4}), rms {rms:F3} GPa"));
        Assert.InRange(peak, 395, 404);
        Assert.InRange(p.Max(), 70, 72.5);
        Assert.Equal(71.0 / 399, rise, 0.002);
        Assert.Equal(-71.0 / 399, fall, 0.002);
        Assert.True(rms < 0.5, $"rms {rms}");
        Assert.True(Math.Abs(p[0]) < 1 && Math.Abs(p[799]) < 1);
    }

    private static double Slope(double[] p, int from, int to)
    {
        var n = to - from;
        var mx = (from + to - 1) / 2.0;
        var my = p[from..to].Average();
        double sxy = 0, sxx = 0;
        for (var i = from; i < to; i++)
        {
            sxy += (i - mx) * (p[i] - my);
            sxx += (i - mx) * (i - mx);
        }

        return sxy / sxx / (n > 0 ? 1 : 1);
    }

    internal static Stats Run(double height, PeakShape shape, int seed)
    {
        const int frames = 300;
        var sim = new SimpleAuProfiles(seed, height);
        var marker = Markers.Get("Au");
        var gauge = new PressureGauge(marker, Au111, marker.DefaultScale.Create(), SimpleAuProfiles.Wavelength);
        var start = SimpleAuProfiles.TwoTheta(History(0), 3);
        var tracker = new MarkerTracker(start - 0.15, start + 0.15, new TrackerOptions { Shape = shape });
        int ok = 0, in1 = 0, in2 = 0;
        var residuals = new List<double>();
        var errors = new List<double>();
        for (var f = 0; f < frames; f++)
        {
            var truth = History(f);
            var (y, s) = sim.Profile(truth);
            var fit = tracker.Next(sim.Radial, y, s);
            if (!fit.Ok)
            {
                continue;
            }

            ok++;
            var reading = gauge.Read(fit.Position, fit.PositionError);
            var delta = reading.Pressure - truth;
            residuals.Add(delta);
            errors.Add(reading.PressureError);
            in1 += Math.Abs(delta) <= reading.PressureError ? 1 : 0;
            in2 += Math.Abs(delta) <= 2 * reading.PressureError ? 1 : 0;
        }

        errors.Sort();
        return new Stats(height, shape, (double)ok / frames, ok == 0 ? 0 : (double)in1 / ok, ok == 0 ? 0 : (double)in2 / ok,
            residuals.Count == 0 ? double.NaN : Math.Sqrt(residuals.Average(r => r * r)),
            residuals.Count == 0 ? double.NaN : residuals.Average(),
            errors.Count == 0 ? double.NaN : errors[errors.Count / 2]);
    }

    internal sealed record Stats(double Height, PeakShape Shape, double OkFraction, double Within1Sigma, double Within2Sigma, double Rms, double Bias, double MedianError)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"| {Height,6:F0} | {Shape} | {OkFraction:P1} | {Rms:F4} | {Bias:+0.0000;-0.0000} | {MedianError:F4} | {Within1Sigma:P1} | {Within2Sigma:P1} |");
    }
}
