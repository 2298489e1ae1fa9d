using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Anvil.Workers;

/// <summary>
/// Degraded while the worker has acquisitions it cannot start or finish (<see cref="AcquisitionWorker.Failing"/>: merge
/// with a full output disk, say), with the reasons. Degraded, not unhealthy: the process is sound and restarting it
/// would not help; it retries by itself. The grpc.health.v1 service reports it as SERVING; the health report and the
/// WorkerStatus reply carry the reasons.
/// </summary>
public sealed class AcquisitionsHealthCheck(AcquisitionWorker worker) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failing = worker.Failing;
        return Task.FromResult(failing.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Degraded($"{worker.Stage}: {string.Join("; ", failing.Select(f => $"{f.Key}: {f.Value}"))}"));
    }
}
