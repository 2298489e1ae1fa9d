using Anvil.Ingest.Service.Messaging;
using Anvil.Pipeline.V1;
using Grpc.Core;

namespace Anvil.Ingest.Service.Grpc;

/// <summary>Operator control (settings while a run goes on, reprocessing): thin mapping onto <see cref="Reprocessor"/>.</summary>
public sealed class ControlService(Reprocessor reprocessor) : Control.ControlBase
{
    /// <inheritdoc />
    public override Task<SettingsVersion> GetSettings(GetSettingsRequest request, ServerCallContext context) =>
        Guard(() => reprocessor.GetAsync(request.Acquisition, context.CancellationToken));

    /// <inheritdoc />
    public override Task<SettingsVersion> UpdateSettings(UpdateSettingsRequest request, ServerCallContext context) =>
        Guard(() => reprocessor.UpdateAsync(request, context.CancellationToken));

    /// <inheritdoc />
    public override Task<ReprocessReply> Reprocess(ReprocessRequest request, ServerCallContext context) =>
        Guard(() => reprocessor.ReprocessAsync(request, context.CancellationToken));

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
