using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Anvil.Pressure;

/// <summary>
/// The per-frame path from a profile to a pressure, shared by <c>anvil pressure</c> (a finished file) and merge's
/// online stage (profiles as they arrive): checks that the marker can be seen on the radial axis, chooses the first
/// window, tracks the reflection (<see cref="MarkerTracker"/>) and reads each good fit through the gauge. Frames must
/// be given in order, each exactly once (a missing or failed frame as a NaN row, or <see cref="Skip"/>), since each
/// window is seeded from the frames before it.
/// </summary>
public sealed class PressureTrack
{
    private readonly MarkerTracker tracker;
    private readonly double[] radial;
    private readonly double[] nanRow;
    private readonly TrackerOptions options;

    /// <summary>
    /// Throws <see cref="PressureInputException"/> when the reflection cannot appear on <paramref name="radial"/> (2θ,
    /// degrees) between 0 and <see cref="PressureResultFile.MaxPressure"/> GPa, or the window cannot hold it.
    /// </summary>
    public PressureTrack(PressureGauge gauge, string citation, (double Lo, double Hi)? window, double defaultHalfWindow, double[] radial, TrackerOptions options)
    {
        Gauge = gauge;
        Citation = citation;
        this.radial = radial;
        this.options = options;
        nanRow = Enumerable.Repeat(double.NaN, radial.Length).ToArray();
        (WindowLo, WindowHi) = Window(gauge, window, defaultHalfWindow, radial);
        tracker = new MarkerTracker(WindowLo, WindowHi, options);
    }

    public PressureGauge Gauge { get; }

    public string Citation { get; }

    public double WindowLo { get; }

    public double WindowHi { get; }

    public PeakShape Shape => options.Shape;

    /// <summary>The radial axis (2θ, degrees) this track was made for.</summary>
    public ReadOnlySpan<double> Radial => radial;

    /// <summary>The next frame: fitted, tracked and read, or flagged with the reason.</summary>
    public FramePressure Next(long frame, double time, ReadOnlySpan<double> y, ReadOnlySpan<double> sigma = default)
    {
        var fit = tracker.Next(radial, y, sigma);
        PressureReading? reading = null;
        if (fit.Ok)
        {
            reading = Gauge.Read(fit.Position, fit.PositionError);
            var ratio = reading.Volume / Gauge.Eos.V0;
            if (!double.IsFinite(reading.Pressure) || reading.Pressure < PressureResultFile.MinPressure || ratio < 0.4)
            {
                fit = MarkerFit.Failed(string.Create(CultureInfo.InvariantCulture,
                    $"V/V0 = {ratio:F4} gives {reading.Pressure:F2} GPa, outside the equation of state's range: wrong wavelength, marker or reflection?"), fit.WindowLo, fit.WindowHi);
                reading = null;
            }
        }

        return new FramePressure(frame, time, fit, reading);
    }

    /// <summary>A frame with no profile (failed upstream, or never arrived): flagged, and the tracker counts it like a NaN row.</summary>
    public FramePressure Skip(long frame, double time, string reason)
    {
        var flagged = Next(frame, time, nanRow);
        return flagged with { Fit = MarkerFit.Failed(reason, flagged.Fit.WindowLo, flagged.Fit.WindowHi) };
    }

    /// <summary>Canonical JSON of everything that made these numbers (the file's <c>settings</c>; its hash is <see cref="Hash"/>).</summary>
    public string SettingsJson(double wavelength)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("marker", Gauge.Marker.Name);
            w.WriteString("lattice", Gauge.Marker.Lattice.Structure.ToString().ToLowerInvariant());
            w.WriteNumber("c_over_a", Gauge.Marker.Lattice.CoverA);
            w.WriteString("hkl", Gauge.Reflection.ToString());
            w.WriteString("eos", Gauge.Eos.FormName);
            w.WriteNumber("v0", Gauge.Eos.V0);
            w.WriteNumber("k0", Gauge.Eos.K0);
            w.WriteNumber("k0p", Gauge.Eos.K0Prime);
            w.WriteString("scale", Citation);
            w.WriteNumber("wavelength", wavelength);
            w.WriteNumber("window_lo", WindowLo);
            w.WriteNumber("window_hi", WindowHi);
            w.WriteString("shape", options.Shape == PeakShape.Gaussian ? "gaussian" : "pseudo-voigt");
            w.WriteNumber("half_window", options.HalfWindow);
            w.WriteNumber("min_significance", options.MinSignificance);
            w.WriteNumber("max_reduced_chi2", options.MaxReducedChiSquare);
            w.WriteNumber("max_fwhm_change", options.MaxFwhmChange);
            w.WriteNumber("max_height_change", options.MaxHeightChange);
            w.WriteBoolean("resolve_overlaps", options.ResolveOverlaps);
            if (options.Saturation is { } saturation)
            {
                w.WriteNumber("saturation", saturation);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>SHA-256 of the settings JSON, first 16 hex digits (as the integration settings' hash).</summary>
    public static string Hash(string settingsJson) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(settingsJson)))[..16];

    private static (double Lo, double Hi) Window(PressureGauge gauge, (double Lo, double Hi)? window, double defaultHalfWindow, double[] radial)
    {
        if (radial.Length < 2)
        {
            throw new PressureInputException("the profile has no radial axis");
        }

        var axisLo = radial[0];
        var axisHi = radial[^1];
        var at0 = gauge.TwoThetaAt(0);
        var atMax = gauge.TwoThetaAt(Math.Min(PressureResultFile.MaxPressure, MaxReachable(gauge.Eos)));
        var name = $"{gauge.Marker.Name} {gauge.Reflection}";
        if (double.IsNaN(at0))
        {
            throw new PressureInputException($"{name} cannot diffract at λ = {gauge.Wavelength:G5} Å (λ > 2d)");
        }

        var reach = FormattableString.Invariant($"between 0 and {PressureResultFile.MaxPressure:F0} GPa {name} lies at 2θ {at0:F3}–{atMax:F3}°");
        if (atMax < axisLo || at0 > axisHi)
        {
            throw new PressureInputException(FormattableString.Invariant($"reflection outside the radial range: {reach}, the result covers {axisLo:F3}–{axisHi:F3}°"));
        }

        if (window is not { } given)
        {
            return (Math.Max(axisLo, at0 - defaultHalfWindow), Math.Min(axisHi, at0 + defaultHalfWindow));
        }

        if (!(given.Hi > given.Lo))
        {
            throw new PressureInputException("--window needs 2θ1 < 2θ2");
        }

        if (given.Lo < axisLo || given.Hi > axisHi)
        {
            throw new PressureInputException(FormattableString.Invariant($"--window {given.Lo}:{given.Hi} is outside the radial range {axisLo:F3}–{axisHi:F3}°"));
        }

        if (given.Hi < at0 || given.Lo > atMax)
        {
            throw new PressureInputException(FormattableString.Invariant($"--window {given.Lo}:{given.Hi} cannot hold the marker: {reach}"));
        }

        return given;
    }

    // The bracket of EquationOfState.Volume ends at 0.25 V0.
    private static double MaxReachable(EquationOfState eos) => Math.Min(PressureResultFile.MaxPressure, eos.Pressure(0.26 * eos.V0));
}
