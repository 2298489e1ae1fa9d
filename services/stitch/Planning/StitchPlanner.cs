using System.Collections.Concurrent;
using System.Diagnostics;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Hdf5;
using Anvil.Integration.Formats;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Google.Protobuf;

namespace Anvil.Stitch.Service.Planning;

/// <summary>
/// Worker 1, the stitch stage, plans the stitch; it moves no pixels (integrate stitches each frame into its canvas as it
/// decompresses it, so every pixel is decompressed once, in the process that integrates it, and no canvas crosses the
/// broker). For each chunk (a raw dataset with one part per module) it waits until every module file is readable,
/// checks the modules agree (frame count, sequence numbers), plans the stitched canvas from the files' own shapes
/// and translations, and publishes one <see cref="FrameWorkItem"/> per frame (id = sequence number) in small
/// batches. Work items carry file references and placements, not pixels: integrate decompresses each module
/// chunk once, straight into its place. Each work item also carries the integration settings in force when its
/// chunk was stitched (<see cref="SettingsStore"/>), so an operator's change applies from a chunk boundary. While the
/// operator has paused an acquisition (<see cref="PauseStore"/>), its raw stream is not consumed.
/// </summary>
public sealed partial class StitchPlanner(BrokerClient broker, PipelineOptions options, SettingsStore settings, PauseStore pause, ILogger<StitchPlanner> logger)
    : AcquisitionWorker(broker, options, logger)
{
    private readonly DataRoot dataRoot = new(options.DataRoot);
    private readonly ChunkFileWait readable = ChunkFileWait.From(options);

    // Each acquisition's module layouts as its first planned chunk had them: a later chunk whose modules differ would be
    // stitched into a canvas of another shape and integrated into wrong but plausible rows, so its frames fail instead.
    private readonly ConcurrentDictionary<string, ModuleLayout[]> layouts = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public override string Stage => "stitch";

    /// <inheritdoc />
    protected override string Source => PipelineStreams.Raw;

    /// <inheritdoc />
    /// <remarks>A paused acquisition's chunks wait in the broker, unconsumed: the chain downstream simply gets nothing new.</remarks>
    protected override Task<bool> IsPausedAsync(string acquisition, CancellationToken cancellationToken) => pause.IsPausedAsync(acquisition, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Stitch reads one chunk at a time with unary reads, checking the pause before each (a chunk is ten frames: its reads cost little).</remarks>
    protected override bool Subscribes => false;

    /// <inheritdoc />
    protected override async Task HandleAsync(string acquisition, Dataset delivery, CancellationToken cancellationToken)
    {
        var part = (uint)(delivery.Id - 1);
        var parts = delivery.Parts.OrderBy(p => p.DatasetSubstream).ToArray();
        Activity.Current?.SetTag(PipelineTelemetry.ChunkPart, part);
        Activity.Current?.SetTag(PipelineTelemetry.Modules, parts.Length);
        var items = await ReadChunkAsync(acquisition, part, parts, cancellationToken);

        // The settings in force now apply to this whole chunk: a change takes effect at a chunk boundary.
        var spec = (await settings.CurrentAsync(acquisition, cancellationToken)).ToMessage();
        foreach (var item in items)
        {
            item.Settings = spec;
        }

        var address = Broker.Address(PipelineStreams.Frames, acquisition);
        foreach (var batch in items.Chunk(Math.Max(1, Options.StitchBatch)))
        {
            var reply = await Broker.SendBatchAsync(batch.Select(item => FrameRequest(address, item)).ToArray(), cancellationToken);
            if (reply.Results.FirstOrDefault(r => r.Code != 0) is { } failed)
            {
                throw new InvalidOperationException($"broker refused frame {failed.Id} of {acquisition}: {failed.Reason} {failed.Message}");
            }

            PipelineTelemetry.CountPublished(Stage, batch.Length);
        }

        PipelineTelemetry.CountFrames(Stage, items.Count);
    }

    // Fan-out: one chunk becomes many frames. Each frame gets a span of its own, a child of this chunk's receive span,
    // and its context goes into the frame message's headers, so the frame's journey downstream hangs below it.
    private static SendRequest FrameRequest(Address address, FrameWorkItem item)
    {
        var request = new SendRequest
        {
            Address = address,
            Id = item.Frame,
            Name = $"{item.Acquisition}/frame/{item.Frame}",
            PayloadKind = PayloadKind.Inline,
            Payload = item.ToByteString(),
            Meta = "{}",
        };
        using var frame = PipelineTelemetry.Source.StartActivity("stitch frame");
        if (frame is not null)
        {
            frame.SetTag(PipelineTelemetry.Stage, "stitch");
            frame.SetTag(PipelineTelemetry.Acquisition, item.Acquisition);
            frame.SetTag(PipelineTelemetry.Frame, item.Frame);
            frame.SetTag(PipelineTelemetry.ChunkPart, item.FileIndex);
            frame.SetTag(PipelineTelemetry.Modules, item.Modules.Count);
            if (item.Error.Length > 0)
            {
                PipelineTelemetry.RecordError(frame, item.Error);
            }

            BrokerTelemetry.Inject(frame, request.Headers);
        }

        return request;
    }

    /// <inheritdoc />
    protected override async Task OnFinishedAsync(string acquisition, ulong lastId, CancellationToken cancellationToken)
    {
        layouts.TryRemove(acquisition, out _);
        // Every chunk is acknowledged, so every frame is published: the last frame id is the highest stored.
        var frames = Broker.Address(PipelineStreams.Frames, acquisition);
        var last = await Broker.GetLastAsync(frames, cancellationToken);
        await Broker.FinishStreamAsync(frames, last?.Id ?? 0, cancellationToken: cancellationToken);
    }

    private async Task<IReadOnlyList<FrameWorkItem>> ReadChunkAsync(string acquisition, uint part, MessageRecord[] parts, CancellationToken cancellationToken)
    {
        if (parts.Length == 1 && DetectorImageFile.IsImagePath(parts[0].Name))
        {
            return await ReadImageChunkAsync(acquisition, part, parts[0], cancellationToken);
        }

        var modules = new ModuleInfo[parts.Length];
        var errors = new List<string>();
        for (var k = 0; k < parts.Length; k++)
        {
            var announced = (int)ChunkMeta.AnnouncedFrames(parts[k].Meta);
            try
            {
                modules[k] = await WaitReadableAsync(parts[k].Name, announced, cancellationToken);
            }
            catch (Exception ex) when (ex is Hdf5Exception or IOException or TimeoutException or InvalidDataException)
            {
                errors.Add($"module {k + 1} ({parts[k].Name}): {ex.Message}");
            }
        }

        var reference = modules.FirstOrDefault(m => m is not null)
            ?? throw new InvalidDataException($"chunk part {part} of {acquisition}: no module file is readable: {string.Join("; ", errors)}");
        // A configured detector's kind fixes its module shape: another shape is another detector's file (or a broken one).
        var detector = settings.Detectors.Parse(acquisition)?.Detector;
        foreach (var m in modules.Where(m => m is not null))
        {
            if (detector?.Kind.ModuleShape is { } shape && (m.Layout.Rows, m.Layout.Cols) != shape)
            {
                errors.Add($"{m.Path}: frames are {m.Layout.Rows}×{m.Layout.Cols}, but detector {detector.Name} is a {detector.Kind.Name} with {shape.Rows}×{shape.Cols} modules");
            }

            if (!m.Sequence.SequenceEqual(reference.Sequence))
            {
                errors.Add($"{m.Path}: sequence numbers differ from {reference.Path}");
            }

            // A Lambda detector's modules all have one shape.
            if (m.Layout.Rows != reference.Layout.Rows || m.Layout.Cols != reference.Layout.Cols)
            {
                errors.Add($"{m.Path}: frames are {m.Layout.Rows}×{m.Layout.Cols}, {reference.Path}'s {reference.Layout.Rows}×{reference.Layout.Cols}; the modules of one detector must match");
            }
        }

        if (errors.Count == 0)
        {
            var current = modules.Select(m => m.Layout).ToArray();
            var first = layouts.GetOrAdd(acquisition, current);
            if (first.Length != current.Length)
            {
                errors.Add($"chunk part {part} has {current.Length} modules, the acquisition's first chunk {first.Length}");
            }
            else
            {
                for (var k = 0; k < current.Length; k++)
                {
                    if (current[k] != first[k])
                    {
                        errors.Add($"module {k + 1} ({modules[k].Path}): {Describe(current[k])}, but the acquisition's first chunk had {Describe(first[k])}; a module must keep its shape and place through an acquisition");
                    }
                }
            }
        }

        var error = string.Join("; ", errors);
        if (error.Length > 0)
        {
            LogChunkFailed(Logger, acquisition, part, error);
            PipelineTelemetry.RecordError(Activity.Current, error);
            PipelineTelemetry.CountError(Stage, "frame");
        }

        var plan = error.Length == 0 ? StitchPlan.Create(modules.Select(m => m.Layout).ToArray()) : null;
        var items = new List<FrameWorkItem>(reference.Sequence.Length);
        for (var i = 0; i < reference.Sequence.Length; i++)
        {
            var item = new FrameWorkItem
            {
                Acquisition = acquisition,
                Frame = (ulong)reference.Sequence[i],
                FileIndex = part,
                M1File = parts[0].Name,
                IndexInFile = (uint)i,
                Error = error,
            };
            if (plan is not null)
            {
                item.CanvasRows = (uint)plan.Rows;
                item.CanvasCols = (uint)plan.Cols;
                item.FlipVertical = plan.FlipVertical;
                for (var k = 0; k < modules.Length; k++)
                {
                    var p = plan.Placements[k];
                    item.Modules.Add(new ModuleFrameRef
                    {
                        Path = modules[k].Path,
                        IndexInFile = (uint)i,
                        RowOffset = p.RowOffset,
                        ColOffset = p.ColOffset,
                        Rows = (uint)p.Rows,
                        Cols = (uint)p.Cols,
                    });
                }
            }

            items.Add(item);
        }

        return items;
    }

    // A module file is taken once readable with its announced frames; one still arriving is waited for (ChunkFileWait).
    private Task<ModuleInfo> WaitReadableAsync(string relative, int announcedFrames, CancellationToken cancellationToken) =>
        readable.WaitAsync(dataRoot.ToFull(dataRoot.ToRelative(relative)), announcedFrames, full =>
        {
            using var file = LambdaModuleFile.Open(full);
            var info = new ModuleInfo(relative, new ModuleLayout(file.Rows, file.Cols, file.TranslationX, file.TranslationY), file.SequenceNumbers.ToArray());
            return (info, file.FrameCount);
        }, ChunkFileWait.UnsupportedFilter, cancellationToken);

    /// <summary>
    /// A single-image detector's chunk: one image file (TIFF, CBF, EDF, Eiger master) is a one-module chunk whose canvas
    /// is the image itself. Its frames are numbered part × frames-in-file + index + 1 (one image a file: part + 1). The
    /// detector's shape is its PONI's <c>max_shape</c> when the PONI has one, else the acquisition's first image's; an
    /// image of another shape, one the reader cannot decode, or an image sent to a detector of another kind fails its
    /// frames with a reason naming the file (and the detector, when detectors are configured), and the acquisition goes on.
    /// </summary>
    private async Task<IReadOnlyList<FrameWorkItem>> ReadImageChunkAsync(string acquisition, uint part, MessageRecord announced, CancellationToken cancellationToken)
    {
        var relative = announced.Name;
        var detector = settings.Detectors.Parse(acquisition)?.Detector;
        var named = detector is null ? "this acquisition's detector" : $"detector {detector.Name}";
        string error;
        ImageInfo? image = null;
        try
        {
            if (detector is not null && detector.Kind != DetectorKinds.Image)
            {
                throw new InvalidDataException($"image {relative} is a single image, but detector {detector.Name} is a {detector.Kind.Name}: configure the detector with Kind {DetectorKinds.Image.Name}, or announce the image under the detector that wrote it");
            }

            image = await WaitImageReadableAsync(relative, (int)ChunkMeta.AnnouncedFrames(announced.Meta), cancellationToken);
            var poni = (await settings.CurrentAsync(acquisition, cancellationToken)).Settings.Poni;
            var first = layouts.GetOrAdd(acquisition, [new ModuleLayout(image.Rows, image.Cols, 0, 0)])[0];
            var (rows, cols, source) = PoniShape(poni) is { } shape
                ? (shape.Rows, shape.Cols, $"its PONI {Path.GetFileName(poni)} has max_shape [{shape.Rows}, {shape.Cols}]")
                : (first.Rows, first.Cols, "the acquisition's first image");
            error = rows == image.Rows && cols == image.Cols
                ? string.Empty
                : $"image {relative} is {image.Rows}×{image.Cols} pixels, but {named} takes {rows}×{cols} images ({source}): give every image of a detector its shape";
        }
        catch (Exception ex) when (ex is Hdf5Exception or IOException or TimeoutException or InvalidDataException or FormatException)
        {
            error = ex.Message.Contains(relative, StringComparison.Ordinal) || ex.Message.StartsWith(dataRoot.FullPath, StringComparison.Ordinal)
                ? ex.Message
                : $"image {relative}: {ex.Message}";
            if (detector is not null && !error.Contains($"detector {detector.Name}", StringComparison.Ordinal))
            {
                error = $"detector {detector.Name}: {error}";
            }
        }

        if (error.Length > 0)
        {
            LogChunkFailed(Logger, acquisition, part, error);
            PipelineTelemetry.RecordError(Activity.Current, error);
            PipelineTelemetry.CountError(Stage, "frame");
        }

        var frames = Math.Max(1, image?.Frames ?? 1);
        var items = new List<FrameWorkItem>(frames);
        for (var i = 0; i < frames; i++)
        {
            var item = new FrameWorkItem
            {
                Acquisition = acquisition,
                Frame = ((ulong)part * (ulong)frames) + (ulong)i + 1,
                FileIndex = part,
                M1File = relative,
                IndexInFile = (uint)i,
                Error = error,
            };
            if (image?.Timestamps[i] is { } timestamp)
            {
                item.Timestamp = timestamp;
            }

            if (error.Length == 0)
            {
                item.CanvasRows = (uint)image!.Rows;
                item.CanvasCols = (uint)image.Cols;
                item.Modules.Add(new ModuleFrameRef { Path = relative, IndexInFile = (uint)i, Rows = (uint)image.Rows, Cols = (uint)image.Cols });
            }

            items.Add(item);
        }

        return items;
    }

    // Like a Lambda module file, by the same rule (ChunkFileWait).
    private Task<ImageInfo> WaitImageReadableAsync(string relative, int announcedFrames, CancellationToken cancellationToken) =>
        readable.WaitAsync(dataRoot.ToFull(dataRoot.ToRelative(relative)), announcedFrames, full =>
        {
            using var file = DetectorImageFile.Open(full);
            return (new ImageInfo(file.Rows, file.Cols, file.FrameCount, Enumerable.Range(0, file.FrameCount).Select(file.UnixTimeOf).ToArray()), file.FrameCount);
        }, ChunkFileWait.UnsupportedFilter, cancellationToken);

    // Timestamps: each frame's time as the file records it (s since the Unix epoch; null = not recorded).
    private sealed record ImageInfo(int Rows, int Cols, int Frames, double?[] Timestamps);

    // The detector shape a PONI states (pyFAI's Detector_config max_shape); null when it states none or does not load
    // (the engine then reports the PONI itself).
    private static (int Rows, int Cols)? PoniShape(string poni)
    {
        try
        {
            return poni.Length > 0 ? Anvil.Integration.PoniFile.Load(poni).MaxShape : null;
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Describe(ModuleLayout layout) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{layout.Rows}×{layout.Cols} frames at ({layout.TranslationX}, {layout.TranslationY})");

    private sealed record ModuleInfo(string Path, ModuleLayout Layout, int[] Sequence);

    [LoggerMessage(3001, LogLevel.Error, "Chunk part {Part} of {Acquisition} fails its frames: {Error}")]
    private static partial void LogChunkFailed(ILogger logger, string acquisition, uint part, string error);
}
