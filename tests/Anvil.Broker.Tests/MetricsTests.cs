using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Anvil.Broker.Core;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>Checklist item 32 (metrics part): delivery, redelivery, gap, backlog and unacked figures match a scripted run.</summary>
public sealed class MetricsTests : IDisposable
{
    private readonly string stream = "metrics-" + Guid.NewGuid().ToString("N")[..8];
    private readonly ManualTimeProvider time = new();
    private readonly MeterListener listener = new();
    private readonly ConcurrentDictionary<string, long> counters = new();
    private readonly ConcurrentDictionary<string, long> gauges = new();

    public MetricsTests()
    {
        this.listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == BrokerMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        this.listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? stream = null;
            string? reason = null;
            foreach (var tag in tags)
            {
                stream = tag.Key == "stream" ? tag.Value as string : stream;
                reason = tag.Key == "reason" ? tag.Value as string : reason;
            }

            if (stream != this.stream)
            {
                return;
            }

            var name = instrument.Name + (reason is null ? "" : "/" + reason);
            if (instrument is ObservableGauge<long>)
            {
                gauges[name] = value;
            }
            else
            {
                counters.AddOrUpdate(name, value, (_, old) => old + value);
            }
        });
        this.listener.Start();
    }

    public void Dispose() => listener.Dispose();

    [Fact]
    public async Task ScriptedRun_CountersAndGauges_MatchWhatHappened()
    {
        var resend = new ResendPolicy(1000, 0);
        var address = Address(stream);
        await using var broker = new MessageBroker(new BrokerOptions(), time);
        await broker.SendIds(address, 1, 2, 4);
        Task<MessageRecord> Next() => broker.GetNextAsync(address, "g", TimeSpan.Zero, resend: resend).DefaultTimeout();

        Assert.Equal(1UL, (await Next()).Id);
        Assert.Equal(2UL, (await Next()).Id);
        await broker.AcknowledgeAsync(address, "g", 2).DefaultTimeout();
        time.Advance(TimeSpan.FromSeconds(2));
        var resent = await Next();
        Assert.Equal((1UL, RedeliveryReason.Resend), (resent.Id, resent.RedeliveryReason));
        await Fails(Next, ErrorReasons.NoData);
        Assert.Equal(4UL, (await Next()).Id);
        await broker.NegativeAcknowledgeAsync(address, "g", 4, 0).DefaultTimeout();
        var nacked = await Next();
        Assert.Equal((4UL, RedeliveryReason.Nack), (nacked.Id, nacked.RedeliveryReason));

        listener.RecordObservableInstruments();
        Assert.Equal(3, counters["anvil.broker.messages.stored"]);
        Assert.Equal(5, counters["anvil.broker.messages.delivered"]);
        Assert.Equal(1, counters["anvil.broker.redeliveries/RESEND"]);
        Assert.Equal(1, counters["anvil.broker.redeliveries/NACK"]);
        Assert.Equal(1, counters["anvil.broker.gaps"]);
        Assert.Equal(1, counters["anvil.broker.messages.acked"]);
        Assert.Equal(1, gauges["anvil.broker.gaps.open"]);
        Assert.Equal(0, gauges["anvil.broker.backlog"]);
        Assert.Equal(3, gauges["anvil.broker.unacked"]); // 1, 3 (the gap) and 4

        // Two new ids and two resend deadlines passing: backlog 4. Once 1 and 4 are acked, id 3 arriving late comes first.
        await broker.SendIds(address, 5, 6);
        time.Advance(TimeSpan.FromSeconds(2));
        listener.RecordObservableInstruments();
        Assert.Equal(4, gauges["anvil.broker.backlog"]);
        await broker.AcknowledgeManyAsync(address, "g", [1, 4]).DefaultTimeout();
        await broker.SendIds(address, 3);
        var late = await Next();
        Assert.Equal((3UL, RedeliveryReason.Late), (late.Id, late.RedeliveryReason));
        await broker.AcknowledgeAsync(address, "g", 3).DefaultTimeout();
        listener.RecordObservableInstruments();
        Assert.Equal(0, gauges["anvil.broker.gaps.open"]);
        Assert.Equal(1, counters["anvil.broker.redeliveries/LATE"]);
    }
}
