using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Anvil.Hdf5;

namespace Anvil.Pressure;

/// <summary>What <see cref="PressureResultFile.Run"/> is asked to do.</summary>
public sealed record PressureRequest
{
    public required string Input { get; init; }

    /// <summary>The new file; null: <c>&lt;input&gt;_pressure.nxs</c> next to the input.</summary>
    public string? Output { get; init; }

    public required Marker Marker { get; init; }

    public required Hkl Reflection { get; init; }

    /// <summary>The equation of state's parameters (published or the user's).</summary>
    public required EosParameters Scale { get; init; }

    /// <summary>2θ window (degrees) of the first frame; null: centred on the reflection at 0 GPa, ±<see cref="DefaultHalfWindow"/>.</summary>
    public (double Lo, double Hi)? Window { get; init; }

    public double DefaultHalfWindow { get; init; } = 0.5;

    /// <summary>Å; null: from the result's calibration (the PONI named by process/cal_file).</summary>
    public double? Wavelength { get; init; }

    /// <summary>Seconds between frames; null: the count time of the first raw file the result names, if it can be read.</summary>
    public double? FramePeriod { get; init; }

    public TrackerOptions Tracker { get; init; } = new();
}

/// <summary>One frame of the pressure table.</summary>
public sealed record FramePressure(long Frame, double Time, MarkerFit Fit, PressureReading? Reading)
{
    public bool Ok => Fit.Ok && Reading is not null;
}

/// <summary>The outcome: the file written, and where the wavelength and frame times came from.</summary>
public sealed record PressureRun(
    string Output,
    IReadOnlyList<FramePressure> Frames,
    double Wavelength,
    string WavelengthSource,
    string FrameTimeSource,
    string SettingsHash,
    PressureGauge Gauge);

/// <summary>
/// Adds pressure to a finished result: reads <c>/processed/result</c> (data, errors, 2θ binning), tracks the marker
/// reflection through every frame, and writes a NEW file — a byte copy of the original plus the group
/// <c>/processed/pressure</c> — under a temporary name renamed when complete. The original is only read; an existing
/// output is never overwritten. Problems with the request (no wavelength, a reflection outside the radial range,
/// nonsense EOS parameters) throw <see cref="PressureInputException"/> before anything is written.
/// </summary>
public static class PressureResultFile
{
    /// <summary>Highest pressure (GPa) considered when checking that a window can ever hold the reflection.</summary>
    public const double MaxPressure = 300;

    /// <summary>
    /// A reading below this (GPa) is flagged, not written: a marker in a cell is not under kilobars of tension, so such
    /// a number means a wrong wavelength, marker or reflection (noise at ambient pressure stays far above it).
    /// </summary>
    public const double MinPressure = -1;

    public static PressureRun Run(PressureRequest request)
    {
        var input = Path.GetFullPath(request.Input);
        if (!File.Exists(input))
        {
            throw new PressureInputException($"{request.Input} does not exist");
        }

        var output = Path.GetFullPath(request.Output ?? Path.Combine(Path.GetDirectoryName(input)!, Path.GetFileNameWithoutExtension(input) + "_pressure.nxs"));
        if (string.Equals(output, input, StringComparison.Ordinal))
        {
            throw new PressureInputException("the output must be a new file: the original result is never rewritten");
        }

        if (File.Exists(output))
        {
            throw new PressureInputException($"{output} exists; choose another --out (results are never overwritten)");
        }

        EquationOfState eos;
        try
        {
            eos = request.Scale.Create();
        }
        catch (ArgumentException ex)
        {
            throw new PressureInputException(ex.Message);
        }

        float[] data;
        float[]? errors;
        double[] radial;
        int frames;
        int bins;
        string? calFile;
        string[] rawFiles;
        using (var file = Hdf5File.OpenRead(input))
        {
            if (!file.Exists("/processed/result/data") || !file.Exists("/processed/result/binning"))
            {
                throw new PressureInputException($"{request.Input} has no /processed/result/data and binning: not an Anvil/DIOPTAS result file");
            }

            if (file.Exists("/processed/pressure"))
            {
                throw new PressureInputException($"{request.Input} already has /processed/pressure");
            }

            var info = file.GetDatasetInfo("/processed/result/data");
            if (info.Shape.Length != 2)
            {
                throw new PressureInputException("/processed/result/data is not frames × bins");
            }

            frames = (int)info.Shape[0];
            bins = (int)info.Shape[1];
            data = file.ReadDataset<float>("/processed/result/data");
            radial = file.ReadDataset<double>("/processed/result/binning");
            errors = file.Exists("/processed/result/errors") ? file.ReadDataset<float>("/processed/result/errors") : null;
            calFile = file.Exists("/processed/process/cal_file") ? file.ReadString("/processed/process/cal_file") : null;
            rawFiles = file.Exists("/processed/process/files") ? file.ReadStrings("/processed/process/files") : [];
            if (radial.Length != bins || (errors is not null && errors.Length != data.Length))
            {
                throw new PressureInputException("binning or errors do not match the data's shape");
            }
        }

        var (wavelength, wavelengthSource) = request.Wavelength is { } given
            ? (given, "--wavelength")
            : WavelengthFromCalibration(calFile);
        PressureGauge gauge;
        try
        {
            gauge = new PressureGauge(request.Marker, request.Reflection, eos, wavelength);
        }
        catch (ArgumentException ex)
        {
            throw new PressureInputException(ex.Message);
        }

        var (lo, hi) = Window(request, gauge, radial);
        var (period, timeSource) = request.FramePeriod is { } p
            ? (p, "frame period given (--frame-period)")
            : FramePeriodFromRaw(rawFiles, Path.GetDirectoryName(input)!);

        var tracker = new MarkerTracker(lo, hi, request.Tracker);
        var results = new List<FramePressure>(frames);
        var y = new double[bins];
        var s = new double[bins];
        for (var f = 0; f < frames; f++)
        {
            for (var b = 0; b < bins; b++)
            {
                y[b] = data[(f * bins) + b];
                s[b] = errors is null ? 0 : errors[(f * bins) + b];
            }

            var fit = tracker.Next(radial, y, errors is null ? default : s);
            PressureReading? reading = null;
            if (fit.Ok)
            {
                reading = gauge.Read(fit.Position, fit.PositionError);
                var ratio = reading.Volume / eos.V0;
                if (!double.IsFinite(reading.Pressure) || reading.Pressure < MinPressure || ratio < 0.4)
                {
                    fit = MarkerFit.Failed(string.Create(CultureInfo.InvariantCulture,
                        $"V/V0 = {ratio:F4} gives {reading.Pressure:F2} GPa, outside the equation of state's range: wrong wavelength, marker or reflection?"), fit.WindowLo, fit.WindowHi);
                    reading = null;
                }
            }

            results.Add(new FramePressure(f + 1, double.IsNaN(period) ? double.NaN : f * period, fit, reading));
        }

        var settings = SettingsJson(request, gauge, wavelength, lo, hi);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(settings)))[..16];
        Write(input, output, results, gauge, settings, hash, wavelengthSource, timeSource, request.Tracker.Shape, request.Scale.Citation);
        return new PressureRun(output, results, wavelength, wavelengthSource, timeSource, hash, gauge);
    }

    /// <summary>λ (Å) from the <c>Wavelength:</c> line (metres) of the PONI file the result names.</summary>
    public static (double Wavelength, string Source) WavelengthFromCalibration(string? calFile)
    {
        if (string.IsNullOrWhiteSpace(calFile))
        {
            throw new PressureInputException("no wavelength: the result names no calibration file (process/cal_file); give --wavelength Å");
        }

        if (!File.Exists(calFile))
        {
            throw new PressureInputException($"no wavelength: the result's calibration {calFile} is not readable here; give --wavelength Å");
        }

        foreach (var line in File.ReadLines(calFile))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim().Equals("Wavelength", StringComparison.OrdinalIgnoreCase)
                && double.TryParse(line[(colon + 1)..].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var metres) && metres > 0)
            {
                return (metres * 1e10, $"PONI {calFile}");
            }
        }

        throw new PressureInputException($"no wavelength: {calFile} has no Wavelength line; give --wavelength Å");
    }

    private static (double Lo, double Hi) Window(PressureRequest request, PressureGauge gauge, double[] radial)
    {
        var axisLo = radial[0];
        var axisHi = radial[^1];
        var at0 = gauge.TwoThetaAt(0);
        var atMax = gauge.TwoThetaAt(Math.Min(MaxPressure, MaxReachable(gauge.Eos)));
        var name = $"{gauge.Marker.Name} {gauge.Reflection}";
        if (double.IsNaN(at0))
        {
            throw new PressureInputException($"{name} cannot diffract at λ = {gauge.Wavelength:G5} Å (λ > 2d)");
        }

        var reach = FormattableString.Invariant($"between 0 and {MaxPressure:F0} GPa {name} lies at 2θ {at0:F3}–{atMax:F3}°");
        if (atMax < axisLo || at0 > axisHi)
        {
            throw new PressureInputException(FormattableString.Invariant($"reflection outside the radial range: {reach}, the result covers {axisLo:F3}–{axisHi:F3}°"));
        }

        if (request.Window is not { } window)
        {
            var lo = Math.Max(axisLo, at0 - request.DefaultHalfWindow);
            var hi = Math.Min(axisHi, at0 + request.DefaultHalfWindow);
            return (lo, hi);
        }

        if (!(window.Hi > window.Lo))
        {
            throw new PressureInputException("--window needs 2θ1 < 2θ2");
        }

        if (window.Lo < axisLo || window.Hi > axisHi)
        {
            throw new PressureInputException(FormattableString.Invariant($"--window {window.Lo}:{window.Hi} is outside the radial range {axisLo:F3}–{axisHi:F3}°"));
        }

        if (window.Hi < at0 || window.Lo > atMax)
        {
            throw new PressureInputException(FormattableString.Invariant($"--window {window.Lo}:{window.Hi} cannot hold the marker: {reach}"));
        }

        return window;
    }

    private static double MaxReachable(EquationOfState eos)
    {
        // The bracket of EquationOfState.Volume ends at 0.25 V0.
        return Math.Min(MaxPressure, eos.Pressure(0.26 * eos.V0));
    }

    private static (double Period, string Source) FramePeriodFromRaw(string[] rawFiles, string resultDirectory)
    {
        foreach (var named in rawFiles.Where(f => f.Length > 0).Take(1))
        {
            // As recorded (absolute, or relative to where the command runs), else next to the result.
            var raw = File.Exists(named) || Path.IsPathRooted(named) ? named : Path.Combine(resultDirectory, named);
            try
            {
                if (File.Exists(raw))
                {
                    using var file = Hdf5File.OpenRead(raw);
                    const string path = "/entry/instrument/detector/count_time";
                    if (file.Exists(path))
                    {
                        var ms = file.ReadScalar<double>(path);
                        if (ms > 0)
                        {
                            return (ms / 1000, $"count_time of {raw} ({ms.ToString(CultureInfo.InvariantCulture)} ms; Lambda reads out without dead time)");
                        }
                    }
                }
            }
            catch (Hdf5Exception)
            {
                // An unreadable raw file only means no frame times.
            }
        }

        return (double.NaN, "unknown: the raw files are not readable here; give --frame-period");
    }

    private static string SettingsJson(PressureRequest request, PressureGauge gauge, double wavelength, double lo, double hi)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("marker", gauge.Marker.Name);
            w.WriteString("lattice", gauge.Marker.Lattice.Structure.ToString().ToLowerInvariant());
            w.WriteNumber("c_over_a", gauge.Marker.Lattice.CoverA);
            w.WriteString("hkl", gauge.Reflection.ToString());
            w.WriteString("eos", gauge.Eos.FormName);
            w.WriteNumber("v0", gauge.Eos.V0);
            w.WriteNumber("k0", gauge.Eos.K0);
            w.WriteNumber("k0p", gauge.Eos.K0Prime);
            w.WriteString("scale", request.Scale.Citation);
            w.WriteNumber("wavelength", wavelength);
            w.WriteNumber("window_lo", lo);
            w.WriteNumber("window_hi", hi);
            w.WriteString("shape", request.Tracker.Shape == PeakShape.Gaussian ? "gaussian" : "pseudo-voigt");
            w.WriteNumber("half_window", request.Tracker.HalfWindow);
            w.WriteNumber("min_significance", request.Tracker.MinSignificance);
            w.WriteNumber("max_reduced_chi2", request.Tracker.MaxReducedChiSquare);
            w.WriteNumber("max_fwhm_change", request.Tracker.MaxFwhmChange);
            w.WriteNumber("max_height_change", request.Tracker.MaxHeightChange);
            w.WriteBoolean("resolve_overlaps", request.Tracker.ResolveOverlaps);
            if (request.Tracker.Saturation is { } saturation)
            {
                w.WriteNumber("saturation", saturation);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Write(string input, string output, List<FramePressure> results, PressureGauge gauge, string settings, string hash,
        string wavelengthSource, string timeSource, PeakShape shape, string citation)
    {
        var directory = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(output) + ".partial");
        File.Copy(input, temporary, overwrite: true);
        try
        {
            using (var file = Hdf5File.OpenReadWrite(temporary))
            {
                const string g = "/processed/pressure";
                file.CreateGroup(g);
                file.SetAttribute(g, "NX_class", "NXprocess");
                Column(file, g + "/pressure", results, r => r.Reading?.Pressure, "GPa");
                Column(file, g + "/pressure_error", results, r => r.Reading?.PressureError, "GPa");
                Column(file, g + "/d_spacing", results, r => r.Reading?.DSpacing, "angstrom");
                Column(file, g + "/d_error", results, r => r.Reading?.DSpacingError, "angstrom");
                Column(file, g + "/volume", results, r => r.Reading?.Volume, "angstrom^3");
                Column(file, g + "/position", results, r => r.Ok ? r.Fit.Position : null, "deg");
                Column(file, g + "/position_error", results, r => r.Ok ? r.Fit.PositionError : null, "deg");
                Column(file, g + "/fwhm", results, r => r.Ok ? r.Fit.Fwhm : null, "deg");
                Column(file, g + "/amplitude", results, r => r.Ok ? r.Fit.Amplitude : null, "intensity");
                Column(file, g + "/reduced_chi2", results, r => double.IsFinite(r.Fit.ReducedChiSquare) ? r.Fit.ReducedChiSquare : null, "1");
                Column(file, g + "/frame_time", results, r => r.Time, "s");
                file.WriteDataset(g + "/frame", results.Select(r => r.Frame).ToArray());
                file.WriteDataset(g + "/ok", results.Select(r => r.Ok ? (byte)1 : (byte)0).ToArray());
                file.WriteDataset(g + "/peaks_fitted", results.Select(r => r.Ok ? r.Fit.Peaks : 0).ToArray());
                file.WriteStrings(g + "/reason", results.Select(r => r.Fit.Reason).ToArray());
                file.WriteString(g + "/settings", settings);
                foreach (var name in new[] { "pressure_error", "d_error", "position_error" })
                {
                    file.SetAttribute($"{g}/{name}", "meaning", "1 sigma standard error from the fit's covariance (peak position only)");
                }

                file.SetAttribute(g + "/frame_time", "source", timeSource);
                file.SetAttribute(g, "marker", gauge.Marker.Name);
                file.SetAttribute(g, "hkl", gauge.Reflection.ToString());
                file.SetAttribute(g, "eos", gauge.Eos.Form == EosForm.Vinet ? "Vinet" : "Birch-Murnaghan 3rd order");
                file.SetAttribute(g, "V0", gauge.Eos.V0);
                file.SetAttribute(g, "V0_units", "angstrom^3 per unit cell");
                file.SetAttribute(g, "K0", gauge.Eos.K0);
                file.SetAttribute(g, "K0_units", "GPa");
                file.SetAttribute(g, "K0prime", gauge.Eos.K0Prime);
                file.SetAttribute(g, "scale", citation);
                file.SetAttribute(g, "wavelength", gauge.Wavelength);
                file.SetAttribute(g, "wavelength_units", "angstrom");
                file.SetAttribute(g, "wavelength_source", wavelengthSource);
                file.SetAttribute(g, "peak_shape", shape == PeakShape.Gaussian ? "gaussian" : "pseudo-voigt");
                file.SetAttribute(g, "settings_hash", hash);
                file.SetAttribute(g, "program", "anvil pressure");
            }

            File.Move(temporary, output, overwrite: false);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static void Column(Hdf5File file, string path, List<FramePressure> results, Func<FramePressure, double?> value, string unit)
    {
        file.WriteDataset(path, results.Select(r => value(r) ?? double.NaN).ToArray());
        file.SetAttribute(path, "units", unit);
    }
}

/// <summary>A request that cannot give correct pressures (the message says what to change); nothing was written.</summary>
public sealed class PressureInputException(string message) : Exception(message);
