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

    /// <summary>
    /// A FWHM more than this factor wider or narrower than the median of the last 20 good fits (and more than 3σ off)
    /// means another line has moved in, or the fit caught something that is not the marker.
    /// </summary>
    public double MaxFwhmChange { get; init; } = 1.1;

    /// <summary>Likewise for the height: a jump by more than this factor (and 3σ) from the recent median is flagged.</summary>
    public double MaxHeightChange { get; init; } = 1.5;

    /// <summary>Any intensity at or above this in the window (saturated pixels) flags the frame; null: no check.</summary>
    public double? Saturation { get; init; }

    /// <summary>Starting FWHM for the first frame; 0: a tenth of the window.</summary>
    public double InitialFwhm { get; init; }

    /// <summary>
    /// When one peak fails as an overlap (too wide, or χ² too high), fit the marker together with a second line seeded
    /// at the largest residual, and keep the marker (the line nearer the last good centre) if that fit passes every check.
    /// </summary>
    public bool ResolveOverlaps { get; init; } = true;
}

/// <summary>
/// One frame's fit of the marker reflection. When <see cref="Ok"/> is false, <see cref="Reason"/> says why and the
/// numbers are NaN. <see cref="Peaks"/> is 2 when an overlapping line was fitted alongside the marker.
/// </summary>
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
    double WindowHi,
    int Peaks = 1)
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
    private const int RecentFits = 20;
    private const int VelocityFits = 10;
    private const int MaxExtrapolation = 200;
    private const int OffTrackRelock = 5;
    private readonly TrackerOptions options;
    private readonly Queue<double> recentFwhm = new();
    private readonly Queue<double> recentHeight = new();
    private readonly Queue<(long Frame, double Position)> recentPositions = new();
    private long frame = -1;
    private double referenceHeight;
    private double expected;
    private double trackScatter;
    private int offTrack;
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
        frame++;
        expected = Predicted();
        var lo = expected - halfWindow;
        var hi = expected + halfWindow;
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

        var start = Locked ? expected : HighestAboveLine(fx, fy);
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
        var (reason, overlap) = Judge(fit, peak, fx);
        var peaks = 1;
        if (reason is not null && overlap && options.ResolveOverlaps)
        {
            var pair = TwoPeaks(fx, fy, sig, fit);
            if (pair is not null)
            {
                (fit, peak) = pair.Value;
                (reason, _) = Judge(fit, peak, fx);
                peaks = 2;
            }
        }

        if (reason is null && OffTrack(peak) is { } jump)
        {
            reason = jump;
            // Five clean frames in a row off the old track — the marker's own width (±5 %) and height (±20 %), one peak
            // in the window — are a real jump (a pressure step): forget the old track so the next good fit starts a new
            // one. A blend with another line is wider or taller and never restarts the track.
            var clean = peaks == 1 && Math.Abs((peak.Fwhm / referenceFwhm) - 1) < 0.05 && Math.Abs((peak.Amplitude / referenceHeight) - 1) < 0.2;
            offTrack = clean ? offTrack + 1 : 0;
            if (offTrack >= OffTrackRelock)
            {
                recentPositions.Clear();
                centre = peak.Position;
                offTrack = 0;
            }
        }
        else if (reason is null)
        {
            offTrack = 0;
        }

        if (reason is not null)
        {
            return MarkerFit.Failed(reason, lo, hi) with { ReducedChiSquare = fit.ReducedChiSquare };
        }

        // The reference width and height follow the last good fits (their medians), so slow broadening or a slowly
        // changing intensity is allowed and a sudden change (a line moving in, a spike) is not.
        referenceFwhm = Remember(recentFwhm, peak.Fwhm, RecentFits);
        referenceHeight = Remember(recentHeight, peak.Amplitude, RecentFits);
        recentPositions.Enqueue((frame, peak.Position));
        if (recentPositions.Count > VelocityFits)
        {
            recentPositions.Dequeue();
        }

        Locked = true;
        centre = peak.Position;
        lastFwhm = peak.Fwhm;
        return new MarkerFit(true, string.Empty, peak.Position, peak.PositionError, peak.Fwhm, peak.FwhmError, peak.Amplitude, peak.AmplitudeError,
            fit.ReducedChiSquare, lo, hi, peaks);
    }

    // Why a fitted marker peak cannot be used (null: it can), and whether the failure looks like an overlap.
    private (string? Reason, bool Overlap) Judge(PeakFitResult fit, FittedPeak peak, double[] fx)
    {
        if (!fit.Converged)
        {
            return ("fit did not converge", false);
        }

        if (!(peak.Position >= fx[0] && peak.Position <= fx[^1]))
        {
            return ("fitted centre outside the window", false);
        }

        if (!(peak.Amplitude > options.MinSignificance * peak.AmplitudeError))
        {
            return (string.Create(CultureInfo.InvariantCulture, $"too little intensity (height {peak.Amplitude:G3} ± {peak.AmplitudeError:G2})"), false);
        }

        if (!double.IsFinite(peak.PositionError))
        {
            return ("position undetermined (singular fit)", false);
        }

        if (peak.Fwhm > 0.9 * (fx[^1] - fx[0]))
        {
            return ("peak as wide as the window", false);
        }

        if (Locked && OutOfLine(peak.Fwhm, peak.FwhmError, referenceFwhm, options.MaxFwhmChange) is { } widthRatio)
        {
            return (string.Create(CultureInfo.InvariantCulture,
                $"FWHM ×{widthRatio:F2} of the recent {referenceFwhm:G3}: {(widthRatio > 1 ? "an overlapping line?" : "a spike or another line, not the marker?")}"), widthRatio > 1);
        }

        if (Locked && OutOfLine(peak.Amplitude, peak.AmplitudeError, referenceHeight, options.MaxHeightChange) is { } heightRatio)
        {
            return (string.Create(CultureInfo.InvariantCulture,
                $"height ×{heightRatio:F2} of the recent {referenceHeight:G3}: {(heightRatio > 1 ? "another line on the marker?" : "the marker fading or lost?")}"), heightRatio > 1);
        }

        if (fit.ReducedChiSquare > options.MaxReducedChiSquare)
        {
            return (string.Create(CultureInfo.InvariantCulture, $"poor fit (χ²/dof {fit.ReducedChiSquare:F1}): overlap or wrong shape?"), true);
        }

        return (null, false);
    }

    // The marker and one more line: the second seeded where the single-peak fit leaves the largest residual (at least half
    // a FWHM from the marker's last centre). Null when that fit is not usable: then the single-peak failure stands.
    private (PeakFitResult Fit, FittedPeak Marker)? TwoPeaks(double[] fx, double[] fy, double[] sig, PeakFitResult single)
    {
        var seed = double.NaN;
        var best = double.NegativeInfinity;
        for (var i = 0; i < fx.Length; i++)
        {
            if (Math.Abs(fx[i] - expected) < 0.5 * lastFwhm)
            {
                continue;
            }

            var r = (fy[i] - PeakFitter.Evaluate(options.Shape, single.Parameters, single.Reference, fx[i])) / sig[i];
            if (r > best)
            {
                best = r;
                seed = fx[i];
            }
        }

        if (double.IsNaN(seed) || fx.Length <= (2 * PeakFitter.ParametersPerPeak(options.Shape)) + 2)
        {
            return null;
        }

        PeakFitResult pair;
        try
        {
            pair = PeakFitter.Fit(fx, fy, sig, [new PeakGuess(expected, lastFwhm), new PeakGuess(seed, lastFwhm)], new PeakFitOptions { Shape = options.Shape });
        }
        catch (ArgumentException)
        {
            return null;
        }

        var (a, b) = (pair.Peaks[0], pair.Peaks[1]);
        var marker = Math.Abs(a.Position - expected) <= Math.Abs(b.Position - expected) ? a : b;
        var other = ReferenceEquals(marker, a) ? b : a;

        // Both lines where the track allows the marker to be: the one with the marker's recent height, if only one has it.
        if (Locked && OffTrack(other) is null)
        {
            var markerLike = Math.Abs(Math.Log(marker.Amplitude / referenceHeight)) < Math.Log(1.2);
            var otherLike = Math.Abs(Math.Log(other.Amplitude / referenceHeight)) < Math.Log(1.2);
            if (markerLike == otherLike)
            {
                return null;
            }

            if (otherLike)
            {
                (marker, other) = (other, marker);
            }
        }

        // Two lines closer than half a FWHM, or a second line that is noise, are not a resolved overlap.
        if (!pair.Converged
            || Math.Abs(a.Position - b.Position) < 0.5 * Math.Min(a.Fwhm, b.Fwhm)
            || !(other.Amplitude > options.MinSignificance * other.AmplitudeError))
        {
            return null;
        }

        return (pair, marker);
    }

    // A good-looking fit far from where the recent track says the marker is: a blend with another line pulls the centre
    // while width and height still pass. Off by more than 6 combined σ (the fit's and the track's scatter) and 0.1 FWHM.
    private string? OffTrack(FittedPeak peak)
    {
        if (!Locked || recentPositions.Count < 3)
        {
            return null;
        }

        var jump = Math.Abs(peak.Position - expected);
        var tolerance = Math.Max(6 * Math.Sqrt((peak.PositionError * peak.PositionError) + (trackScatter * trackScatter)), 0.1 * referenceFwhm);
        return jump > tolerance
            ? string.Create(CultureInfo.InvariantCulture, $"{jump / referenceFwhm:F2} FWHM off the track of the last good frames: a blend with another line, or a jump?")
            : null;
    }

    // A value more than `factor` times off its reference and more than 4σ away (a 1-in-16 000 chance for noise): the ratio; otherwise null.
    private static double? OutOfLine(double value, double error, double reference, double factor)
    {
        var ratio = value / reference;
        var off = ratio > factor || ratio < 1 / factor;
        return off && Math.Abs(value - reference) > 4 * error ? ratio : null;
    }

    private static double Remember(Queue<double> recent, double value, int keep)
    {
        recent.Enqueue(value);
        if (recent.Count > keep)
        {
            recent.Dequeue();
        }

        var sorted = recent.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    // Where the marker should be in this frame: the last good centre moved on by the recent velocity (a straight line
    // through the last good fits' positions against frame number), for at most 200 frames past the last good fit.
    private double Predicted()
    {
        if (recentPositions.Count < 3)
        {
            return centre;
        }

        var points = recentPositions.ToArray();
        var mf = points.Average(p => (double)p.Frame);
        var mp = points.Average(p => p.Position);
        double sfp = 0, sff = 0;
        foreach (var (f, position) in points)
        {
            sfp += (f - mf) * (position - mp);
            sff += (f - mf) * (f - mf);
        }

        var velocity = sff > 0 ? sfp / sff : 0;
        var scatter = 0.0;
        foreach (var (f, position) in points)
        {
            var r = position - (mp + (velocity * (f - mf)));
            scatter += r * r;
        }

        // The prediction's own uncertainty: the scatter about the line, grown with the distance extrapolated.
        var s2 = scatter / Math.Max(1, points.Length - 2);
        var since = Math.Min(frame - points[^1].Frame, MaxExtrapolation);
        var t = points[^1].Frame + since - mf;
        trackScatter = Math.Sqrt(s2 * (1 + (1.0 / points.Length) + (sff > 0 ? t * t / sff : 0)));
        return centre + (velocity * since);
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
