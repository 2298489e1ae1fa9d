using System.Globalization;
using Anvil.Hdf5;

namespace Anvil.Pressure;

/// <summary>
/// Frame times, the one home of the rule the result's time axis (<c>/processed/result/time</c>, merge) and the P–t
/// curve (<c>frame_time</c>, online and <c>anvil pressure</c>) share. The Lambda's files carry no per-frame timestamp:
/// they carry the 1-based <c>sequence_number</c> of each frame (stitch makes it the pipeline's frame number),
/// <c>count_time</c> and <c>collection/delay_time</c> (ms), and run in <c>ContinuousReadWrite</c> mode (readout during
/// the next exposure, no dead time). So a frame's time is (sequence number − 1) × (count_time + delay_time) from the
/// start of the acquisition (<see cref="TimeOf"/>); without a readable file, the configured frame period; else NaN.
/// The source string says which, and is written next to every time axis.
/// </summary>
public static class FrameClock
{
    /// <summary>Seconds from the acquisition's first frame to frame <paramref name="frame"/> (1-based sequence number); NaN without a period.</summary>
    public static double TimeOf(long frame, double period) => double.IsFinite(period) ? (frame - 1) * period : double.NaN;

    /// <summary>The frame period (s) from the first readable of <paramref name="rawFiles"/> (relative names are tried as given, then in <paramref name="directory"/>).</summary>
    public static (double Period, string Source) FromLambdaFiles(IEnumerable<string> rawFiles, string directory, double? fallbackPeriod = null)
    {
        foreach (var named in rawFiles.Where(f => f.Length > 0).Take(1))
        {
            var raw = File.Exists(named) || Path.IsPathRooted(named) ? named : Path.Combine(directory, named);
            if (FromLambdaFile(raw) is { } found)
            {
                return found;
            }
        }

        return Fallback(fallbackPeriod);
    }

    /// <summary>The period when no detector file says: the configured one, or NaN with the reason.</summary>
    public static (double Period, string Source) Fallback(double? configuredPeriod) => configuredPeriod is { } p
        ? (p, string.Create(CultureInfo.InvariantCulture, $"configured frame period {p} s (the detector's files were not readable)"))
        : (double.NaN, "unknown: the raw files are not readable here; give --frame-period");

    /// <summary>count_time + delay_time of one Lambda module file, in seconds, or null when it cannot be read.</summary>
    public static (double Period, string Source)? FromLambdaFile(string path) =>
        LambdaMetadata.Read(path) is { } metadata ? FromLambdaMetadata(metadata) : null;

    /// <summary>count_time + delay_time (a missing delay counts 0) of read metadata, in seconds, or null without a positive count time.</summary>
    public static (double Period, string Source)? FromLambdaMetadata(LambdaMetadata metadata)
    {
        var count = metadata.CountTimeMs ?? double.NaN;
        var delay = metadata.DelayTimeMs ?? 0;
        if (!(count > 0) || !(delay >= 0))
        {
            return null;
        }

        return ((count + delay) / 1000, string.Create(CultureInfo.InvariantCulture,
            $"Lambda metadata of {metadata.Path}: (frame - 1) x (count_time {count} ms + delay_time {delay} ms); frame = the detector's sequence_number; continuous readout, no per-frame timestamps in the file"));
    }
}
