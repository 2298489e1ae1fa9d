using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Anvil.Broker.Service.Hosting;

/// <summary>
/// Whether the broker's data directory takes writes (docs/broker.md §7 "A full disk"): full from the first write refused
/// with STORAGE_FULL until a later write succeeds. The error interceptor reports both.
/// </summary>
public sealed partial class BrokerStorageStatus(TimeProvider time, ILogger<BrokerStorageStatus> logger)
{
    private readonly Lock gate = new();
    private string? full;

    /// <summary>Why writes fail (the disk is full, since when), or null while they succeed.</summary>
    public string? Full
    {
        get
        {
            lock (gate)
            {
                return full;
            }
        }
    }

    /// <summary>A write failed because the disk or quota is full.</summary>
    public void WriteRefused(string message)
    {
        lock (gate)
        {
            if (full is not null)
            {
                return;
            }

            full = $"{message} (since {time.GetUtcNow():u})";
        }

        Log.DiskFull(logger, message);
    }

    /// <summary>A call that writes succeeded: there is room again.</summary>
    public void WriteSucceeded()
    {
        if (Volatile.Read(ref full) is null)
        {
            return;
        }

        lock (gate)
        {
            if (full is null)
            {
                return;
            }

            full = null;
        }

        Log.DiskWritable(logger);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1211, EventName = "DiskFull", Level = LogLevel.Error,
            Message = "The broker's disk is full: producers and consumers get RESOURCE_EXHAUSTED STORAGE_FULL and retry; nothing acknowledged is lost. {Message}")]
        public static partial void DiskFull(ILogger logger, string message);

        [LoggerMessage(EventId = 1212, EventName = "DiskWritable", Level = LogLevel.Information, Message = "The broker's disk takes writes again")]
        public static partial void DiskWritable(ILogger logger);
    }
}

/// <summary>
/// Health check <c>broker-storage</c>: unhealthy while the disk is full. It is reported on its own, as the gRPC health
/// service <see cref="GrpcServiceName"/>, and left out of the broker's overall health, which stays SERVING: the broker
/// still serves reads and recovers by itself, so a supervisor must not restart it for this.
/// </summary>
public sealed class BrokerStorageHealthCheck(BrokerStorageStatus status) : IHealthCheck
{
    /// <summary>The health check's name.</summary>
    public const string Name = "broker-storage";

    /// <summary>The gRPC health service name that reports only this check.</summary>
    public const string GrpcServiceName = "anvil.broker.storage";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(status.Full is { } why ? HealthCheckResult.Unhealthy(why) : HealthCheckResult.Healthy());
}
