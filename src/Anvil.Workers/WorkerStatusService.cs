using System.Text.Json;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;

namespace Anvil.Workers;

/// <summary>gRPC status of a stage worker: what it has done and which settings it applies.</summary>
public sealed class WorkerStatusService(AcquisitionWorker worker, PipelineOptions options) : WorkerStatus.WorkerStatusBase
{
    private static readonly string Instance = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <inheritdoc />
    public override Task<WorkerStatusReply> GetStatus(WorkerStatusRequest request, ServerCallContext context) =>
        Task.FromResult(new WorkerStatusReply
        {
            Stage = worker.Stage,
            Instance = Instance,
            Handled = (ulong)worker.Handled,
            ActiveAcquisitions = (uint)worker.ActiveAcquisitions,
            SettingsJson = JsonSerializer.Serialize(options),
        });
}
