using Anvil.Ingest.Service.Ingesting;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Grpc.Core;

namespace Anvil.Ingest.Service.Grpc;

/// <summary>
/// Operator control (settings while a run goes on, reprocessing, pause and resume, stopping early, progress, data-root
/// browsing): thin mapping onto <see cref="Reprocessor"/>, <see cref="PauseStore"/>, <see cref="AcquisitionControl"/>
/// and <see cref="DataRootBrowser"/>.
/// </summary>
public sealed class ControlService(Reprocessor reprocessor, PauseStore pause, AcquisitionControl acquisitions, PipelineOptions options) : Control.ControlBase
{
    private readonly DataRoot dataRoot = new(options.DataRoot);

    /// <inheritdoc />
    public override Task<SettingsVersion> GetSettings(GetSettingsRequest request, ServerCallContext context) =>
        Guard(() => reprocessor.GetAsync(request.Acquisition, request.Detector, context.CancellationToken));

    /// <inheritdoc />
    public override Task<SettingsVersion> UpdateSettings(UpdateSettingsRequest request, ServerCallContext context) =>
        Guard(() => reprocessor.UpdateAsync(request, context.CancellationToken));

    /// <inheritdoc />
    public override Task<ReprocessReply> Reprocess(ReprocessRequest request, ServerCallContext context) =>
        Guard(() => reprocessor.ReprocessAsync(request, context.CancellationToken));

    /// <inheritdoc />
    public override Task<PauseState> Pause(PauseRequest request, ServerCallContext context) =>
        Guard(() => pause.SetAsync(request.Acquisition, paused: true, context.CancellationToken));

    /// <inheritdoc />
    public override Task<PauseState> Resume(PauseRequest request, ServerCallContext context) =>
        Guard(() => pause.SetAsync(request.Acquisition, paused: false, context.CancellationToken));

    /// <inheritdoc />
    public override Task<PauseState> GetPauseState(PauseRequest request, ServerCallContext context) =>
        Guard(() => pause.GetAsync(request.Acquisition, context.CancellationToken));

    /// <inheritdoc />
    public override Task<StopAcquisitionReply> StopAcquisition(StopAcquisitionRequest request, ServerCallContext context) =>
        Guard(() => acquisitions.StopAsync(request.Acquisition, context.CancellationToken));

    /// <inheritdoc />
    public override Task<ListAcquisitionsReply> ListAcquisitions(ListAcquisitionsRequest request, ServerCallContext context) =>
        Guard(() => acquisitions.ListAsync(request.Acquisition, context.CancellationToken));

    /// <inheritdoc />
    public override Task<BrowseReply> Browse(BrowseRequest request, ServerCallContext context) =>
        Guard(() =>
        {
            var listing = DataRootBrowser.List(dataRoot, request.Path, request.Pattern);
            var reply = new BrowseReply { Path = listing.Path, DataRoot = dataRoot.FullPath, Truncated = listing.Truncated };
            reply.Entries.AddRange(listing.Entries.Select(e => new BrowseEntry
            {
                Name = e.Name,
                Kind = e.Kind == DataRootEntryKind.Directory ? EntryKind.Directory : EntryKind.File,
                Size = (ulong)e.Size,
                ModifiedUnixMs = new DateTimeOffset(e.ModifiedUtc).ToUnixTimeMilliseconds(),
                Path = e.Path,
            }));
            return Task.FromResult(reply);
        });

    // Bad input is the caller's to fix (INVALID_ARGUMENT); a request that comes too early, FAILED_PRECONDITION.
    private static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (ArgumentException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }
        catch (InvalidOperationException ex)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, ex.Message));
        }
    }
}
