using System.Collections.Concurrent;
using System.Diagnostics;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Integration.Formats;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Google.Protobuf;

namespace Anvil.Integrate.Service.Integrating;

/// <summary>
/// Worker 2: decompresses each module chunk of a frame once into a pooled canvas (the stitch), masks and
/// azimuthally integrates it with a cached engine, and publishes the profile (id = frame number). A frame
/// whose files are missing or corrupt is published as a failed profile, so the run goes on and the failure
/// is visible in the output. Replicas share the consumer group. Each replica runs several consumers
/// (<c>Integrate:Consumers</c>, default 8) that read and stitch in parallel and hand their canvases to one
/// <see cref="FrameBatcher"/>: frames that are ready together share a pass over the engine's matrix, and a consumer
/// announces the frame it is reading (<c>Integrate:FillPasses</c>, default true), so a pass waits for the frames on
/// their way instead of running with room left (a pass costs nearly the same for one frame as for four: with 4
/// consumers and no waiting, 1.6 frames a pass and 72 frames per CPU-second for the chain; bench/FINDINGS-pipeline.md).
/// </summary>
public sealed partial class IntegrateWorker(BrokerClient broker, PipelineOptions options, ModuleFileCache files, EngineCache engines,
    FrameBatcher batcher, SettingsStore settings, IConfiguration configuration, ILogger<IntegrateWorker> logger)
    : AcquisitionWorker(broker, options, logger)
{
    private readonly ConcurrentBag<Buffers> pool = [];
    private readonly ConcurrentBag<ImageBuffers> imagePool = [];

    /// <inheritdoc />
    public override string Stage => "integrate";

    /// <inheritdoc />
    protected override string Source => PipelineStreams.Frames;

    /// <inheritdoc />
    protected override int Concurrency => configuration.GetValue("Integrate:Consumers", 8);

    private bool FillPasses => configuration.GetValue("Integrate:FillPasses", true);

    /// <inheritdoc />
    protected override async Task HandleAsync(string acquisition, Dataset delivery, CancellationToken cancellationToken)
    {
        var item = FrameWorkItem.Parser.ParseFrom(delivery.Parts[0].Payload);
        var span = Activity.Current;
        span?.SetTag(PipelineTelemetry.Frame, item.Frame);
        span?.SetTag(PipelineTelemetry.ChunkPart, item.FileIndex);
        span?.SetTag(PipelineTelemetry.Modules, item.Modules.Count);
        var profile = new Profile
        {
            Acquisition = acquisition,
            Frame = item.Frame,
            FileIndex = item.FileIndex,
            IndexInFile = item.IndexInFile,
            M1File = item.M1File,
            Error = item.Error,
        };
        if (item.HasTimestamp)
        {
            profile.Timestamp = item.Timestamp;
        }

        if (profile.Error.Length == 0)
        {
            try
            {
                using var work = PipelineTelemetry.Source.StartActivity("integrate frame");
                work?.SetTag(PipelineTelemetry.Frame, item.Frame);
                await IntegrateAsync(item, profile);
                work?.SetTag(PipelineTelemetry.SettingsHash, profile.SettingsHash);
            }
            catch (Exception ex) when (ex is Hdf5Exception or IOException or InvalidDataException or FormatException)
            {
                profile.Error = ex.Message;
            }
        }

        span?.SetTag(PipelineTelemetry.SettingsHash, profile.SettingsHash);
        if (profile.Error.Length > 0)
        {
            LogFrameFailed(Logger, acquisition, item.Frame, profile.Error);
            PipelineTelemetry.RecordError(span, profile.Error);
            PipelineTelemetry.CountError(Stage, "frame");
        }

        await Broker.SendAsync(new SendRequest
        {
            Address = Broker.Address(PipelineStreams.Profiles, acquisition),
            Id = item.Frame,
            Name = $"{acquisition}/profile/{item.Frame}",
            PayloadKind = PayloadKind.Inline,
            Payload = profile.ToByteString(),
            Meta = $"{{\"settings_hash\":\"{profile.SettingsHash}\",\"failed\":{(profile.Error.Length > 0 ? "true" : "false")}}}",
        }, cancellationToken);
        PipelineTelemetry.CountPublished(Stage);
        PipelineTelemetry.CountFrames(Stage);
    }

    /// <inheritdoc />
    protected override Task OnFinishedAsync(string acquisition, ulong lastId, CancellationToken cancellationToken)
    {
        var (integrations, passes) = (batcher.Frames, batcher.Passes);
        LogBatching(Logger, acquisition, integrations, passes, passes > 0 ? (double)integrations / passes : 0);
        return Broker.FinishStreamAsync(Broker.Address(PipelineStreams.Profiles, acquisition), lastId, cancellationToken: cancellationToken);
    }

    private async Task IntegrateAsync(FrameWorkItem item, Profile profile)
    {
        if (IsImageFrame(item))
        {
            IntegrateImage(item, profile);
            return;
        }

        var plan = StitchPlan.FromPlacements((int)item.CanvasRows, (int)item.CanvasCols,
            item.Modules.Select(m => new ModulePlacement(m.RowOffset, m.ColOffset, (int)m.Rows, (int)m.Cols)).ToArray(), item.FlipVertical);
        // Work items from before settings versions existed carry none: the configured defaults apply.
        var frameSettings = item.Settings?.ToSettings() ?? settings.Defaults.Settings;
        // The frame holds its engines until its passes are done: settings churn may evict them meanwhile, not dispose them.
        using var set = engines.Get(DetectorLayout.Stitched(plan), frameSettings);
        await IntegrateAsync(item, profile, plan, set);
    }

    private async Task IntegrateAsync(FrameWorkItem item, Profile profile, StitchPlan plan, EngineSet set)
    {
        var npt = set.TwoTheta.Settings.Npt;
        var buffers = pool.TryTake(out var b) && b.Fits(plan, npt) ? b : new Buffers(plan, npt);
        // Announced while it is read, so a pass that starts meanwhile waits for it (withdrawn if the read fails).
        using var expected = FillPasses ? batcher.Expect() : null;
        try
        {
            plan.Stitch(buffers.Canvas, buffers.Module, (k, destination) =>
                files.ReadFrame(item.Modules[k].Path, (int)item.Modules[k].IndexInFile, (int)item.Modules[k].Rows, (int)item.Modules[k].Cols, destination));

            await batcher.IntegrateAsync(set.TwoTheta, buffers.Canvas, buffers.TwoTheta, set.Dark, set.Flat, expected);
            profile.SettingsHash = set.Hash;
            profile.SettingsJson = set.SettingsJson;
            profile.TwoTheta = ToCurve(buffers.TwoTheta, RadialUnit.TwoThetaDeg);
            if (set.Requested is not null)
            {
                await batcher.IntegrateAsync(set.Requested, buffers.Canvas, buffers.Requested, set.Dark, set.Flat);
                profile.Requested = ToCurve(buffers.Requested, set.Settings.Unit);
            }
        }
        finally
        {
            pool.Add(buffers);
        }
    }

    /// <summary>A frame of a single-image detector: one "module", an image file stitch planned as the whole canvas.</summary>
    private static bool IsImageFrame(FrameWorkItem item) => item.Modules.Count == 1 && DetectorImageFile.IsImagePath(item.Modules[0].Path);

    // A single-image detector's frame: read through its format's reader as float32 (pyFAI integrates float32), then
    // the same engine path as a stitched Lambda canvas, with the image layout (no gap mask, no per-frame exclusion).
    private void IntegrateImage(FrameWorkItem item, Profile profile)
    {
        var image = item.Modules[0];
        var (rows, cols) = ((int)image.Rows, (int)image.Cols);
        var frameSettings = item.Settings?.ToSettings() ?? settings.Defaults.Settings;
        using var set = engines.Get(DetectorLayout.Image(rows, cols), frameSettings);
        var npt = set.TwoTheta.Settings.Npt;
        var buffers = imagePool.TryTake(out var b) && b.Canvas.Length == rows * cols && b.TwoTheta.Npt == npt ? b : new ImageBuffers(rows * cols, npt);
        try
        {
            files.ReadImageFrame(image.Path, (int)image.IndexInFile, rows, cols, buffers.Canvas);
            set.TwoTheta.Integrate<float>(buffers.Canvas, buffers.TwoTheta, set.Dark.Span, set.Flat.Span);
            profile.SettingsHash = set.Hash;
            profile.SettingsJson = set.SettingsJson;
            profile.TwoTheta = ToCurve(buffers.TwoTheta, RadialUnit.TwoThetaDeg);
            if (set.Requested is not null)
            {
                set.Requested.Integrate<float>(buffers.Canvas, buffers.Requested, set.Dark.Span, set.Flat.Span);
                profile.Requested = ToCurve(buffers.Requested, set.Settings.Unit);
            }
        }
        finally
        {
            imagePool.Add(buffers);
        }
    }

    private static Curve ToCurve(IntegrationResult result, RadialUnit unit)
    {
        var curve = new Curve { Unit = unit.Format() };
        curve.Radial.AddRange(result.Radial);
        curve.Intensity.AddRange(result.Intensity);
        curve.Sigma.AddRange(result.Sigma);
        foreach (var c in result.Count)
        {
            curve.Count.Add((float)c);
        }

        return curve;
    }

    // Per-consumer frame buffers, reused across frames (fresh pages cost ~17 µs each to fault in).
    private sealed class Buffers(StitchPlan plan, int npt)
    {
        public short[] Canvas { get; } = new short[plan.Rows * plan.Cols];

        public short[] Module { get; } = new short[plan.Placements.Max(p => p.Rows * p.Cols)];

        public IntegrationResult TwoTheta { get; } = new(npt);

        public IntegrationResult Requested { get; } = new(npt);

        public bool Fits(StitchPlan other, int points) =>
            Canvas.Length == other.Rows * other.Cols && Module.Length >= other.Placements.Max(p => p.Rows * p.Cols) && TwoTheta.Npt == points;
    }

    // Per-consumer buffers of single-image frames.
    private sealed class ImageBuffers(int pixels, int npt)
    {
        public float[] Canvas { get; } = new float[pixels];

        public IntegrationResult TwoTheta { get; } = new(npt);

        public IntegrationResult Requested { get; } = new(npt);
    }

    [LoggerMessage(4002, LogLevel.Information, "Acquisition {Acquisition} finished; since it started this replica has run {Integrations} integrations (one per frame and unit) in {Passes} passes over a matrix ({PerPass:F2} a pass)")]
    private static partial void LogBatching(ILogger logger, string acquisition, long integrations, long passes, double perPass);

    [LoggerMessage(4001, LogLevel.Error, "Frame {Frame} of {Acquisition} failed: {Error}")]
    private static partial void LogFrameFailed(ILogger logger, string acquisition, ulong frame, string error);
}
