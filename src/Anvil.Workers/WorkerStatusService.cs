using Anvil.Pipeline.V1;
using Grpc.Core;

namespace Anvil.Workers;

/// <summary>gRPC status of a stage worker: what it has done and which settings it applies to new acquisitions.</summary>
public sealed class WorkerStatusService(AcquisitionWorker worker, SettingsStore settings) : WorkerStatus.WorkerStatusBase
{
    private static readonly string Instance = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <inheritdoc />
    public override async Task<WorkerStatusReply> GetStatus(WorkerStatusRequest request, ServerCallContext context) =>
        new()
        {
            Stage = worker.Stage,
            Instance = Instance,
            Handled = (ulong)worker.Handled,
            ActiveAcquisitions = (uint)worker.ActiveAcquisitions,
            SettingsJson = (await settings.CurrentAsync(string.Empty, context.CancellationToken)).Settings.ToJson(),
            Paused = { worker.Paused },
            Failing = { worker.Failing.Select(f => $"{f.Key}: {f.Value}") },
            Pool = worker.Pool,
        };
}
