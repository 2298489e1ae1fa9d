using System.Globalization;
using Anvil.Hdf5;

namespace Anvil.Pressure;

/// <summary>
/// Frame times for the P–t curve. The Lambda's files carry no per-frame timestamp: they carry the 1-based
/// <c>sequence_number</c> of each frame (the pipeline's frame number), <c>count_time</c> and <c>collection/delay_time</c>
/// (ms) and run in <c>ContinuousReadWrite</c> mode (readout during the next exposure, no dead time). So a frame's time is
/// (frame − 1) × (count_time + delay_time) from the start of the acquisition; without a readable file, the configured
/// frame period; else NaN. The <c>frame_time</c> dataset's <c>source</c> attribute says which.
/// </summary>
public static class FrameClock
{
    private const string Detector = "/entry/instrument/detector";

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

        return fallbackPeriod is { } p
            ? (p, string.Create(CultureInfo.InvariantCulture, $"configured frame period {p} s (the detector's files were not readable)"))
            : (double.NaN, "unknown: the raw files are not readable here; give --frame-period");
    }

    /// <summary>count_time + delay_time of one Lambda module file, in seconds, or null when it cannot be read.</summary>
    public static (double Period, string Source)? FromLambdaFile(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            using var file = Hdf5File.OpenRead(path);
            if (!file.Exists(Detector + "/count_time"))
            {
                return null;
            }

            var count = First(file, Detector + "/count_time");
            var delay = file.Exists(Detector + "/collection/delay_time") ? First(file, Detector + "/collection/delay_time") : 0;
            if (!(count > 0) || !(delay >= 0))
            {
                return null;
            }

            var c = CultureInfo.InvariantCulture;
            return ((count + delay) / 1000, string.Create(c,
                $"Lambda metadata of {path}: (frame - 1) x (count_time {count} ms + delay_time {delay} ms); continuous readout, no per-frame timestamps in the file"));
        }
        catch (Hdf5Exception)
        {
            return null;
        }
    }

    // Lambda writes these as (1,) growing datasets; an older writer as scalars.
    private static double First(Hdf5File file, string path)
    {
        var info = file.GetDatasetInfo(path);
        return info.Shape.Length == 0 ? file.ReadScalar<double>(path) : file.ReadDataset<double>(path)[0];
    }
}
