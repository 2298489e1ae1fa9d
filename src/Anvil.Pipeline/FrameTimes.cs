using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pressure;

namespace Anvil.Pipeline;

/// <summary>
/// One result's frame times and detector metadata, shared by the result's time axis (<see cref="ResultFileWriter"/>)
/// and the online pressure stage (<see cref="OnlinePressure"/>), so both give a frame the same time. Resolved once, from
/// the first raw file a frame names (<see cref="FrameResult.M1File"/>, relative to the data root): its
/// <see cref="LambdaMetadata"/> and <see cref="FrameClock"/>'s period; when that file cannot be read, the configured
/// frame period (<see cref="PipelineOptions.FramePeriod"/>, else the pressure settings' <c>frame_period</c>). The rule
/// itself lives in <see cref="FrameClock"/>; docs/science.md "Time axis and metadata" lists every value's source.
/// Frames whose files record their own time (single-image detectors: <see cref="FrameResult.Timestamp"/>) take it
/// instead, relative to the lowest-numbered frame that has one; whole-second stamps (a TIFF's DateTime) give way to a
/// configured period, which is finer.
/// </summary>
public sealed class FrameTimes
{
    private readonly string dataRoot;
    private readonly double? configuredPeriod;
    private (double Period, string Source)? clock;
    private readonly SortedDictionary<long, double> stamps = [];
    private bool finerThanSeconds;

    /// <param name="dataRoot">Where relative raw file names resolve (the pipeline's data root, or the result's folder).</param>
    /// <param name="configuredPeriod">Seconds between frames when the detector's files do not say.</param>
    public FrameTimes(string dataRoot, double? configuredPeriod = null)
    {
        this.dataRoot = Path.GetFullPath(dataRoot);
        this.configuredPeriod = configuredPeriod;
    }

    /// <summary>The metadata of the first raw file, or null until a frame named a readable Lambda file.</summary>
    public LambdaMetadata? Detector { get; private set; }

    /// <summary>True once a frame named a raw file (read or not): the period and its source are then fixed.</summary>
    public bool Resolved => clock is not null;

    /// <summary>Seconds between frames; NaN when unknown.</summary>
    public double Period => Clock.Period;

    /// <summary>Where <see cref="Period"/> came from, written next to every time axis.</summary>
    public string Source => Clock.Source;

    private (double Period, string Source) Clock => clock ?? (configuredPeriod is { } p
        ? FrameClock.Fallback(p)
        : (double.NaN, "unknown: no frame named a raw file, and no frame period is configured (Pipeline:FramePeriod)"));

    /// <summary>True when frame times come from the frames' own timestamps (<see cref="FrameResult.Timestamp"/>).</summary>
    public bool FromTimestamps => stamps.Count > 0 && (finerThanSeconds || configuredPeriod is null);

    /// <summary>Where the times of <see cref="TimeOf"/> come from, written next to every time axis.</summary>
    public string TimeSource => FromTimestamps
        ? $"the detector's own timestamps in its image files, seconds after frame {stamps.Keys.First()}'s" + (finerThanSeconds ? string.Empty : " (whole seconds)")
        : Source;

    /// <summary>Takes one frame; the first that names a raw file fixes the period and the detector metadata.</summary>
    public void Observe(FrameResult result)
    {
        if (result.Timestamp is { } stamp && double.IsFinite(stamp))
        {
            stamps[result.Frame] = stamp;
            finerThanSeconds |= stamp != Math.Floor(stamp);
        }

        if (clock is not null || result.M1File.Length == 0)
        {
            return;
        }

        var raw = Path.IsPathRooted(result.M1File) ? result.M1File : Path.Combine(dataRoot, result.M1File);
        Detector = LambdaMetadata.Read(raw);
        clock = (Detector is null ? null : FrameClock.FromLambdaMetadata(Detector)) ?? FrameClock.Fallback(configuredPeriod ?? PressurePeriod(result.SettingsJson));
    }

    /// <summary>Seconds from the first frame to frame <paramref name="frame"/> (the detector's 1-based sequence number); NaN when unknown.</summary>
    public double TimeOf(long frame)
    {
        if (!FromTimestamps)
        {
            return FrameClock.TimeOf(frame, Period);
        }

        // A frame without a stamp of its own (it failed before its file was read) has no time.
        return stamps.TryGetValue(frame, out var stamp) ? stamp - stamps.First().Value : double.NaN;
    }

    private static double? PressurePeriod(string settingsJson)
    {
        if (settingsJson.Length == 0)
        {
            return null;
        }

        try
        {
            return IntegrationSettings.FromJson(settingsJson).Pressure?.FramePeriod;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
