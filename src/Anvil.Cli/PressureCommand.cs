using System.Globalization;
using Anvil.Pressure;

namespace Anvil.Cli;

/// <summary>
/// `anvil pressure`: pressure from a marker reflection in a finished result (src/Anvil.Pressure/README.md). Writes a
/// NEW file — a copy of the result plus /processed/pressure — and prints the P–t table; the original is only read.
/// </summary>
public static class PressureCommand
{
    public const string Usage =
        "anvil pressure RESULT.nxs --marker Au|Pt|Cu|Ag|Mo|W|NaCl-B1|NaCl-B2|MgO --reflection 111 [--window 2θ1:2θ2] [--eos vinet|bm3] " +
        "[--v0 Å³ --k0 GPa --k0p K′ [--lattice fcc|bcc|sc|hex:C/A] | --jcpds F] [--wavelength Å] [--frame-period S] [--shape pv|gauss] " +
        "[--half-window DEG] [--min-significance N] [--max-chi2 X] [--max-fwhm-change F] [--max-height-change F] [--saturation I] [--out NEW.nxs]";

    public static Task<int> RunAsync(CommandLine line, TextWriter output, CancellationToken cancellationToken)
    {
        _ = cancellationToken;
        var markerName = line.Get("marker");
        var jcpds = line.Get("jcpds");
        var latticeText = line.Get("lattice");
        var reflectionText = line.Get("reflection") ?? throw new UsageException("--reflection hkl is required (e.g. 111)");
        var windowText = line.Get("window");
        var eosText = line.Get("eos");
        var v0 = Optional(line, "v0");
        var k0 = Optional(line, "k0");
        var k0p = Optional(line, "k0p");
        var wavelength = Optional(line, "wavelength");
        var period = Optional(line, "frame-period");
        var shapeText = line.Get("shape") ?? "pv";
        var halfWindow = Optional(line, "half-window");
        var minSignificance = Optional(line, "min-significance");
        var maxChi2 = Optional(line, "max-chi2");
        var maxFwhmChange = Optional(line, "max-fwhm-change");
        var maxHeightChange = Optional(line, "max-height-change");
        var saturation = Optional(line, "saturation");
        var outPath = line.Get("out");
        line.RejectUnknown();
        if (line.Positional.Count != 1)
        {
            throw new UsageException("give exactly one result file (RESULT.nxs)");
        }

        PressureRequest request;
        try
        {
            if (period is <= 0)
            {
                throw new UsageException("--frame-period must be a positive number of seconds");
            }

            if (maxFwhmChange is <= 1 || maxHeightChange is <= 1)
            {
                throw new UsageException("--max-fwhm-change and --max-height-change are factors above 1 (e.g. 1.1, 1.5)");
            }

            var window = windowText is null ? ((double, double)?)null : ParseWindow(windowText);

            // The flags are the pressure settings model's fields (the pipeline's online stage takes the same).
            var setup = new PressureSettings
            {
                Marker = markerName ?? string.Empty,
                Jcpds = jcpds ?? string.Empty,
                Lattice = latticeText ?? string.Empty,
                V0 = v0,
                K0 = k0,
                K0Prime = k0p,
                Eos = eosText ?? string.Empty,
                Reflection = reflectionText,
                WindowLo = window?.Item1,
                WindowHi = window?.Item2,
                Shape = shapeText,
            }.Build();
            request = new PressureRequest
            {
                Input = line.Positional[0],
                Output = outPath,
                Marker = setup.Marker,
                Reflection = setup.Reflection,
                Scale = setup.Scale,
                Window = setup.Window,
                Wavelength = wavelength,
                FramePeriod = period,
                Tracker = setup.Tracker with
                {
                    HalfWindow = halfWindow ?? 0,
                    MinSignificance = minSignificance ?? 5,
                    MaxReducedChiSquare = maxChi2 ?? 5,
                    MaxFwhmChange = maxFwhmChange ?? 1.1,
                    MaxHeightChange = maxHeightChange ?? 1.5,
                    Saturation = saturation,
                },
            };
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or FileNotFoundException)
        {
            throw new UsageException(ex.Message);
        }
        catch (PressureInputException ex)
        {
            Console.Error.WriteLine($"anvil pressure: {ex.Message}");
            return Task.FromResult(1);
        }

        PressureRun run;
        try
        {
            run = PressureResultFile.Run(request);
        }
        catch (PressureInputException ex)
        {
            Console.Error.WriteLine($"anvil pressure: {ex.Message}");
            return Task.FromResult(1);
        }

        Print(run, request, output);
        return Task.FromResult(0);
    }

    private static (double, double) ParseWindow(string text)
    {
        var parts = text.Split(':');
        if (parts.Length == 2
            && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var lo)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var hi))
        {
            return (lo, hi);
        }

        throw new UsageException($"--window is 2θ1:2θ2 in degrees (e.g. 7.0:7.4), not '{text}'");
    }

    private static double? Optional(CommandLine line, string name) =>
        line.Get(name) is { } text
            ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new UsageException($"--{name} must be a number, not '{text}'")
            : null;

    private static void Print(PressureRun run, PressureRequest request, TextWriter output)
    {
        var eos = run.Gauge.Eos;
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"marker {run.Gauge.Marker.Name} {run.Gauge.Reflection}, {eos} ({request.Scale.Citation})"));
        output.WriteLine(string.Create(c, $"wavelength {run.Wavelength:G6} Å from {run.WavelengthSource}; frame time: {run.FrameTimeSource}"));
        output.WriteLine("frame     t (s)     2θ (°)    FWHM (°)   d (Å)      P (GPa)   ±1σ (GPa)  status");
        foreach (var f in run.Frames)
        {
            var t = double.IsNaN(f.Time) ? "        -" : f.Time.ToString("F3", c).PadLeft(9);
            output.WriteLine(f.Ok
                ? string.Create(c, $"{f.Frame,5} {t} {f.Fit.Position,10:F5} {f.Fit.Fwhm,10:F5} {f.Reading!.DSpacing,9:F5} {f.Reading.Pressure,10:F3} {f.Reading.PressureError,10:F3}  ok")
                : string.Create(c, $"{f.Frame,5} {t} {"-",10} {"-",10} {"-",9} {"-",10} {"-",10}  lost: {f.Fit.Reason}"));
        }

        var good = run.Frames.Where(f => f.Ok).Select(f => f.Reading!.Pressure).ToArray();
        output.WriteLine(good.Length == 0
            ? $"no frame gave a pressure ({run.Frames.Count} flagged); wrote {run.Output}"
            : string.Create(c, $"{good.Length} of {run.Frames.Count} frames: {good.Min():F2}–{good.Max():F2} GPa; wrote {run.Output} (/processed/pressure, settings {run.SettingsHash})"));
    }
}
