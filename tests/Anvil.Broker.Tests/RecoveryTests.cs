using Anvil.Broker.Core;
using Anvil.Broker.Service.Hosting;
using Anvil.Testing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §7 recovery: while a broker replays its data directory, calls get UNAVAILABLE RECOVERING and health is unhealthy.</summary>
public sealed class RecoveryTests : IDisposable
{
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Call_WhileRecoveringInBackground_FailsWithRecoveringThenSucceeds()
    {
        var address = Address();
        await using (var first = new MessageBroker(new BrokerOptions { DataDir = dir.Path }))
        {
            await first.SendIds(address, 1, 2);
        }

        // The replay starts by reading the clock: holding the clock holds the replay.
        var time = new GatedTimeProvider();
        await using var broker = new MessageBroker(new BrokerOptions { DataDir = dir.Path }, time, recoverInBackground: true);
        var health = new BrokerRecoveryHealthCheck(broker);

        var ex = await Fails(() => broker.GetCurrentSizeAsync(address), ErrorReasons.Recovering);
        Assert.Equal(BrokerErrorCode.Unavailable, ex.Code);
        await Fails(() => broker.SendAsync(address, Message(3)), ErrorReasons.Recovering);
        Assert.False(broker.IsReady);
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(new HealthCheckContext()).DefaultTimeout()).Status);

        time.Open();
        await broker.Recovery.DefaultTimeout();

        Assert.True(broker.IsReady);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext()).DefaultTimeout()).Status);
        Assert.Equal(2UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
        Assert.False((await broker.SendAsync(address, Message(3)).DefaultTimeout()).Duplicate);
    }

    // System time whose reads block until opened.
    private sealed class GatedTimeProvider : TimeProvider
    {
        private readonly ManualResetEventSlim open = new();

        public void Open() => open.Set();

        public override DateTimeOffset GetUtcNow()
        {
            if (!open.Wait(TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException("The test never opened the clock.");
            }

            return base.GetUtcNow();
        }
    }
}
