using Anvil.Broker.Core;

namespace Anvil.Broker.Service.Messaging;

/// <summary>
/// Builds the broker while the host starts, before Kestrel listens: a durable broker replays its data directory
/// in its constructor (§7 recovery), so the first call never waits on it.
/// </summary>
public sealed class BrokerStartup(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<MessageBroker>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
