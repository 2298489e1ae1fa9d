using Anvil.Broker.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Anvil.Broker.Service.Hosting;

/// <summary>
/// Builds the broker while the host starts. A durable broker replays its data directory in the background (docs/broker.md §7
/// recovery) while Kestrel already listens: gRPC health says NOT_SERVING and every call gets UNAVAILABLE RECOVERING
/// until it is done. A replay that fails stops the host with exit code 1.
/// </summary>
public sealed partial class BrokerStartup(IServiceProvider services, IHostApplicationLifetime lifetime, ILogger<BrokerStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var broker = services.GetRequiredService<MessageBroker>();
        _ = WatchAsync(broker.Recovery);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task WatchAsync(Task recovery)
    {
        try
        {
            await recovery.ConfigureAwait(false);
            Log.Recovered(logger);
        }
        catch (Exception ex)
        {
            Log.RecoveryFailed(logger, ex);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, EventName = "Recovered", Level = LogLevel.Information, Message = "Broker data directory replayed; serving")]
        public static partial void Recovered(ILogger logger);

        [LoggerMessage(EventId = 1202, EventName = "RecoveryFailed", Level = LogLevel.Critical, Message = "Broker could not replay its data directory; stopping")]
        public static partial void RecoveryFailed(ILogger logger, Exception exception);
    }
}

/// <summary>gRPC health (and readiness) is NOT_SERVING while the broker replays its data directory (§7).</summary>
public sealed class BrokerRecoveryHealthCheck(MessageBroker broker) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(broker.IsReady
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy(broker.Recovery.IsFaulted ? "recovery failed" : "recovering the data directory"));
}
