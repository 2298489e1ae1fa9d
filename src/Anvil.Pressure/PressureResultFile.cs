using System.Globalization;
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
        double[]? recordedTimes = null;
        var recordedSource = string.Empty;
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
            if (file.Exists("/processed/result/time"))
            {
                // The time axis merge recorded by FrameClock's rule when the raw files were at hand.
                recordedTimes = file.ReadDataset<double>("/processed/result/time");
                recordedSource = file.TryGetAttributeString("/processed/result/time", "source") ?? "no source recorded";
            }
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

        var track = new PressureTrack(gauge, request.Scale.Citation, request.Window, request.DefaultHalfWindow, radial, request.Tracker);
        var useRecorded = request.FramePeriod is null && recordedTimes?.Length == frames && recordedTimes.Any(double.IsFinite);
        var (period, timeSource) = request.FramePeriod is { } p
            ? (p, "frame period given (--frame-period)")
            : useRecorded
                ? (double.NaN, $"the result's time axis /processed/result/time: {recordedSource}")
                : FrameClock.FromLambdaFiles(rawFiles, Path.GetDirectoryName(input)!);

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

            results.Add(track.Next(f + 1, useRecorded ? recordedTimes![f] : FrameClock.TimeOf(f + 1, period), y, errors is null ? default : s));
        }

        var settings = track.SettingsJson(wavelength);
        var hash = PressureTrack.Hash(settings);
        var table = new PressureTable(results, track, settings, hash, wavelengthSource, timeSource, "anvil pressure");
        WriteCopy(input, output, table);
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

    // A byte copy of the input under a hidden name, the pressure group added, renamed when complete.
    private static void WriteCopy(string input, string output, PressureTable table)
    {
        var directory = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(output) + ".partial");
        File.Copy(input, temporary, overwrite: true);
        try
        {
            using (var file = Hdf5File.OpenReadWrite(temporary))
            {
                PressureGroup.Write(file, PressureGroup.Path, table);
            }

            File.Move(temporary, output, overwrite: false);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}

/// <summary>A request that cannot give correct pressures (the message says what to change); nothing was written.</summary>
public sealed class PressureInputException(string message) : Exception(message);
