using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Anvil.Integration;

/// <summary>Radial units of the 1-D pattern, named as in pyFAI.</summary>
public enum RadialUnit
{
    TwoThetaDeg,
    TwoThetaRad,
    QNm,
    QA,
}

/// <summary>Pixel splitting of pyFAI's CSR engines: ("no"|"bbox"|"full", "csr", "cython").</summary>
public enum SplitMethod
{
    No,
    BBox,
    Full,
}

public static class RadialUnits
{
    public static RadialUnit Parse(string text) => text switch
    {
        "2th_deg" => RadialUnit.TwoThetaDeg,
        "2th_rad" => RadialUnit.TwoThetaRad,
        "q_nm^-1" => RadialUnit.QNm,
        "q_A^-1" => RadialUnit.QA,
        _ => throw new FormatException($"unknown radial unit '{text}'; use 2th_deg, 2th_rad, q_nm^-1 or q_A^-1."),
    };

    public static string Format(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => "2th_deg",
        RadialUnit.TwoThetaRad => "2th_rad",
        RadialUnit.QNm => "q_nm^-1",
        RadialUnit.QA => "q_A^-1",
        _ => throw new ArgumentOutOfRangeException(nameof(unit)),
    };

    /// <summary>pyFAI's unit scale: internal value (2θ in rad, q in nm⁻¹) × scale = value in the unit.</summary>
    public static double Scale(this RadialUnit unit) => unit switch
    {
        RadialUnit.TwoThetaDeg => 180.0 / Math.PI,
        RadialUnit.TwoThetaRad => 1.0,
        RadialUnit.QNm => 1.0,
        RadialUnit.QA => 0.1,
        _ => throw new ArgumentOutOfRangeException(nameof(unit)),
    };

    public static bool IsQ(this RadialUnit unit) => unit is RadialUnit.QNm or RadialUnit.QA;
}

public static class SplitMethods
{
    public static SplitMethod Parse(string text) => text switch
    {
        "no" => SplitMethod.No,
        "bbox" => SplitMethod.BBox,
        "full" => SplitMethod.Full,
        _ => throw new FormatException($"unknown split method '{text}'; use no, bbox or full."),
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
/// What one 1-D integration does, with pyFAI 0.21 semantics (integrate1d, CSR engine, Poisson error model).
/// <see cref="Dummy"/>/<see cref="DeltaDummy"/> follow pyFAI: pixels equal to the dummy (± delta) are excluded
/// and empty bins get the dummy. <see cref="ExcludeNegative"/> and <see cref="SaturationValue"/> are a
/// detector rule of Anvil's own (Lambda: −1 gap pixels, 4095 saturation): those pixels are excluded per frame
/// and empty bins keep their value (dummy if given, else 0).
/// </summary>
public sealed record IntegrationSettings
{
    public static IntegrationSettings Default { get; } = new();

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

    /// <summary>Threads one frame is integrated on (bins are split; each bin is summed by one thread in a fixed order).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Canonical JSON: fixed key order, invariant round-trip numbers; the input of <see cref="ComputeHash"/>.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            WriteSettings(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// A stable identity of "these numbers": SHA-256 (first 16 hex digits) over the canonical JSON of the geometry,
    /// the SHA-256 of the mask bytes (or "none") and the settings, plus the SHA-256 of the dark and flat images a
    /// frame is corrected with (left out when empty, so hashes without them do not change). <see cref="Threads"/> is
    /// left out: it does not change results.
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
            WriteSettings(w, includeThreads: false);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(stream.ToArray()))[..16];
    }

    private void WriteSettings(Utf8JsonWriter w, bool includeThreads = true)
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
        if (includeThreads)
        {
            w.WriteNumber("threads", Threads);
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
