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

    /// <summary>The settings in force for an acquisition ("" = for new ones).</summary>
    public async Task<SettingsVersion> GetAsync(string acquisition, CancellationToken cancellationToken)
    {
        CheckAcquisition(acquisition, allowEmpty: true);
        return (await settings.CurrentAsync(acquisition, cancellationToken)).ToMessage();
    }

    /// <summary>Validates and stores a new settings version; <see cref="ArgumentException"/> says what to fix.</summary>
    public async Task<SettingsVersion> UpdateAsync(UpdateSettingsRequest request, CancellationToken cancellationToken)
    {
        CheckAcquisition(request.Acquisition, allowEmpty: true);
        var current = await settings.CurrentAsync(request.Acquisition, cancellationToken);
        var next = current.Settings.Apply(request, dataRoot.FullPath);
        var stored = await settings.PublishAsync(next, request.Acquisition, cancellationToken);
        LogSettingsChanged(logger, request.Acquisition.Length == 0 ? "every acquisition" : request.Acquisition, stored.Version, next.ToJson());
        return stored.ToMessage();
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
            var name = Enumerable.Range(1, int.MaxValue - 1).Select(k => $"{request.Acquisition}_r{k}").First(n => !existing.Contains(n));
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
                        Acquisition = name,
                        Module = part.DatasetSubstream,
                        Modules = dataset.ExpectedSize,
                        Part = (uint)(id - 1),
                        Path = dataRoot.ToFull(part.Name),
                        Frames = ChunkMeta.AnnouncedFrames(part.Meta),
                    }, cancellationToken, renamed: true);
                }

                chunks++;
            }

            await announcer.FinishAsync(new FinishAcquisitionRequest { Acquisition = name, Parts = (uint)info.LastId }, cancellationToken, PipelineStreams.ReprocessPool);
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
