using System.Collections.Concurrent;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;

namespace Anvil.Ingest.Service.Ingesting;

/// <summary>
/// Turns "chunk file written for module k of N" into a broker dataset part (raw/&lt;acquisition&gt;, id = part + 1,
/// substream k of N, a FILE reference below the data root) and announces each new acquisition on the control stream of
/// the worker pool that processes it: the live chain's (<see cref="PipelineStreams.Acquisitions"/>), or, for a
/// reprocessing, the reprocess pool's (<see cref="PipelineStreams.Reprocessings"/>), so the live workers never see it.
/// With detectors configured, detector D's chunks of acquisition A go to the stream <c>A_D</c> (<see cref="DetectorSet.Stream"/>).
/// </summary>
public sealed partial class ChunkAnnouncer(BrokerClient broker, PipelineOptions options, DetectorSet detectors, ILogger<ChunkAnnouncer> logger)
{
    /// <summary>The most frames one announced chunk part may hold (a Lambda writes a few thousand per file).</summary>
    public const uint MaxFramesPerChunk = 100_000;

    private readonly DataRoot dataRoot = new(options.DataRoot);
    private readonly ConcurrentDictionary<string, Task<SendReply>> announced = new(StringComparer.Ordinal);
    private long chunks;
    private long finished;

    public string DataRootPath => dataRoot.FullPath;

    public long ChunksAnnounced => Interlocked.Read(ref chunks);

    public long AcquisitionsFinished => Interlocked.Read(ref finished);

    /// <summary>
    /// Validates and publishes one chunk; <see cref="ArgumentException"/> says what to fix. A Lambda-named file must be
    /// the chunk the request says: acquisition, module and part, or only module and part when
    /// <paramref name="renamed"/> (reprocessing re-announces an acquisition's files under a new name, for the reprocess pool).
    /// </summary>
    public async Task<SendReply> AnnounceAsync(AnnounceChunkRequest request, CancellationToken cancellationToken, bool renamed = false)
    {
        // The chunk's journey starts here: this span (a child of the driver's call, if it sent a traceparent) is the
        // parent of the raw message's producer span, whose context the broker message carries on to stitch.
        using var activity = PipelineTelemetry.Source.StartActivity("ingest chunk");
        activity?.SetTag(PipelineTelemetry.Stage, "ingest");
        activity?.SetTag(PipelineTelemetry.Acquisition, request.Acquisition);
        activity?.SetTag(PipelineTelemetry.ChunkPart, request.Part);
        activity?.SetTag(PipelineTelemetry.Module, request.Module);
        activity?.SetTag(PipelineTelemetry.Modules, request.Modules);
        if (request.Detector.Length > 0)
        {
            activity?.SetTag(PipelineTelemetry.Detector, request.Detector);
        }

        PipelineTelemetry.CountReceived("ingest");
        try
        {
            var reply = await AnnounceCheckedAsync(request, renamed, cancellationToken);
            activity?.SetTag("messaging.message.id", reply.Id);
            return reply;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            PipelineTelemetry.RecordError(activity, ex.Message, ex);
            PipelineTelemetry.CountError("ingest", ex is ArgumentException ? "invalid" : "broker");
            throw;
        }
    }

    private async Task<SendReply> AnnounceCheckedAsync(AnnounceChunkRequest request, bool renamed, CancellationToken cancellationToken)
    {
        ChunkFileName.CheckAcquisition(request.Acquisition);

        if (request.Modules is < 1 or > 1024 || request.Module < 1 || request.Module > request.Modules)
        {
            throw new ArgumentException($"module {request.Module} of {request.Modules}: need 1 ≤ module ≤ modules ≤ 1024.");
        }

        if (request.Frames > MaxFramesPerChunk)
        {
            throw new ArgumentException($"frames {request.Frames} is more than a chunk part can hold: give the frames in the file (1 to {MaxFramesPerChunk}), or 0 when unknown (stitch then reads the count).");
        }

        var relative = dataRoot.ToRelative(request.Path);
        if (!Path.IsPathRooted(request.Path))
        {
            throw new ArgumentException($"path '{request.Path}' is relative: give the chunk file's absolute path below the data root {dataRoot.FullPath}.");
        }

        var (stream, detector) = detectors.Stream(request.Acquisition, request.Detector, relative);
        if (detector is not null && request.Modules != detector.Kind.Modules)
        {
            throw new ArgumentException($"detector {detector.Name} (file {relative}) is a {detector.Kind.Name} with {detector.Kind.Modules} module files per chunk part, not {request.Modules}: announce it as module k of {detector.Kind.Modules}, or under the detector that wrote it.");
        }

        if (ChunkFileName.TryParse(Path.GetFileName(relative), out var fileAcquisition, out var fileModule, out var filePart)
            && ((!renamed && fileAcquisition != request.Acquisition) || fileModule != request.Module || filePart != request.Part))
        {
            throw new ArgumentException($"path '{request.Path}' is the file of acquisition {fileAcquisition} module {fileModule} part {filePart}, not of {request.Acquisition} module {request.Module} part {request.Part}: announce each file as the chunk its name says.");
        }

        await AnnounceAcquisitionOnceAsync(stream, renamed ? PipelineStreams.ReprocessPool : PipelineStreams.LivePool, cancellationToken);
        var reply = await broker.SendAsync(new SendRequest
        {
            Address = broker.Address(PipelineStreams.Raw, stream),
            SourceType = SourceType.Raw,
            Id = request.Part + 1UL,
            Name = relative,
            PayloadKind = PayloadKind.File,
            Meta = ChunkMeta.Format(request.Part, request.Module, request.Frames),
            Dataset = new DatasetPart { Substream = request.Module, Size = request.Modules },
        }, cancellationToken);
        Interlocked.Increment(ref chunks);
        PipelineTelemetry.CountPublished("ingest");
        if (request.Module == 1)
        {
            PipelineTelemetry.CountFrames("ingest", (int)request.Frames);
        }
        LogAnnounced(logger, stream, request.Part, request.Module, relative);
        return reply;
    }

    /// <summary>Marks the acquisition's raw stream finished after the request's chunk parts (<paramref name="pool"/>: whose acquisition it is).</summary>
    public async Task<FinishStreamReply> FinishAsync(FinishAcquisitionRequest request, CancellationToken cancellationToken, string pool = PipelineStreams.LivePool)
    {
        ChunkFileName.CheckAcquisition(request.Acquisition);
        var (stream, _) = detectors.Stream(request.Acquisition, request.Detector);

        await AnnounceAcquisitionOnceAsync(stream, pool, cancellationToken);
        var reply = await broker.FinishStreamAsync(broker.Address(PipelineStreams.Raw, stream), request.Parts,
            sourceType: SourceType.Raw, cancellationToken: cancellationToken);
        Interlocked.Increment(ref finished);
        LogFinished(logger, stream, request.Parts);
        return reply;
    }

    // Once per acquisition and ingest process; an announcement that failed (the broker unavailable or its disk full) is
    // not remembered, so the driver's retry announces it again.
    private async Task AnnounceAcquisitionOnceAsync(string stream, string pool, CancellationToken cancellationToken)
    {
        var announcing = announced.GetOrAdd(stream, a => AnnounceAcquisitionAsync(a, pool, cancellationToken));
        try
        {
            await announcing;
        }
        catch
        {
            announced.TryRemove(new KeyValuePair<string, Task<SendReply>>(stream, announcing));
            throw;
        }
    }

    // Every worker replica of the pool follows its control stream to learn of new acquisitions. A repeated
    // announcement (after an ingest restart) is harmless: workers start each acquisition once.
    private Task<SendReply> AnnounceAcquisitionAsync(string acquisition, string pool, CancellationToken cancellationToken) =>
        broker.SendAsync(new SendRequest
        {
            Address = broker.Address(PipelineStreams.Control, PipelineStreams.AcquisitionsOf(pool)),
            SourceType = SourceType.Raw,
            AutoId = true,
            Name = acquisition,
            Meta = "{}",
        }, cancellationToken);

    [LoggerMessage(2001, LogLevel.Debug, "Announced {Acquisition} part {Part} module {Module}: {Path}")]
    private static partial void LogAnnounced(ILogger logger, string acquisition, uint part, uint module, string path);

    [LoggerMessage(2002, LogLevel.Information, "Acquisition {Acquisition} finished after {Parts} parts")]
    private static partial void LogFinished(ILogger logger, string acquisition, uint parts);
}
