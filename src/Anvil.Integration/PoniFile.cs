using System.Globalization;
using System.Text.Json;

namespace Anvil.Integration;

/// <summary>Reads pyFAI calibration files (PONI v1 with PixelSize lines, v2 with Detector_config JSON).</summary>
public static class PoniFile
{
    public static Geometry Load(string path)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{path}: {ex.Message}", ex);
        }
    }

    /// <summary>A PONI (version 2) file's text for <paramref name="geometry"/>, as pyFAI writes it; <see cref="Parse"/> reads it back exactly.</summary>
    public static string Format(Geometry geometry, string comment = "")
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var shape = geometry.MaxShape is { } m ? $"[{m.Rows}, {m.Cols}]" : "null";
        return string.Join('\n',
            "# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis",
            comment.Length > 0 ? "# " + comment : "#",
            "poni_version: 2",
            "Detector: Detector",
            string.Create(c, $"Detector_config: {{\"pixel1\": {geometry.Pixel1:R}, \"pixel2\": {geometry.Pixel2:R}, \"max_shape\": {shape}}}"),
            string.Create(c, $"Distance: {geometry.Distance:R}"),
            string.Create(c, $"Poni1: {geometry.Poni1:R}"),
            string.Create(c, $"Poni2: {geometry.Poni2:R}"),
            string.Create(c, $"Rot1: {geometry.Rot1:R}"),
            string.Create(c, $"Rot2: {geometry.Rot2:R}"),
            string.Create(c, $"Rot3: {geometry.Rot3:R}"),
            string.Create(c, $"Wavelength: {geometry.Wavelength:R}"),
            string.Empty);
    }

    public static Geometry Parse(string text)
    {
        var values = new Dictionary<string, (string Value, int Line)>(StringComparer.OrdinalIgnoreCase);
        var lines = text.Split('\n');
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n].Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"line {n + 1}: expected 'key: value', got '{line}'.");
            }

            values[line[..colon].Trim()] = (line[(colon + 1)..].Trim(), n + 1);
        }

        if (values.TryGetValue("poni_version", out var version))
        {
            var v = Number(version, "poni_version");
            if (v > 2 && values.TryGetValue("orientation", out var orientation) && orientation.Value != "3")
            {
                throw new FormatException(
                    $"line {orientation.Line}: orientation {orientation.Value} is not supported; only pyFAI's default orientation 3 " +
                    "(origin top left, as in DIOPTAS and pyFAI 0.21) is. Re-save the calibration with orientation 3.");
            }
        }

        double pixel1, pixel2;
        (int, int)? maxShape = null;
        if (values.TryGetValue("Detector_config", out var config))
        {
            (pixel1, pixel2, maxShape) = ParseDetectorConfig(config);
        }
        else if (values.ContainsKey("PixelSize1") || values.ContainsKey("PixelSize2"))
        {
            pixel1 = Number(Required(values, "PixelSize1"), "PixelSize1");
            pixel2 = Number(Required(values, "PixelSize2"), "PixelSize2");
        }
        else
        {
            throw new FormatException("no pixel size: add 'Detector_config: {\"pixel1\": …, \"pixel2\": …}' (PONI v2) or 'PixelSize1'/'PixelSize2' lines (v1).");
        }

        var geometry = new Geometry(
            Number(Required(values, "Distance"), "Distance"),
            Number(Required(values, "Poni1"), "Poni1"),
            Number(Required(values, "Poni2"), "Poni2"),
            Number(Required(values, "Rot1"), "Rot1"),
            Number(Required(values, "Rot2"), "Rot2"),
            Number(Required(values, "Rot3"), "Rot3"),
            Number(Required(values, "Wavelength"), "Wavelength"),
            pixel1,
            pixel2,
            maxShape);
        if (geometry.Distance <= 0 || geometry.Wavelength <= 0 || pixel1 <= 0 || pixel2 <= 0)
        {
            throw new FormatException("Distance, Wavelength and pixel sizes must be positive.");
        }

        return geometry;
    }

    private static (string Value, int Line) Required(Dictionary<string, (string Value, int Line)> values, string key) =>
        values.TryGetValue(key, out var v) ? v : throw new FormatException($"missing key '{key}'.");

    private static double Number((string Value, int Line) entry, string key) =>
        double.TryParse(entry.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
            ? d
            : throw new FormatException($"line {entry.Line}: '{key}' must be a number, got '{entry.Value}'.");

    private static (double, double, (int, int)?) ParseDetectorConfig((string Value, int Line) entry)
    {
        try
        {
            using var doc = JsonDocument.Parse(entry.Value);
            var root = doc.RootElement;
            if (!root.TryGetProperty("pixel1", out var p1) || !root.TryGetProperty("pixel2", out var p2))
            {
                throw new FormatException($"line {entry.Line}: Detector_config needs 'pixel1' and 'pixel2' (a named detector without them is not supported).");
            }

            (int, int)? shape = null;
            if (root.TryGetProperty("max_shape", out var ms) && ms.ValueKind == JsonValueKind.Array && ms.GetArrayLength() == 2)
            {
                shape = (ms[0].GetInt32(), ms[1].GetInt32());
            }

            if (root.TryGetProperty("orientation", out var o) && o.ValueKind == JsonValueKind.Number && o.GetInt32() != 3)
            {
                throw new FormatException($"line {entry.Line}: Detector_config orientation {o.GetInt32()} is not supported; only orientation 3 is.");
            }

            return (p1.GetDouble(), p2.GetDouble(), shape);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"line {entry.Line}: Detector_config is not valid JSON: {ex.Message}", ex);
        }
    }
}
