using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Anvil.Pressure;

/// <summary>
/// What an operator chooses for the pressure: the marker (a built-in name, a user lattice with V0, K0, K0′, or a
/// DIOPTAS .jcpds card), the reflection, the first frame's 2θ window, the equation-of-state form and the peak shape.
/// The one description of a pressure calculation: <c>anvil pressure</c>'s flags are read into it, the pipeline carries
/// it inside the integration settings model (<c>IntegrationSettings.Pressure</c>; null = the pressure stage is off),
/// so it is configured, versioned, validated and recorded exactly as those are. <see cref="Build"/> is the only place
/// that turns it into a marker, a scale and a reflection; <see cref="ToJson"/> its only JSON.
/// Properties are settable by the configuration binder (<c>Pipeline:Pressure:Marker</c>, <c>Pipeline__Pressure__Marker</c>).
/// </summary>
public sealed record PressureSettings
{
    /// <summary>False switches the stage off (for the configuration file; in the model, off is a null <c>Pressure</c>).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>A built-in marker (Au, Pt, …), or the name of the user's marker when <see cref="Lattice"/> or V0/K0/K0′ are given; "" with <see cref="Jcpds"/>.</summary>
    public string Marker { get; init; } = string.Empty;

    /// <summary>The reflection's hkl, e.g. "111".</summary>
    public string Reflection { get; init; } = string.Empty;

    /// <summary>2θ window (degrees) of the first frame; both null = the reflection at 0 GPa ± 0.5°.</summary>
    public double? WindowLo { get; init; }

    public double? WindowHi { get; init; }

    /// <summary>vinet or bm3; "" = the marker's default form.</summary>
    public string Eos { get; init; } = string.Empty;

    /// <summary>A user marker's lattice (fcc, bcc, sc, b1, b2, hex:C/A); "" = the built-in marker's.</summary>
    public string Lattice { get; init; } = string.Empty;

    /// <summary>A user equation of state: V0 (Å³ per cell), K0 (GPa), K0′; all three or none.</summary>
    public double? V0 { get; init; }

    public double? K0 { get; init; }

    public double? K0Prime { get; init; }

    /// <summary>A DIOPTAS version-4 .jcpds card defining the marker (absolute, or relative to the data root in the pipeline).</summary>
    public string Jcpds { get; init; } = string.Empty;

    /// <summary>Peak shape: pv (pseudo-Voigt) or gauss.</summary>
    public string Shape { get; init; } = "pv";

    /// <summary>Seconds between frames when the detector's files do not say (their count time wins when readable).</summary>
    public double? FramePeriod { get; init; }

    /// <summary>Every problem, each with the field (as the JSON names it) and what to fix; empty when valid.</summary>
    public IReadOnlyList<(string Field, string Message)> Validate(bool checkFiles = true)
    {
        var errors = new List<(string, string)>();
        try
        {
            _ = Build(checkFiles);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or IOException or UnauthorizedAccessException or PressureInputException)
        {
            errors.Add((FieldOf(ex), ex.Message));
        }

        return errors;
    }

    /// <summary>
    /// The marker, its equation of state, the reflection and the tracker's options. Throws <see cref="ArgumentException"/>
    /// (or <see cref="FormatException"/>, <see cref="IOException"/> for a card that does not load) saying what to fix.
    /// </summary>
    public PressureSetup Build(bool loadFiles = true)
    {
        if (Reflection.Length == 0)
        {
            throw new PressureSettingsException("reflection", "the pressure needs a reflection (hkl, e.g. 111)");
        }

        var hkl = Hkl.Parse(Reflection);
        if (WindowLo.HasValue != WindowHi.HasValue || (WindowLo is { } lo && WindowHi is { } hi && !(double.IsFinite(lo) && double.IsFinite(hi) && lo < hi)))
        {
            throw new PressureSettingsException("window", "the pressure window is two 2θ angles in degrees, the smaller first (or none: the reflection at 0 GPa ± 0.5°)");
        }

        if (FramePeriod is { } period && !(period > 0 && double.IsFinite(period)))
        {
            throw new PressureSettingsException("frame_period", "the frame period must be a positive number of seconds");
        }

        var form = Eos.Length == 0 ? (EosForm?)null : EquationOfState.ParseForm(Eos);
        var tracker = new TrackerOptions
        {
            Shape = Shape.ToLowerInvariant() switch
            {
                "pv" or "pseudo-voigt" => PeakShape.PseudoVoigt,
                "gauss" or "gaussian" => PeakShape.Gaussian,
                _ => throw new PressureSettingsException("shape", $"the peak shape (--shape) must be pv or gauss, not '{Shape}'"),
            },
        };
        var (marker, scale) = ChooseMarker(form, loadFiles);
        var eos = scale.Create();
        try
        {
            _ = marker.Lattice.Shape(hkl);
        }
        catch (ArgumentException ex)
        {
            // The marker cannot give this reflection: an input problem, as in anvil pressure.
            throw new PressureInputException(ex.Message);
        }

        return new PressureSetup(marker, scale, eos, hkl, WindowLo is { } a && WindowHi is { } b ? (a, b) : null, tracker);
    }

    /// <summary>The path rule of the pipeline's settings: a relative .jcpds path is taken from the data root.</summary>
    public PressureSettings Resolve(string dataRoot) =>
        Jcpds.Length == 0 || Path.IsPathRooted(Jcpds) ? this : this with { Jcpds = Path.GetFullPath(Path.Combine(dataRoot, Jcpds)) };

    /// <summary>The canonical JSON: fixed key order, invariant round-trip numbers; keys left unset are left out.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            Write(w);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes the canonical JSON object (for a caller embedding it in its own JSON).</summary>
    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        Str(w, "marker", Marker);
        Str(w, "jcpds", Jcpds);
        Str(w, "lattice", Lattice);
        Num(w, "v0", V0);
        Num(w, "k0", K0);
        Num(w, "k0p", K0Prime);
        Str(w, "eos", Eos);
        w.WriteString("reflection", Reflection);
        if (WindowLo is { } lo && WindowHi is { } hi)
        {
            w.WriteStartArray("window");
            w.WriteNumberValue(lo);
            w.WriteNumberValue(hi);
            w.WriteEndArray();
        }

        w.WriteString("shape", Shape);
        Num(w, "frame_period", FramePeriod);
        w.WriteEndObject();
    }

    /// <summary>Reads <see cref="ToJson"/>'s JSON; an unknown key or a wrong type throws <see cref="FormatException"/>.</summary>
    public static PressureSettings FromJson(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return Read(document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"pressure settings JSON does not read: {ex.Message}", ex);
        }
    }

    /// <summary>Reads one JSON object written by <see cref="Write"/>.</summary>
    public static PressureSettings Read(JsonElement element)
    {
        var s = new PressureSettings();
        try
        {
            foreach (var p in element.EnumerateObject())
            {
                var v = p.Value;
                s = p.Name switch
                {
                    "marker" => s with { Marker = v.GetString()! },
                    "jcpds" => s with { Jcpds = v.GetString()! },
                    "lattice" => s with { Lattice = v.GetString()! },
                    "v0" => s with { V0 = v.GetDouble() },
                    "k0" => s with { K0 = v.GetDouble() },
                    "k0p" => s with { K0Prime = v.GetDouble() },
                    "eos" => s with { Eos = v.GetString()! },
                    "reflection" => s with { Reflection = v.GetString()! },
                    "window" => v.GetArrayLength() == 2 ? s with { WindowLo = v[0].GetDouble(), WindowHi = v[1].GetDouble() } : throw new FormatException("the pressure window is two numbers [lo, hi]."),
                    "shape" => s with { Shape = v.GetString()! },
                    "frame_period" => s with { FramePeriod = v.GetDouble() },
                    _ => throw new FormatException($"unknown pressure settings key '{p.Name}'."),
                };
            }
        }
        catch (InvalidOperationException ex)
        {
            throw new FormatException($"pressure settings JSON does not read: {ex.Message}", ex);
        }

        return s;
    }

    /// <summary>
    /// The one-line form the CLI and the console take: <c>MARKER HKL [LO:HI] [vinet|bm3]</c>, e.g. <c>Au 111</c> or
    /// <c>Pt 200 8.1:8.5 bm3</c>; a marker ending in .jcpds is a card. Not validated here.
    /// </summary>
    public static PressureSettings ParseSpec(string spec)
    {
        var words = spec.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length < 2)
        {
            throw new FormatException($"pressure '{spec}' is not MARKER HKL [LO:HI] [vinet|bm3] (e.g. 'Au 111'), or off");
        }

        var s = words[0].EndsWith(".jcpds", StringComparison.OrdinalIgnoreCase)
            ? new PressureSettings { Jcpds = words[0], Reflection = words[1] }
            : new PressureSettings { Marker = words[0], Reflection = words[1] };
        foreach (var word in words.Skip(2))
        {
            var parts = word.Split(':');
            if (parts.Length == 2
                && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var lo)
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var hi))
            {
                s = s with { WindowLo = lo, WindowHi = hi };
            }
            else if (word.Equals("vinet", StringComparison.OrdinalIgnoreCase) || word.Equals("bm3", StringComparison.OrdinalIgnoreCase))
            {
                s = s with { Eos = word.ToLowerInvariant() };
            }
            else
            {
                throw new FormatException($"pressure '{spec}': '{word}' is neither a 2θ window LO:HI nor vinet|bm3");
            }
        }

        return s;
    }

    /// <summary>The one-line form (<see cref="ParseSpec"/>) of these settings' marker, reflection, window and form.</summary>
    public string ToSpec()
    {
        var text = new StringBuilder(Jcpds.Length > 0 ? Jcpds : Marker).Append(' ').Append(Reflection);
        if (WindowLo is { } lo && WindowHi is { } hi)
        {
            text.Append(CultureInfo.InvariantCulture, $" {lo}:{hi}");
        }

        return Eos.Length > 0 ? text.Append(' ').Append(Eos).ToString() : text.ToString();
    }

    private (Marker Marker, EosParameters Scale) ChooseMarker(EosForm? form, bool loadFiles)
    {
        var userNumbers = V0 is not null || K0 is not null || K0Prime is not null;
        if (userNumbers && (V0 is null || K0 is null || K0Prime is null))
        {
            throw new PressureSettingsException("v0", "a user equation of state needs all of --v0 (Å³ per unit cell), --k0 (GPa) and --k0p");
        }

        if (Jcpds.Length > 0)
        {
            if (Marker.Length > 0 || userNumbers || Lattice.Length > 0)
            {
                throw new PressureSettingsException("jcpds", "--jcpds defines the marker: give it without --marker, --lattice or --v0/--k0/--k0p");
            }

            if (!loadFiles)
            {
                var placeholder = Anvil.Pressure.Marker.Custom(Path.GetFileNameWithoutExtension(Jcpds), new Lattice(Structure.Fcc), form ?? EosForm.BirchMurnaghan3, 1, 1, 4);
                return (placeholder, placeholder.DefaultScale);
            }

            var fromFile = JcpdsFile.Load(Jcpds);
            return (fromFile, fromFile.DefaultScale with { Form = form ?? fromFile.DefaultScale.Form });
        }

        if (Marker.Length == 0 && Lattice.Length == 0)
        {
            throw new PressureSettingsException("marker", "give --marker NAME, --jcpds FILE, or --lattice with --v0 --k0 --k0p");
        }

        var lattice = Lattice.Length == 0 ? Markers.Get(Marker).Lattice : Markers.ParseLattice(Lattice);
        if (userNumbers)
        {
            var custom = Anvil.Pressure.Marker.Custom(Marker.Length == 0 ? "user" : Marker, lattice, form ?? EosForm.Vinet, V0!.Value, K0!.Value, K0Prime!.Value);
            return (custom, custom.DefaultScale);
        }

        if (Marker.Length == 0 || Lattice.Length > 0)
        {
            throw new PressureSettingsException("lattice", "--lattice describes a user marker: add --v0 --k0 --k0p");
        }

        var marker = Markers.Get(Marker);
        return (marker, marker.Scale(form));
    }

    private static string FieldOf(Exception ex) => ex switch
    {
        PressureSettingsException s => s.Field,
        PressureInputException => "reflection",
        IOException or UnauthorizedAccessException => "jcpds",
        _ when ex.Message.Contains("marker", StringComparison.OrdinalIgnoreCase) => "marker",
        _ when ex.Message.Contains("reflection", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("hkl", StringComparison.OrdinalIgnoreCase) => "reflection",
        _ when ex.Message.Contains("lattice", StringComparison.OrdinalIgnoreCase) => "lattice",
        _ when ex.Message.Contains("eos", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("equation", StringComparison.OrdinalIgnoreCase) => "eos",
        _ => "eos",
    };

    private static void Str(Utf8JsonWriter w, string name, string value)
    {
        if (value.Length > 0)
        {
            w.WriteString(name, value);
        }
    }

    private static void Num(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }
}

/// <summary>What <see cref="PressureSettings.Build"/> makes of the settings.</summary>
public sealed record PressureSetup(Marker Marker, EosParameters Scale, EquationOfState Eos, Hkl Reflection, (double Lo, double Hi)? Window, TrackerOptions Tracker);

/// <summary>A pressure setting that cannot work; <see cref="Field"/> names it as the JSON does.</summary>
public sealed class PressureSettingsException(string field, string message) : ArgumentException(message)
{
    public string Field { get; } = field;
}
