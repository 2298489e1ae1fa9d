using System.Globalization;

namespace Anvil.Pressure;

/// <summary>Thresholds of <see cref="MarkerTracker"/>; the defaults suit Poisson-weighted integrated profiles.</summary>
public sealed record TrackerOptions
{
    public PeakShape Shape { get; init; } = PeakShape.PseudoVoigt;

    /// <summary>Half-width of the window the tracker moves with the peak; 0: half the first window's width.</summary>
    public double HalfWindow { get; init; }

    /// <summary>A peak whose height is below this many standard errors is "too little intensity".</summary>
    public double MinSignificance { get; init; } = 5;

    /// <summary>A fit whose χ²/dof exceeds this is refused (an unresolved overlap or a wrong shape).</summary>
    public double MaxReducedChiSquare { get; init; } = 5;

    /// <summary>A FWHM more than this factor wider than the first good fit's means another reflection has moved in.</summary>
    public double MaxFwhmGrowth { get; init; } = 2.0;

    /// <summary>A FWHM below this fraction of the first good fit's is a spike, not the marker.</summary>
    public double MinFwhmShrink { get; init; } = 0.3;

    /// <summary>Any intensity at or above this in the window (saturated pixels) flags the frame; null: no check.</summary>
    public double? Saturation { get; init; }

    /// <summary>Starting FWHM for the first frame; 0: a tenth of the window.</summary>
    public double InitialFwhm { get; init; }
}

/// <summary>One frame's fit of the marker reflection. When <see cref="Ok"/> is false, <see cref="Reason"/> says why and the numbers are NaN.</summary>
public sealed record MarkerFit(
    bool Ok,
    string Reason,
    double Position,
    double PositionError,
    double Fwhm,
    double FwhmError,
    double Amplitude,
    double AmplitudeError,
    double ReducedChiSquare,
    double WindowLo,
    double WindowHi)
{
    public static MarkerFit Failed(string reason, double lo, double hi) =>
        new(false, reason, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, lo, hi);
}

/// <summary>
/// Follows a marker reflection from frame to frame. The first frame is fitted in the given window, started from the
/// window's highest point above a straight background; every later window is centred on the last good fit and
/// started from its position, FWHM and the data's height there. A frame whose peak is lost is flagged (Ok = false,
/// with the reason) instead of giving a number, and does not move the window: NaN or infinite data (failed frames),
/// saturation, too few points, a fit that did not converge, a centre outside the window, a height below
/// <see cref="TrackerOptions.MinSignificance"/> σ, a FWHM that grew or shrank out of bounds (overlap), or a χ²/dof
/// above <see cref="TrackerOptions.MaxReducedChiSquare"/>.
/// </summary>
public sealed class MarkerTracker
{
    private readonly TrackerOptions options;
    private readonly double halfWindow;
    private double centre;
    private double lastFwhm;
    private double referenceFwhm;

    public MarkerTracker(double windowLo, double windowHi, TrackerOptions? options = null)
    {
        if (!(windowHi > windowLo) || !double.IsFinite(windowLo) || !double.IsFinite(windowHi))
        {
            throw new ArgumentException("the window must be finite with lo < hi.");
        }

        this.options = options ?? new TrackerOptions();
        halfWindow = this.options.HalfWindow > 0 ? this.options.HalfWindow : 0.5 * (windowHi - windowLo);
        centre = 0.5 * (windowLo + windowHi);
        lastFwhm = this.options.InitialFwhm > 0 ? this.options.InitialFwhm : (windowHi - windowLo) / 10;
    }

    /// <summary>Whether a good fit has been made yet (later windows follow it).</summary>
    public bool Locked { get; private set; }

    /// <summary>Fits the next frame. <paramref name="sigma"/> empty: Poisson σ = √max(y, 1).</summary>
    public MarkerFit Next(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> sigma = default)
    {
        var lo = centre - halfWindow;
        var hi = centre + halfWindow;
        var first = -1;
        var last = -1;
        for (var i = 0; i < x.Length; i++)
        {
            if (x[i] >= lo && x[i] <= hi)
            {
                if (first < 0)
                {
                    first = i;
                }

                last = i;
            }
        }

        if (first < 0)
        {
            return MarkerFit.Failed("window outside the radial range", lo, hi);
        }

        var count = last - first + 1;
        var xs = x.Slice(first, count);
        var ys = y.Slice(first, count);
        for (var i = 0; i < count; i++)
        {
            if (!double.IsFinite(ys[i]))
            {
                return MarkerFit.Failed("no data in the window (NaN: failed or missing frame)", lo, hi);
            }

            if (options.Saturation is { } saturation && ys[i] >= saturation)
            {
                return MarkerFit.Failed("saturated intensity in the window", lo, hi);
            }
        }

        double[] fx, fy, sig;
        if (sigma.IsEmpty)
        {
            fx = xs.ToArray();
            fy = ys.ToArray();
            sig = PeakFitter.PoissonSigma(ys);
        }
        else
        {
            // A bin no pixel fell in has σ 0 (or NaN) and an intensity of 0 or the dummy value: it is not a measurement
            // and is left out of the fit rather than pulling the profile down.
            var keep = new List<int>(count);
            var given = sigma.Slice(first, count);
            for (var i = 0; i < count; i++)
            {
                if (double.IsFinite(given[i]) && given[i] > 0)
                {
                    keep.Add(i);
                }
            }

            var xsCopy = xs.ToArray();
            var ysCopy = ys.ToArray();
            var givenCopy = given.ToArray();
            fx = keep.Select(i => xsCopy[i]).ToArray();
            fy = keep.Select(i => ysCopy[i]).ToArray();
            sig = keep.Select(i => givenCopy[i]).ToArray();
            count = fx.Length;
        }

        var parameters = PeakFitter.ParametersPerPeak(options.Shape) + 2;
        if (count < Math.Max(2 * parameters, 8))
        {
            return MarkerFit.Failed($"too few points in the window ({count})", lo, hi);
        }

        var start = Locked ? centre : HighestAboveLine(fx, fy);
        PeakFitResult fit;
        try
        {
            fit = PeakFitter.Fit(fx, fy, sig, [new PeakGuess(start, lastFwhm)], new PeakFitOptions { Shape = options.Shape });
        }
        catch (ArgumentException ex)
        {
            return MarkerFit.Failed("fit refused: " + ex.Message, lo, hi);
        }

        var peak = fit.Peaks[0];
        string? reason = null;
        if (!fit.Converged)
        {
            reason = "fit did not converge";
        }
        else if (!(peak.Position >= fx[0] && peak.Position <= fx[^1]))
        {
            reason = "fitted centre outside the window";
        }
        else if (!(peak.Amplitude > options.MinSignificance * peak.AmplitudeError))
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"too little intensity (height {peak.Amplitude:G3} ± {peak.AmplitudeError:G2})");
        }
        else if (!double.IsFinite(peak.PositionError))
        {
            reason = "position undetermined (singular fit)";
        }
        else if (peak.Fwhm > 0.9 * (fx[^1] - fx[0]))
        {
            reason = "peak as wide as the window";
        }
        else if (Locked && peak.Fwhm > options.MaxFwhmGrowth * referenceFwhm)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"FWHM {peak.Fwhm:G3} > {options.MaxFwhmGrowth} × {referenceFwhm:G3}: overlapping reflection?");
        }
        else if (Locked && peak.Fwhm < options.MinFwhmShrink * referenceFwhm)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"FWHM {peak.Fwhm:G3} < {options.MinFwhmShrink} × {referenceFwhm:G3}: a spike, not the marker");
        }
        else if (fit.ReducedChiSquare > options.MaxReducedChiSquare)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"poor fit (χ²/dof {fit.ReducedChiSquare:F1}): overlap or wrong shape?");
        }

        if (reason is not null)
        {
            return MarkerFit.Failed(reason, lo, hi) with { ReducedChiSquare = fit.ReducedChiSquare };
        }

        if (!Locked)
        {
            referenceFwhm = peak.Fwhm;
            Locked = true;
        }

        centre = peak.Position;
        lastFwhm = peak.Fwhm;
        return new MarkerFit(true, string.Empty, peak.Position, peak.PositionError, peak.Fwhm, peak.FwhmError, peak.Amplitude, peak.AmplitudeError,
            fit.ReducedChiSquare, lo, hi);
    }

    // The window's highest point above the straight line through its end points: the first frame's start.
    private static double HighestAboveLine(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var slope = (y[^1] - y[0]) / (x[^1] - x[0]);
        var best = 0;
        var bestValue = double.NegativeInfinity;
        for (var i = 0; i < x.Length; i++)
        {
            var v = y[i] - (y[0] + (slope * (x[i] - x[0])));
            if (v > bestValue)
            {
                bestValue = v;
                best = i;
            }
        }

        return x[best];
    }
}
