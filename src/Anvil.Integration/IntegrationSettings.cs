using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Anvil.Pressure;

namespace Anvil.Integration;

/// <summary>
/// Radial units of the 1-D pattern, named as in pyFAI (numbered as the pipeline contract's <c>Unit</c>). pyFAI 0.21 has
/// no d-spacing unit (only d*², "d*2_A^-2"), so <see cref="DA"/> is Anvil's: integrated in q exactly as pyFAI's q_A^-1
/// (the same bins, bit for bit), its axis then given as d = 2π/q in Å — non-uniform, descending with the bin index
/// (src/Anvil.Integration/README.md "d-spacing").
/// </summary>
public enum RadialUnit
{
    TwoThetaDeg = 1,
    TwoThetaRad = 2,
    QNm = 3,
    QA = 4,
    DA = 5,
}

/// <summary>Pixel splitting of pyFAI's CSR engines: ("no"|"bbox"|"full", "csr", "cython").</summary>
public enum SplitMethod
{
    No = 1,
    BBox = 2,
    Full = 3,
}

public static class RadialUnits
{
    /// <summary>The unit's name as pyFAI and the settings write it; throws <see cref="FormatException"/> saying what to give.</summary>
    public static RadialUnit Parse(string text) => text switch
    {
        "2th_deg" => RadialUnit.TwoThetaDeg,
        "2th_rad" => RadialUnit.TwoThetaRad,
        "q_nm^-1" => RadialUnit.QNm,
        "q_A^-1" => RadialUnit.QA,
        "d_A" => RadialUnit.DA,
        _ => throw new FormatException($"unit '{text}' is unknown: give {Names}."),
    };

    /// <summary>Parses a unit's name without throwing.</summary>
    public static bool TryParse(string text, out RadialUnit unit)
    {
        try
        {
            unit = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            unit = default;
            return false;
        }
    }

    /// <summary>Every unit's name, for messages and usage lines.</summary>
    public const string Names = "2th_deg, 2th_rad, q_nm^-1, q_A^-1 or d_A";

    public static string Format(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => "2th_deg",
        RadialUnit.TwoThetaRad => "2th_rad",
        RadialUnit.QNm => "q_nm^-1",
        RadialUnit.QA => "q_A^-1",
        RadialUnit.DA => "d_A",
        _ => throw new ArgumentOutOfRangeException(nameof(unit)),
    };

    /// <summary>The unit as NeXus writes it in a <c>units</c> attribute (deg, rad, 1/nm, 1/angstrom, angstrom).</summary>
    public static string NexusUnits(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => "deg",
        RadialUnit.TwoThetaRad => "rad",
        RadialUnit.QNm => "1/nm",
        RadialUnit.QA => "1/angstrom",
        RadialUnit.DA => "angstrom",
        _ => throw new ArgumentOutOfRangeException(nameof(unit)),
    };

    /// <summary>The axis label a plot gives the unit: 2θ (°), q (Å⁻¹), d (Å), ….</summary>
    public static string LongName(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => "2θ (°)",
        RadialUnit.TwoThetaRad => "2θ (rad)",
        RadialUnit.QNm => "q (nm⁻¹)",
        RadialUnit.QA => "q (Å⁻¹)",
        RadialUnit.DA => "d (Å)",
        _ => throw new ArgumentOutOfRangeException(nameof(unit)),
    };

    /// <summary>
    /// pyFAI's unit scale: internal value (2θ in rad, q in nm⁻¹) × scale = value in the unit. For d (not linear in q)
    /// the scale of the q_A^-1 it is binned in; use <see cref="FromInternal"/> for values.
    /// </summary>
    public static double Scale(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => 180.0 / Math.PI,
        RadialUnit.TwoThetaRad => 1.0,
        RadialUnit.QNm => 1.0,
        RadialUnit.QA or RadialUnit.DA => 0.1,
        _ => throw new ArgumentOutOfRangeException(nameof(unit)),
    };

    /// <summary>A value in the internal unit (2θ in rad, q in nm⁻¹) in this unit: × <see cref="Scale"/>, and for d, 2π / q_A.</summary>
    public static double FromInternal(this RadialUnit unit, double value) =>
        unit == RadialUnit.DA ? 2 * Math.PI / (value * unit.Scale()) : value * unit.Scale();

    /// <summary>A range given in this unit, in the internal unit and ascending (a d range [lo, hi] is the q range [2π/hi, 2π/lo]).</summary>
    public static (double Lo, double Hi) ToInternalRange(this RadialUnit unit, double lo, double hi) =>
        unit == RadialUnit.DA ? (2 * Math.PI / hi / unit.Scale(), 2 * Math.PI / lo / unit.Scale()) : (lo / unit.Scale(), hi / unit.Scale());

    /// <summary>True for units binned in q (q_nm^-1, q_A^-1, and d_A, binned as q_A^-1).</summary>
    public static bool IsQ(this RadialUnit unit) => unit is RadialUnit.QNm or RadialUnit.QA or RadialUnit.DA;
}

public static class SplitMethods
{
    /// <summary>The method's name as pyFAI and the settings write it; throws <see cref="FormatException"/> saying what to give.</summary>
    public static SplitMethod Parse(string text) => text switch
    {
        "no" => SplitMethod.No,
        "bbox" => SplitMethod.BBox,
        "full" => SplitMethod.Full,
        _ => throw new FormatException($"method '{text}' is unknown: give no, bbox or full."),
    };

    public static string Format(this SplitMethod method) => method switch
    {
        SplitMethod.No => "no",
        SplitMethod.BBox => "bbox",
        SplitMethod.Full => "full",
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };
}

/// <summary>
/// Anvil's one settings model: what an operator chooses for a 1-D integration — the files (PONI, mask, dark, flat)
/// and the numbers — with pyFAI 0.21 semantics (integrate1d, CSR engine, Poisson error model). The pipeline
/// configuration, <c>anvil integrate</c>, the Control service, the console and the result files all carry this
/// record: its defaults are the only defaults, <see cref="Validate"/> the only validator, <see cref="Resolve"/> the only
/// path rule and <see cref="ToJson"/> the only JSON.
/// <see cref="Dummy"/>/<see cref="DeltaDummy"/> follow pyFAI: pixels equal to the dummy (± delta) are excluded
/// and empty bins get the dummy. <see cref="ExcludeNegative"/> and <see cref="SaturationValue"/> are a
/// detector rule of Anvil's own (Lambda: −1 gap pixels, 4095 saturation): those pixels are excluded per frame
/// and empty bins keep their value (dummy if given, else 0). The engine reads the numbers; the file paths are
/// for whoever loads the files (<see cref="Geometry"/>, <see cref="MaskFile"/>, <see cref="ImageFile"/>).
/// </summary>
public sealed record IntegrationSettings
{
    /// <summary>Smallest and largest number of radial bins.</summary>
    public const int MinNpt = 2;

    /// <summary>Largest number of radial bins.</summary>
    public const int MaxNpt = 100_000;

    /// <summary>Longest file path the settings take (Linux's PATH_MAX).</summary>
    public const int MaxPathLength = 4096;

    public static IntegrationSettings Default { get; } = new();

    /// <summary>pyFAI PONI calibration file ("" = not set; the pipeline needs one).</summary>
    public string Poni { get; init; } = string.Empty;

    /// <summary>Mask file, 1 = masked: DIOPTAS .mask (TIFF), .npy, .edf or <c>file.h5::/path</c>; "" = none.</summary>
    public string Mask { get; init; } = string.Empty;

    /// <summary>Dark image subtracted from every frame (TIFF, .npy, .edf or <c>file.h5::/path</c>); "" = none.</summary>
    public string Dark { get; init; } = string.Empty;

    /// <summary>Flat image every frame is divided by (formats as <see cref="Dark"/>); "" = none.</summary>
    public string Flat { get; init; } = string.Empty;

    public int Npt { get; init; } = 2000;
    public RadialUnit Unit { get; init; } = RadialUnit.TwoThetaDeg;
    public SplitMethod Method { get; init; } = SplitMethod.BBox;
    public double? PolarizationFactor { get; init; }
    public bool CorrectSolidAngle { get; init; } = true;

    /// <summary>Radial range in <see cref="Unit"/>; null = pyFAI's automatic range.</summary>
    public (double Lo, double Hi)? RadialRange { get; init; }

    /// <summary>Azimuthal (χ) range in degrees, χ in ]−180, 180].</summary>
    public (double Lo, double Hi)? AzimuthRange { get; init; }

    public double? Dummy { get; init; }
    public double? DeltaDummy { get; init; }
    public bool ExcludeNegative { get; init; }
    public double? SaturationValue { get; init; }

    /// <summary>
    /// The online pressure stage (merge fits the marker reflection of every profile, src/Anvil.Pressure/README.md); null =
    /// off. Part of the JSON and the hash only when set, so settings without it keep their hashes.
    /// </summary>
    public PressureSettings? Pressure { get; init; }

    /// <summary>Threads one frame is integrated on (bins are split; each bin is summed by one thread in a fixed order). Not a setting of the numbers: left out of the JSON and the hash.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>
    /// The path rule, stated once: a relative settings path (PONI, mask, dark, flat) is taken from the data root, the
    /// one folder every service sees; absolute paths stay as they are. A mask's or image's <c>::/dataset</c> suffix is kept.
    /// </summary>
    public IntegrationSettings Resolve(string dataRoot) => this with
    {
        Poni = Full(Poni, dataRoot),
        Mask = Full(Mask, dataRoot),
        Dark = Full(Dark, dataRoot),
        Flat = Full(Flat, dataRoot),
        Pressure = Pressure?.Resolve(dataRoot),
    };

    /// <summary>
    /// Every problem with these settings, each naming its field and saying what to fix; empty when they are valid. The
    /// files must load (pass <paramref name="checkFiles"/> false to check only the numbers).
    /// </summary>
    public IReadOnlyList<SettingsError> Validate(bool checkFiles = true)
    {
        var errors = new List<SettingsError>();
        void Add(string field, string message) => errors.Add(new SettingsError(field, message));

        if (Npt is < MinNpt or > MaxNpt)
        {
            Add("npt", $"npt {Npt} is out of range: give {MinNpt} to {MaxNpt} radial bins.");
        }

        if (!Enum.IsDefined(Unit))
        {
            Add("unit", $"unit {(int)Unit} is unknown: give {RadialUnits.Names}.");
        }

        if (!Enum.IsDefined(Method))
        {
            Add("method", $"method {(int)Method} is unknown: give no, bbox or full.");
        }

        if (PolarizationFactor is { } p && (double.IsNaN(p) || p is < -1 or > 1))
        {
            Add("polarization", $"polarization {Num(p)} is out of range: give a factor from -1 to 1, or switch it off.");
        }

        if (RadialRange is { } r && !(double.IsFinite(r.Lo) && double.IsFinite(r.Hi) && r.Lo < r.Hi))
        {
            Add("radial_range", $"radial range [{Num(r.Lo)}, {Num(r.Hi)}] is not a range: give two finite numbers, the smaller first, in the unit of the settings.");
        }

        if (Unit == RadialUnit.DA && RadialRange is { } dRange && !(dRange.Lo > 0))
        {
            Add("radial_range", $"radial range [{Num(dRange.Lo)}, {Num(dRange.Hi)}] Å includes d ≤ 0: give d-spacings above 0 Å, the smaller first.");
        }

        if (AzimuthRange is { } a && !(double.IsFinite(a.Lo) && double.IsFinite(a.Hi) && a.Lo < a.Hi && a.Lo >= -360 && a.Hi <= 360))
        {
            Add("azimuth_range_deg", $"azimuth range [{Num(a.Lo)}, {Num(a.Hi)}] is not a range: give two angles in degrees within -360..360, the smaller first.");
        }

        if (Dummy is { } d && !double.IsFinite(d))
        {
            Add("dummy", $"dummy {Num(d)} is not a finite number.");
        }

        if (DeltaDummy is { } dd && (Dummy is null || !double.IsFinite(dd) || dd < 0))
        {
            Add("delta_dummy", Dummy is null
                ? "delta_dummy needs a dummy value: give the dummy too, or leave delta_dummy out."
                : $"delta_dummy {Num(dd)} is out of range: give a finite tolerance ≥ 0.");
        }

        if (Threads < 1)
        {
            Add("threads", $"threads {Threads} is out of range: give 1 or more.");
        }

        if (Pressure is { } pressure)
        {
            errors.AddRange(pressure.Validate(checkFiles).Select(e => new SettingsError("pressure", $"pressure {e.Field}: {e.Message}")));
        }

        if (checkFiles)
        {
            CheckFile(errors, "poni", Poni, required: true, "a readable pyFAI PONI file", path => PoniFile.Load(path));
            CheckFile(errors, "mask", Mask, required: false, "a readable .mask, .npy, .edf or file.h5::/dataset", path => MaskFile.Load(path));
            CheckFile(errors, "dark", Dark, required: false, "a readable .tif, .npy, .edf or file.h5::/dataset", path => ImageFile.Load(path));
            CheckFile(errors, "flat", Flat, required: false, "a readable .tif, .npy, .edf or file.h5::/dataset", path => ImageFile.Load(path));
        }

        return errors;
    }

    /// <summary>Throws <see cref="SettingsException"/> (an <see cref="ArgumentException"/>) listing every problem <see cref="Validate"/> finds.</summary>
    public IntegrationSettings ThrowIfInvalid(bool checkFiles = true)
    {
        var errors = Validate(checkFiles);
        return errors.Count == 0 ? this : throw new SettingsException(errors);
    }

    /// <summary>
    /// The canonical JSON: fixed key order, invariant round-trip numbers, the files that are set first. What a result file records per
    /// settings hash, what the broker stores per settings version, and what <see cref="FromJson"/> reads back.
    /// </summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            WritePath(w, "poni", Poni);
            WritePath(w, "mask", Mask);
            WritePath(w, "dark", Dark);
            WritePath(w, "flat", Flat);
            WriteNumbers(w);
            WritePressure(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// Reads settings written by <see cref="ToJson"/> (a result file's <c>process/settings/&lt;hash&gt;</c>, a broker
    /// settings version). Keys left out keep their defaults; an unknown key or a wrong type throws <see cref="FormatException"/>.
    /// Files written before this format read too: their <c>polarization</c> key is the factor, <c>version</c>, <c>scope</c>
    /// and <c>threads</c> are ignored.
    /// </summary>
    public static IntegrationSettings FromJson(string json)
    {
        var settings = Default;
        try
        {
            using var document = JsonDocument.Parse(json);
            foreach (var p in document.RootElement.EnumerateObject())
            {
                var v = p.Value;
                settings = p.Name switch
                {
                    "poni" => settings with { Poni = Str(v) },
                    "mask" => settings with { Mask = Str(v) },
                    "dark" => settings with { Dark = Str(v) },
                    "flat" => settings with { Flat = Str(v) },
                    "npt" => settings with { Npt = v.GetInt32() },
                    "unit" => settings with { Unit = RadialUnits.Parse(v.GetString()!) },
                    "method" => settings with { Method = SplitMethods.Parse(v.GetString()!) },
                    "polarization_factor" or "polarization" => settings with { PolarizationFactor = OptNum(v) },
                    "correct_solid_angle" => settings with { CorrectSolidAngle = v.GetBoolean() },
                    "radial_range" => settings with { RadialRange = OptRange(v) },
                    "azimuth_range_deg" => settings with { AzimuthRange = OptRange(v) },
                    "dummy" => settings with { Dummy = OptNum(v) },
                    "delta_dummy" => settings with { DeltaDummy = OptNum(v) },
                    "exclude_negative" => settings with { ExcludeNegative = v.GetBoolean() },
                    "saturation_value" => settings with { SaturationValue = OptNum(v) },
                    "pressure" => settings with { Pressure = v.ValueKind == JsonValueKind.Null ? null : PressureSettings.Read(v) },
                    "version" or "scope" or "threads" => settings,
                    _ => throw new FormatException($"unknown settings key '{p.Name}'."),
                };
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new FormatException($"settings JSON does not read: {ex.Message}", ex);
        }

        return settings;
    }

    /// <summary>
    /// A stable identity of "these numbers": SHA-256 (first 16 hex digits) over the canonical JSON of the geometry,
    /// the SHA-256 of the mask bytes (or "none") and the numeric settings, plus the SHA-256 of the dark and flat images a
    /// frame is corrected with (left out when empty, so hashes without them do not change). File paths and
    /// <see cref="Threads"/> are left out: they do not change results.
    /// </summary>
    public string ComputeHash(Geometry geometry, ReadOnlySpan<byte> mask, ReadOnlySpan<float> dark = default, ReadOnlySpan<float> flat = default)
    {
        var maskId = mask.IsEmpty ? "none" : Convert.ToHexStringLower(SHA256.HashData(mask));
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartObject("geometry");
            Num(w, "distance", geometry.Distance);
            Num(w, "poni1", geometry.Poni1);
            Num(w, "poni2", geometry.Poni2);
            Num(w, "rot1", geometry.Rot1);
            Num(w, "rot2", geometry.Rot2);
            Num(w, "rot3", geometry.Rot3);
            Num(w, "wavelength", geometry.Wavelength);
            Num(w, "pixel1", geometry.Pixel1);
            Num(w, "pixel2", geometry.Pixel2);
            w.WriteEndObject();
            w.WriteString("mask_sha256", maskId);
            if (!dark.IsEmpty)
            {
                w.WriteString("dark_sha256", Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(dark))));
            }

            if (!flat.IsEmpty)
            {
                w.WriteString("flat_sha256", Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(flat))));
            }

            w.WriteStartObject("settings");
            WriteNumbers(w);
            w.WriteEndObject();
            WritePressure(w);
            w.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(stream.ToArray()))[..16];
    }

    private static string Full(string path, string dataRoot) => path.Length == 0 ? path : HdfPath.GetFullPath(path, dataRoot);

    private static void CheckFile(List<SettingsError> errors, string field, string path, bool required, string what, Action<string> load)
    {
        if (path.Length == 0)
        {
            if (required)
            {
                errors.Add(new SettingsError(field, $"{field} is not set: give {what} (absolute, or relative to the data root)."));
            }

            return;
        }

        if (path.Length > MaxPathLength)
        {
            errors.Add(new SettingsError(field, $"{field} is a path of {path.Length} characters: give {what} in at most {MaxPathLength} characters."));
            return;
        }

        try
        {
            load(path);
        }
        catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException or UnauthorizedAccessException or ArgumentException or Anvil.Hdf5.Hdf5Exception)
        {
            errors.Add(new SettingsError(field, $"{field} '{path}' does not load ({ex.Message}); give {what} (absolute, or relative to the data root)."));
        }
    }

    // The numbers, in a fixed order: part of both the canonical JSON and the hash (whose bytes must not change).
    private void WriteNumbers(Utf8JsonWriter w)
    {
        w.WriteNumber("npt", Npt);
        w.WriteString("unit", Unit.Format());
        w.WriteString("method", Method.Format());
        OptNum(w, "polarization_factor", PolarizationFactor);
        w.WriteBoolean("correct_solid_angle", CorrectSolidAngle);
        Range(w, "radial_range", RadialRange);
        Range(w, "azimuth_range_deg", AzimuthRange);
        OptNum(w, "dummy", Dummy);
        OptNum(w, "delta_dummy", DeltaDummy);
        w.WriteBoolean("exclude_negative", ExcludeNegative);
        OptNum(w, "saturation_value", SaturationValue);
    }

    private void WritePressure(Utf8JsonWriter w)
    {
        if (Pressure is { } pressure)
        {
            w.WritePropertyName("pressure");
            pressure.Write(w);
        }
    }

    private static string Num(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Str(JsonElement v) => v.ValueKind == JsonValueKind.Null ? string.Empty : v.GetString()!;

    private static double? OptNum(JsonElement v) => v.ValueKind == JsonValueKind.Null ? null : v.GetDouble();

    private static (double Lo, double Hi)? OptRange(JsonElement v) =>
        v.ValueKind == JsonValueKind.Null ? null : v.GetArrayLength() == 2 ? (v[0].GetDouble(), v[1].GetDouble()) : throw new FormatException("a range is two numbers [lo, hi].");

    // A file that is not set is left out (so "dark" appears only where a dark image corrects the frames).
    private static void WritePath(Utf8JsonWriter w, string name, string path)
    {
        if (path.Length > 0)
        {
            w.WriteString(name, path);
        }
    }

    // Utf8JsonWriter writes the shortest round-trip form, so equal hashes mean bit-identical numbers.
    private static void Num(Utf8JsonWriter w, string name, double value) => w.WriteNumber(name, value);

    private static void OptNum(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            Num(w, name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void Range(Utf8JsonWriter w, string name, (double Lo, double Hi)? range)
    {
        if (range is { } r)
        {
            w.WriteStartArray(name);
            w.WriteNumberValue(r.Lo);
            w.WriteNumberValue(r.Hi);
            w.WriteEndArray();
        }
        else
        {
            w.WriteNull(name);
        }
    }
}

/// <summary>One problem with a setting: the field (as the JSON names it) and what to fix.</summary>
public sealed record SettingsError(string Field, string Message);

/// <summary>Settings that do not validate; <see cref="Errors"/> names each field and what to fix.</summary>
public sealed class SettingsException(IReadOnlyList<SettingsError> errors)
    : ArgumentException(string.Join(" ", errors.Select(e => e.Message)))
{
    public IReadOnlyList<SettingsError> Errors { get; } = errors;
}
