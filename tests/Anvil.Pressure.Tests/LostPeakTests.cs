namespace Anvil.Pressure.Tests;

/// <summary>A lost peak is flagged with its reason, never turned into a number, and the tracker carries on.</summary>
public sealed class LostPeakTests
{
    private static readonly double Start = SimpleAuProfiles.TwoTheta(10, 3);

    [Fact]
    public void NaNRow_IsFlaggedAndTheNextFrameIsTrackedAgain()
    {
        var sim = new SimpleAuProfiles(1, 1000);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15);
        Assert.True(tracker.Next(sim.Radial, sim.Profile(10).Y).Ok);
        var failed = Enumerable.Repeat(double.NaN, SimpleAuProfiles.Bins).ToArray();
        var lost = tracker.Next(sim.Radial, failed);
        Assert.False(lost.Ok);
        Assert.Contains("NaN", lost.Reason);
        Assert.True(double.IsNaN(lost.Position));
        var again = tracker.Next(sim.Radial, sim.Profile(10.2).Y);
        Assert.True(again.Ok, again.Reason);
        Assert.Equal(SimpleAuProfiles.TwoTheta(10.2, 3), again.Position, 0.005);
    }

    [Fact]
    public void WindowWithoutAPeak_IsTooLittleIntensity()
    {
        // Only background: a window between gold's 111 and 200.
        var sim = new SimpleAuProfiles(2, 1000);
        var empty = 0.5 * (SimpleAuProfiles.TwoTheta(10, 3) + SimpleAuProfiles.TwoTheta(10, 4));
        var tracker = new MarkerTracker(empty - 0.1, empty + 0.1);
        for (var f = 0; f < 20; f++)
        {
            var fit = tracker.Next(sim.Radial, sim.Profile(10).Y);
            Assert.False(fit.Ok, $"frame {f} found a peak at {fit.Position} in pure background");
        }
    }

    [Fact]
    public void WeakPeak_IsFlaggedNotGuessed()
    {
        var sim = new SimpleAuProfiles(3, 3, background: 200);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15);
        var flagged = Enumerable.Range(0, 30).Count(_ => !tracker.Next(sim.Radial, sim.Profile(10).Y).Ok);
        Assert.True(flagged >= 25, $"only {flagged} of 30 frames with a 3-count peak on 200 counts were flagged");
    }

    [Fact]
    public void Saturation_IsFlagged()
    {
        var sim = new SimpleAuProfiles(4, 1000);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15, new TrackerOptions { Saturation = 900 });
        var fit = tracker.Next(sim.Radial, sim.Profile(10).Y);
        Assert.False(fit.Ok);
        Assert.Contains("saturated", fit.Reason);
    }

    [Fact]
    public void AReflectionNextToTheMarker_IsFittedAlongsideIt()
    {
        // A second phase's line 1.2 FWHM from the marker: one peak cannot describe the pair; two can, and the marker
        // (the line nearer its last centre) keeps its true position within its error.
        var (sim, y, s) = WithIntruder(seed: 5, offsetInFwhm: 1.2, intruderHeight: 1500);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15);
        Assert.True(tracker.Next(sim.Radial, sim.Profile(10).Y).Ok);
        var fit = tracker.Next(sim.Radial, y, s);
        Assert.True(fit.Ok, fit.Reason);
        Assert.Equal(2, fit.Peaks);
        Assert.True(Math.Abs(fit.Position - Start) < 3 * fit.PositionError, $"{fit.Position} ± {fit.PositionError} vs {Start}");

        // Without resolution the same frame is flagged as an overlap, not fitted as one wide peak.
        var plain = new MarkerTracker(Start - 0.15, Start + 0.15, new TrackerOptions { ResolveOverlaps = false });
        Assert.True(plain.Next(sim.Radial, sim.Profile(10).Y).Ok);
        var flagged = plain.Next(sim.Radial, y, s);
        Assert.False(flagged.Ok);
        Assert.Contains("overlap", flagged.Reason);
    }

    [Fact]
    public void AStrongLineOnTopOfTheMarker_IsFlagged()
    {
        // 0.5 FWHM away and three times as strong: neither one peak nor a resolved pair describes it.
        var (sim, y, s) = WithIntruder(seed: 9, offsetInFwhm: 0.5, intruderHeight: 6000);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15);
        Assert.True(tracker.Next(sim.Radial, sim.Profile(10).Y).Ok);
        var fit = tracker.Next(sim.Radial, y, s);
        Assert.False(fit.Ok && Math.Abs(fit.Position - Start) > 3 * fit.PositionError, $"a wrong number: {fit.Position} ± {fit.PositionError} vs {Start}");
    }

    [Fact]
    public void ALineTheMarkerCrosses_NeverGivesAWrongPressure()
    {
        // Gold's 111 rises through a fixed line of another phase (70 % of its height) between 15 and 25 GPa.
        var sim = new SimpleAuProfiles(11, 2000);
        var line = SimpleAuProfiles.TwoTheta(20, 3);
        var sd = SimpleAuProfiles.Fwhm / 2.3548;
        var gauge = new PressureGauge(Markers.Get("Au"), new Hkl(1, 1, 1), Markers.Get("Au").DefaultScale.Create(), SimpleAuProfiles.Wavelength);
        var first = SimpleAuProfiles.TwoTheta(10, 3);
        var tracker = new MarkerTracker(first - 0.15, first + 0.15);
        int ok = 0, resolved = 0, far = 0, frames = 0;
        for (var p = 10.0; p <= 30; p += 0.05, frames++)
        {
            var (y, s) = sim.Profile(p);
            var rng = new Random(frames);
            for (var i = 0; i < y.Length; i++)
            {
                var extra = 1400 * Math.Exp(-0.5 * Math.Pow((sim.Radial[i] - line) / sd, 2));
                y[i] += Math.Round(extra + (Math.Sqrt(extra) * ((rng.NextDouble() * 2) - 1) * 1.7));
                s[i] = Math.Sqrt(Math.Max(y[i], 1));
            }

            var fit = tracker.Next(sim.Radial, y, s);
            if (!fit.Ok)
            {
                continue;
            }

            ok++;
            resolved += fit.Peaks == 2 ? 1 : 0;
            var reading = gauge.Read(fit.Position, fit.PositionError);
            far += Math.Abs(reading.Pressure - p) > 4 * reading.PressureError ? 1 : 0;
        }

        // Away from the crossing the pair is resolved and gives pressures (303 of 400 frames when written); while the
        // lines blend, frames are flagged; none is wrong by more than 4σ.
        Assert.True(ok > 0.6 * frames, $"{ok} of {frames} frames");
        Assert.True(resolved > 0.6 * frames, $"{resolved} resolved");
        Assert.Equal(0, far);
    }

    private static (SimpleAuProfiles Sim, double[] Y, double[] S) WithIntruder(int seed, double offsetInFwhm, double intruderHeight)
    {
        var sim = new SimpleAuProfiles(seed, 2000);
        var (y, s) = sim.Profile(10);
        var intruder = Start + (offsetInFwhm * SimpleAuProfiles.Fwhm);
        var sd = SimpleAuProfiles.Fwhm / 2.3548;
        for (var i = 0; i < y.Length; i++)
        {
            y[i] += Math.Round(intruderHeight * Math.Exp(-0.5 * Math.Pow((sim.Radial[i] - intruder) / sd, 2)));
            s[i] = Math.Sqrt(Math.Max(y[i], 1));
        }

        return (sim, y, s);
    }

    [Fact]
    public void PeakLeavingTheWindow_IsFlagged()
    {
        // A jump of 0.3° in one frame (a pressure step of ~20 GPa) leaves the ±0.15° window: flagged, not a fit to the edge.
        var sim = new SimpleAuProfiles(6, 1000);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15);
        Assert.True(tracker.Next(sim.Radial, sim.Profile(10).Y).Ok);
        var jumped = tracker.Next(sim.Radial, sim.Profile(35).Y);
        Assert.False(jumped.Ok);
    }

    [Fact]
    public void EmptyBins_AreLeftOutNotFittedAsZeros()
    {
        // Bins no pixel reached (σ 0, intensity 0), as a module gap leaves them, across the peak's flank.
        var sim = new SimpleAuProfiles(8, 1000);
        var (y, s) = sim.Profile(10);
        var gapped = (double[])y.Clone();
        var sigma = (double[])s.Clone();
        for (var i = 0; i < y.Length; i++)
        {
            if (Math.Abs(sim.Radial[i] - (Start + 0.012)) < 0.006)
            {
                gapped[i] = 0;
                sigma[i] = 0;
            }
        }

        var withGap = new MarkerTracker(Start - 0.15, Start + 0.15).Next(sim.Radial, gapped, sigma);
        var without = new MarkerTracker(Start - 0.15, Start + 0.15).Next(sim.Radial, y, s);
        Assert.True(withGap.Ok, withGap.Reason);
        Assert.True(Math.Abs(withGap.Position - Start) < 3 * withGap.PositionError, $"{withGap.Position} ± {withGap.PositionError} vs {Start}");
        Assert.True(withGap.PositionError > without.PositionError, "fewer points must give a larger error");
    }

    [Fact]
    public void WindowOffTheAxis_IsFlagged()
    {
        var sim = new SimpleAuProfiles(7, 1000);
        var tracker = new MarkerTracker(20, 21);
        var fit = tracker.Next(sim.Radial, sim.Profile(10).Y);
        Assert.False(fit.Ok);
        Assert.Contains("outside the radial range", fit.Reason);
    }
}
