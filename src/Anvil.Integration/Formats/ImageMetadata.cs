using System.Globalization;

namespace Anvil.Integration.Formats;

/// <summary>
/// What an image file says about its detector and exposure (null = the file does not say). Times in seconds, energies
/// in eV, wavelengths in Å. <see cref="Header"/> holds every key the format has as text (first frame), unparsed.
/// </summary>
public sealed record ImageMetadata
{
    /// <summary>Exposure (count) time per frame in s: TIFF/EDF <c>ExposureTime</c>, <c>count_time</c>, <c>acq_expo_time</c>; Pilatus <c>Exposure_time</c>; Eiger <c>count_time</c>.</summary>
    public double? ExposureTime { get; init; }

    /// <summary>Time from one frame's start to the next in s: Pilatus <c>Exposure_period</c>, Eiger <c>frame_time</c>, EDF <c>acq_latency_time</c> + exposure.</summary>
    public double? FramePeriod { get; init; }

    /// <summary>The detector's own description: Pilatus <c>Detector:</c>, Eiger <c>description</c>, TIFF/EDF <c>Detector</c>.</summary>
    public string? Detector { get; init; }

    /// <summary>Sensor material (Pilatus "Silicon sensor" line, Eiger <c>sensor_material</c>).</summary>
    public string? Sensor { get; init; }

    /// <summary>Threshold energy in eV (Pilatus <c>Threshold_setting</c>, Eiger <c>threshold_energy</c>).</summary>
    public double? ThresholdEnergy { get; init; }

    /// <summary>X-ray wavelength in Å (Pilatus <c>Wavelength</c>, Eiger <c>beam/incident_wavelength</c>).</summary>
    public double? Wavelength { get; init; }

    /// <summary>The file's keys and values as written (TIFF: ImageDescription lines and tags; CBF: mini-header; EDF: header; Eiger: detector fields).</summary>
    public IReadOnlyDictionary<string, string> Header { get; init; } = new Dictionary<string, string>();

    internal static double? Number(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var first = text.Trim().Split([' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    internal static string? Find(IReadOnlyDictionary<string, string> header, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (header.TryGetValue(key, out var value) && value.Trim().Length > 0)
            {
                return value.Trim();
            }
        }

        return null;
    }
}

/// <summary>
/// One frame's time as its file records it: <see cref="Timestamp"/> the wall-clock time as ISO 8601 text (with the
/// offset only when the file gives one), <see cref="Time"/> seconds from the file's first frame when the file says
/// (EDF <c>time_of_frame</c>, or timestamps that differ); null = not recorded.
/// </summary>
public sealed record FrameTime(string? Timestamp, double? Time)
{
    /// <summary>Normalises the date forms detectors write to ISO 8601: TIFF <c>2026:12:06 13:00:00</c>, C <c>ctime</c>
    /// (<c>Sun Dec  6 13:00:00 2026</c>), ISO with or without fraction and offset. Null when unparseable.</summary>
    public static string? Normalize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var t = string.Join(' ', text.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries));
        string[] local = ["yyyy:MM:dd HH:mm:ss", "ddd MMM d HH:mm:ss yyyy", "ddd MMM dd HH:mm:ss yyyy", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss"];
        if (DateTime.TryParseExact(t, local, CultureInfo.InvariantCulture, DateTimeStyles.None, out var plain))
        {
            return plain.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        }

        if (DateTime.TryParseExact(t, ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm:ss.FFFFFFF"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var fraction))
        {
            var digits = t.Length - t.IndexOf('.', StringComparison.Ordinal) - 1;
            return fraction.ToString("yyyy-MM-dd'T'HH:mm:ss." + new string('f', Math.Clamp(digits, 1, 7)), CultureInfo.InvariantCulture);
        }

        // With an offset (Eiger: 2026-12-06T13:00:00.000+01:00): kept as written once it parses.
        return DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) && (t.Contains('+', StringComparison.Ordinal) || t.EndsWith('Z'))
            ? t
            : null;
    }

    /// <summary>The timestamp as a <see cref="DateTimeOffset"/>; a time without offset is taken as UTC.</summary>
    public DateTimeOffset? ToDateTimeOffset() =>
        Timestamp is not null && DateTimeOffset.TryParse(Timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;
}
