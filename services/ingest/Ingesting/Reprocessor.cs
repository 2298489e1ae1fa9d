using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Grpc.Core;

namespace Anvil.Ingest.Service.Ingesting;

/// <summary>
/// Operator control: the settings in force, a validated change (for every acquisition or one), and reprocessing a
/// finished acquisition with other settings under a new name (<c>&lt;acquisition&gt;_r&lt;k&gt;</c>, k the first
/// unused), so an earlier result is never overwritten. Reprocessing re-announces the raw chunk datasets the broker
/// kept, after storing the new settings for the new name, on the reprocess pool's control stream
/// (<see cref="PipelineStreams.Reprocessings"/>): a separate pool of stitch, integrate and merge workers, at a lower CPU
/// priority, processes it, never the live chain's workers, so a reprocessing cannot slow a running acquisition.
/// </summary>
public sealed partial class Reprocessor(BrokerClient broker, SettingsStore settings, ChunkAnnouncer announcer, PipelineOptions options,
    ILogger<Reprocessor> logger) : IDisposable
{
    private readonly DataRoot dataRoot = new(options.DataRoot);
    private readonly SemaphoreSlim naming = new(1, 1);

    /// <summary>The settings in force for an acquisition ("" = for new ones), of a detector when detectors are configured.</summary>
    public async Task<SettingsVersion> GetAsync(string acquisition, string detector, CancellationToken cancellationToken)
    {
        CheckAcquisition(acquisition, allowEmpty: true);
        var target = Targets(acquisition, detector, single: true)[0];
        return (target.Acquisition.Length == 0 && target.Detector is { } d
            ? await settings.CurrentAsync(d, cancellationToken)
            : await settings.CurrentAsync(target.Acquisition, cancellationToken)).ToMessage();
    }

    /// <summary>
    /// Validates and stores a new settings version; <see cref="ArgumentException"/> says what to fix. With detectors
    /// configured and no detector named, the change applies to every detector, each from its own settings, and nothing is
    /// stored unless it validates for all of them; the reply is then the first detector's version.
    /// </summary>
    public async Task<SettingsVersion> UpdateAsync(UpdateSettingsRequest request, CancellationToken cancellationToken)
    {
        CheckAcquisition(request.Acquisition, allowEmpty: true);
        var targets = Targets(request.Acquisition, request.Detector, single: false);
        var changes = new List<(string Acquisition, Detector? Detector, Anvil.Integration.IntegrationSettings Next)>();
        foreach (var (acquisition, detector) in targets)
        {
            var current = acquisition.Length == 0 && detector is not null
                ? await settings.CurrentAsync(detector, cancellationToken)
                : await settings.CurrentAsync(acquisition, cancellationToken);
            try
            {
                changes.Add((acquisition, detector, current.Settings.Apply(request, dataRoot.FullPath)));
            }
            catch (Anvil.Integration.SettingsException ex) when (detector is not null && targets.Count > 1)
            {
                throw new ArgumentException($"detector {detector.Name}: {ex.Message}", ex);
            }
        }

        VersionedSettings? first = null;
        foreach (var (acquisition, detector, next) in changes)
        {
            var stored = await settings.PublishAsync(next, acquisition, cancellationToken, acquisition.Length == 0 ? detector : null);
            first ??= stored;
            var scope = acquisition.Length > 0 ? acquisition : detector is not null ? $"every acquisition of detector {detector.Name}" : "every acquisition";
            LogSettingsChanged(logger, scope, stored.Version, next.ToJson());
        }

        return first!.ToMessage();
    }

    // What a settings request addresses: (acquisition or detector stream, detector). Without detectors: the acquisition
    // as given. With detectors: a named detector's stream of the acquisition (or the detector itself for ""), a stream
    // A_D as given, or, with no detector named, every detector (single: only when there is one).
    private List<(string Acquisition, Detector? Detector)> Targets(string acquisition, string detector, bool single)
    {
        var detectors = settings.Detectors;
        if (!detectors.Configured || (detector.Length == 0 && acquisition.Length > 0 && detectors.Parse(acquisition) is not null))
        {
            // No detectors (then no detector may be named), or a detector's stream named as it is listed: the stream itself.
            if (!detectors.Configured)
            {
                _ = detectors.Stream(string.Empty, detector);
            }

            return [(acquisition, detectors.Parse(acquisition)?.Detector)];
        }

        var named = detector.Length > 0
            ? [detectors.Find(detector) ?? throw new ArgumentException($"detector '{detector}' is unknown: give one of the configured detectors, {detectors.Names}.")]
            : single && detectors.Detectors.Count > 1
                ? throw new ArgumentException($"{detectors.Detectors.Count} detectors are configured: name one of {detectors.Names} (--detector NAME).")
                : detectors.Detectors;
        return [.. named.Select(d => (acquisition.Length == 0 ? string.Empty : detectors.Stream(acquisition, d.Name).Stream, (Detector?)d))];
    }

    /// <summary>Re-announces a finished acquisition's chunks under a new name with the requested settings.</summary>
    public async Task<ReprocessReply> ReprocessAsync(ReprocessRequest request, CancellationToken cancellationToken)
    {
        CheckAcquisition(request.Acquisition, allowEmpty: false);
        var raw = broker.Address(PipelineStreams.Raw, request.Acquisition);
        StreamInfo info;
        try
        {
            info = await broker.Consumer.GetStreamInfoAsync(new StreamInfoRequest { Address = raw }, broker.Headers, cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            throw new ArgumentException($"acquisition '{request.Acquisition}' is unknown to the broker: give the name of an acquisition this beamtime recorded.");
        }

        if (!info.Finished)
        {
            throw new InvalidOperationException($"acquisition '{request.Acquisition}' is still being acquired: reprocess it once it is finished, or change the settings of the running acquisition instead.");
        }

        var changes = request.Settings?.Clone() ?? new UpdateSettingsRequest();
        changes.Acquisition = string.Empty;
        var next = (await settings.CurrentAsync(request.Acquisition, cancellationToken)).Settings.Apply(changes, dataRoot.FullPath);

        // One rename at a time, so two concurrent requests never pick the same new name.
        await naming.WaitAsync(cancellationToken);
        try
        {
            var existing = (await broker.ListStreamsAsync(PipelineStreams.Raw, cancellationToken: cancellationToken)).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            // A detector's stream A_D is reprocessed as A_r<k>_D: still that detector's, named as its results are.
            var run = settings.Detectors.Parse(request.Acquisition);
            var (announcedAs, name) = Enumerable.Range(1, int.MaxValue - 1)
                .Select(k => run is { } r ? ($"{r.Acquisition}_r{k}", settings.Detectors.Stream($"{r.Acquisition}_r{k}", r.Detector.Name).Stream) : ($"{request.Acquisition}_r{k}", $"{request.Acquisition}_r{k}"))
                .First(n => !existing.Contains(n.Item2));
            CheckAcquisition(name, allowEmpty: false);
            var stored = await settings.PublishAsync(next, name, cancellationToken);
            uint chunks = 0;
            for (ulong id = 1; id <= info.LastId; id++)
            {
                var dataset = await broker.Consumer.GetDatasetByIdAsync(new GetByIdRequest { Address = raw, Id = id }, broker.Headers, cancellationToken: cancellationToken);
                foreach (var part in dataset.Parts)
                {
                    await announcer.AnnounceAsync(new AnnounceChunkRequest
                    {
                        Acquisition = announcedAs,
                        Detector = run?.Detector.Name ?? string.Empty,
                        Module = part.DatasetSubstream,
                        Modules = dataset.ExpectedSize,
                        Part = (uint)(id - 1),
                        Path = dataRoot.ToFull(part.Name),
                        Frames = ChunkMeta.AnnouncedFrames(part.Meta),
                    }, cancellationToken, renamed: true);
                }

                chunks++;
            }

            await announcer.FinishAsync(new FinishAcquisitionRequest { Acquisition = announcedAs, Detector = run?.Detector.Name ?? string.Empty, Parts = (uint)info.LastId }, cancellationToken, PipelineStreams.ReprocessPool);
            LogReprocessing(logger, request.Acquisition, name, chunks, next.ToJson());
            return new ReprocessReply { Acquisition = name, Chunks = chunks, Settings = stored.ToMessage() };
        }
        finally
        {
            naming.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose() => naming.Dispose();

    private static void CheckAcquisition(string acquisition, bool allowEmpty)
    {
        if (!(allowEmpty && acquisition.Length == 0))
        {
            ChunkFileName.CheckAcquisition(acquisition);
        }
    }

    [LoggerMessage(2101, LogLevel.Information, "Settings for {Scope} changed to version {Version}: {Settings}")]
    private static partial void LogSettingsChanged(ILogger logger, string scope, ulong version, string settings);

    [LoggerMessage(2102, LogLevel.Information, "Reprocessing {Acquisition} as {NewName} ({Chunks} chunk parts) with {Settings}")]
    private static partial void LogReprocessing(ILogger logger, string acquisition, string newName, uint chunks, string settings);
}
