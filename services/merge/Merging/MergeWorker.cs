using System.Collections.Concurrent;
using System.Diagnostics;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Pressure;
using Anvil.Workers;
using Grpc.Core;

namespace Anvil.Merge.Service.Merging;

/// <summary>
/// Worker 3: gathers the profiles of an acquisition into one NeXus file per acquisition (row = frame − 1, so
/// frame order holds whatever order profiles arrive in) and, when the profiles stream finishes, completes it
/// under its final name. Merge is the single writer of its files (one replica). Restarted, it rebuilds an
/// unfinished acquisition from the broker's stored profiles (read pointer reset to 0), so nothing is lost
/// or written twice; an acquisition whose file exists is left alone.
/// </summary>
public sealed partial class MergeWorker(BrokerClient broker, PipelineOptions options, SettingsStore settings, ResultIndex results, ILogger<MergeWorker> logger)
    : AcquisitionWorker(broker, options, logger)
{
    private readonly ConcurrentDictionary<string, (ResultFileWriter Writer, FrameTimes Times, OnlinePressure Pressure, Stopwatch Clock)> writers = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override string Stage => "merge";

    /// <inheritdoc />
    protected override string Source => PipelineStreams.Profiles;

    /// <summary>The final path of an acquisition's result.</summary>
    public string ResultPath(string acquisition) => Path.Combine(Path.GetFullPath(Options.OutputDir), acquisition + ".nxs");

    /// <inheritdoc />
    protected override async Task<bool> OnStartAsync(string acquisition, CancellationToken cancellationToken)
    {
        if (File.Exists(ResultPath(acquisition)))
        {
            LogAlreadyMerged(Logger, acquisition, ResultPath(acquisition));
            await results.RecordAsync(acquisition, Path.GetFileName(ResultPath(acquisition)), cancellationToken);
            return false;
        }

        try
        {
            await Broker.Consumer.ResetLastReadAsync(new GroupStreamRequest
            {
                Address = Broker.Address(PipelineStreams.Profiles, acquisition),
                Group = Stage,
            }, Broker.Headers, cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument)
        {
            // No profiles stored yet: nothing to rebuild.
        }

        // The pressure stage lives here, not in a service of its own: merge already has every profile, in frame order,
        // and writes the file the pressure belongs in (src/Anvil.Pressure/README.md "Online").
        // One clock per acquisition: the result's time axis and the pressure's frame_time give a frame the same time.
        var times = new FrameTimes(Options.DataRoot, Options.FramePeriod);
        writers[acquisition] = (ResultFileWriter.Create(ResultPath(acquisition)), times, new OnlinePressure(times), Stopwatch.StartNew());
        return true;
    }

    /// <inheritdoc />
    protected override Task HandleAsync(string acquisition, Dataset delivery, CancellationToken cancellationToken)
    {
        var profile = Profile.Parser.ParseFrom(delivery.Parts[0].Payload);
        Activity.Current?.SetTag(PipelineTelemetry.Frame, profile.Frame);
        Activity.Current?.SetTag(PipelineTelemetry.SettingsHash, profile.SettingsHash);
        if (profile.Error.Length > 0)
        {
            // The frame failed upstream; merge records it as failed, and the span keeps the trace.
            PipelineTelemetry.RecordError(Activity.Current, profile.Error);
        }

        var entry = writers[acquisition];
        var failedBefore = entry.Writer.WriteFailure is not null;
        var result = new FrameResult(
            (long)profile.Frame,
            (int)profile.FileIndex,
            (int)profile.IndexInFile,
            profile.M1File,
            profile.SettingsHash,
            profile.SettingsJson,
            ToRow(profile.TwoTheta),
            ToRow(profile.Requested),
            profile.Error,
            profile.HasTimestamp ? profile.Timestamp : null);
        entry.Writer.Write(result);
        lock (entry.Pressure)
        {
            // Under the lock the live P(t) reads with: the clock is fixed by the first frame that names a raw file.
            entry.Times.Observe(result);
            entry.Pressure.Add(result);
        }

        if (!failedBefore && entry.Writer.WriteFailure is { } failure)
        {
            // The profiles stay in the broker: the acquisition is rebuilt from them once the file can be written.
            PipelineTelemetry.CountError(Stage, "write");
            LogWriteFailed(Logger, failure, acquisition, entry.Writer.FinalPath);
        }

        PipelineTelemetry.CountFrames(Stage);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    protected override async Task OnFinishedAsync(string acquisition, ulong lastId, CancellationToken cancellationToken)
    {
        if (writers.TryRemove(acquisition, out var entry))
        {
            string path;
            using (var writer = entry.Writer)
            {
                var latest = writer.LatestSettingsJson is { } json ? IntegrationSettings.FromJson(json) : settings.DefaultsOf(acquisition).Settings;
                var metadata = ResultMetadata.Of(latest) with
                {
                    Beamtime = Options.Beamtime,
                    Acquisition = acquisition,
                    Beamline = Options.Beamline,
                    Facility = Options.Facility,
                    Times = entry.Times,
                    Detector = DetectorRecord(acquisition, latest),
                };
                path = writer.Complete((long)lastId, metadata, (file, frames) =>
                {
                    lock (entry.Pressure)
                    {
                        entry.Pressure.WriteGroups(file, frames);
                    }
                });
                LogMerged(Logger, acquisition, writer.FrameCount, path, entry.Clock.Elapsed.TotalSeconds);
                if (entry.Pressure.Processed > 0 && latest.Pressure is not null)
                {
                    LogPressure(Logger, acquisition, entry.Pressure.Good, entry.Pressure.Processed);
                }
            }

            // The console's progress table reads "done" from the broker (ResultIndex), not from this folder.
            await results.RecordAsync(acquisition, Path.GetFileName(path), cancellationToken);
        }
    }

    /// <summary>
    /// The pressure tracked so far for an acquisition being merged now, and the profiles merged (the console's P–t
    /// plot while it runs); null when it is not being merged or no frame asked for a pressure yet.
    /// </summary>
    public (PressureSeries Series, int Merged)? LivePressure(string acquisition)
    {
        if (!writers.TryGetValue(acquisition, out var entry))
        {
            return null;
        }

        lock (entry.Pressure)
        {
            return entry.Pressure.Snapshot() is { } series ? (series, entry.Writer.FrameCount) : null;
        }
    }

    // With detectors configured, the file names its detector and the geometry of the PONI its latest frames used.
    private ResultDetector? DetectorRecord(string acquisition, IntegrationSettings latest)
    {
        if (settings.Detectors.Parse(acquisition) is not { } run)
        {
            return null;
        }

        try
        {
            return ResultDetector.Of(run.Detector, latest.Poni);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            LogNoGeometry(Logger, ex, acquisition, latest.Poni);
            return ResultDetector.Of(run.Detector, latest.Poni, geometry: null);
        }
    }

    [LoggerMessage(5005, LogLevel.Warning, "Result of {Acquisition}: the PONI {Poni} no longer loads; the detector is recorded without its geometry")]
    private static partial void LogNoGeometry(ILogger logger, Exception exception, string acquisition, string poni);

    private static CurveRow? ToRow(Curve? curve) =>
        curve is null ? null : new CurveRow(curve.Radial.ToArray(), curve.Intensity.ToArray(), curve.Sigma.ToArray(), curve.Count.ToArray());

    [LoggerMessage(5001, LogLevel.Information, "Acquisition {Acquisition} already merged into {Path}; left alone")]
    private static partial void LogAlreadyMerged(ILogger logger, string acquisition, string path);

    [LoggerMessage(5004, LogLevel.Error, "Writing the result of {Acquisition} ({Path}) failed; it will not be completed, and is rebuilt from the broker's profiles once it can be written")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, string acquisition, string path);

    [LoggerMessage(5003, LogLevel.Information, "Pressure of {Acquisition}: {Good} of {Frames} frames gave a pressure (/processed/pressure)")]
    private static partial void LogPressure(ILogger logger, string acquisition, int good, long frames);

    [LoggerMessage(5002, LogLevel.Information, "Merged {Frames} frames of {Acquisition} into {Path} ({Seconds:0.00} s)")]
    private static partial void LogMerged(ILogger logger, string acquisition, int frames, string path, double seconds);
}
