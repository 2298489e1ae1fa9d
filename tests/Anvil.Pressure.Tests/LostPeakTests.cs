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
    public void AReflectionMovingIntoTheMarker_IsFlaggedAsOverlap()
    {
        // A second phase's line at the marker's position, 1.2 FWHM away: one peak cannot describe the pair.
        var sim = new SimpleAuProfiles(5, 2000);
        var tracker = new MarkerTracker(Start - 0.15, Start + 0.15);
        Assert.True(tracker.Next(sim.Radial, sim.Profile(10).Y).Ok);
        var (y, s) = sim.Profile(10);
        var intruder = Start + (1.2 * SimpleAuProfiles.Fwhm);
        var sd = SimpleAuProfiles.Fwhm / 2.3548;
        for (var i = 0; i < y.Length; i++)
        {
            y[i] += Math.Round(1500 * Math.Exp(-0.5 * Math.Pow((sim.Radial[i] - intruder) / sd, 2)));
        }

        var fit = tracker.Next(sim.Radial, y, s);
        Assert.False(fit.Ok, $"overlap not detected: centre {fit.Position}, FWHM {fit.Fwhm}, χ²/dof {fit.ReducedChiSquare}");
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
