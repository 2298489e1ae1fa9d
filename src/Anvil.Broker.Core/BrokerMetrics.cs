using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Anvil.Broker.Core;

/// <summary>The broker's instruments (docs/broker.md §9), meter <c>Anvil.Broker</c>; tags never carry ids or file names.</summary>
public sealed class BrokerMetrics : IDisposable
{
    public const string MeterName = "Anvil.Broker";

    private readonly Meter meter;
    private readonly Counter<long> stored;
    private readonly Counter<long> bytes;
    private readonly Counter<long> duplicates;
    private readonly Counter<long> delivered;
    private readonly Counter<long> acked;
    private readonly Counter<long> redeliveries;
    private readonly Counter<long> exhausted;
    private readonly Counter<long> gaps;
    private readonly Histogram<double> latency;
    private readonly Histogram<double> fsync;
    private readonly Histogram<double> recovery;
    private Func<IEnumerable<GroupGauge>>? groups;

    public BrokerMetrics(IMeterFactory? meterFactory = null)
    {
        meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        stored = meter.CreateCounter<long>("anvil.broker.messages.stored", "{message}", "Message parts stored.");
        bytes = meter.CreateCounter<long>("anvil.broker.bytes.stored", "By", "Inline payload bytes stored.");
        duplicates = meter.CreateCounter<long>("anvil.broker.duplicates", "{message}", "Identical resends acknowledged as duplicates.");
        delivered = meter.CreateCounter<long>("anvil.broker.messages.delivered", "{message}", "Deliveries to consumer groups.");
        acked = meter.CreateCounter<long>("anvil.broker.messages.acked", "{message}", "Acknowledged ids.");
        redeliveries = meter.CreateCounter<long>("anvil.broker.redeliveries", "{message}", "Redeliveries by reason.");
        exhausted = meter.CreateCounter<long>("anvil.broker.redeliveries.exhausted", "{message}", "In-flight entries whose last resend expired unacknowledged.");
        gaps = meter.CreateCounter<long>("anvil.broker.gaps", "{gap}", "Declared gaps.");
        latency = meter.CreateHistogram<double>("anvil.broker.delivery.latency", "s", "Time from store to first delivery.");
        fsync = meter.CreateHistogram<double>("anvil.broker.fsync.duration", "s", "One group-commit round of fsyncs.");
        recovery = meter.CreateHistogram<double>("anvil.broker.recovery.duration", "s", "Startup recovery of the data directory.");
        meter.CreateObservableGauge("anvil.broker.backlog", () => Gauges(g => g.Backlog), "{message}",
            "Stored ids above the group pointer plus redeliveries due now.");
        meter.CreateObservableGauge("anvil.broker.unacked", () => Gauges(g => g.Unacked), "{message}",
            "Ids at or below the group pointer without an acknowledgement.");
        meter.CreateObservableGauge("anvil.broker.in_flight", () => Gauges(g => g.InFlight), "{message}",
            "Deliveries to a group not yet acknowledged (their resend policy still running).");
        meter.CreateObservableGauge("anvil.broker.gaps.open", () => Gauges(g => g.GapsOpen), "{gap}",
            "Declared gaps whose id has not arrived (or been acknowledged) yet.");
    }

    internal void Stored(StreamKey key, long bytes) => Stored(key, 1, bytes);

    internal void Stored(StreamKey key, long count, long bytes)
    {
        if (count == 0)
        {
            return;
        }

        var tags = Tags(key);
        stored.Add(count, tags);
        if (bytes > 0)
        {
            this.bytes.Add(bytes, tags);
        }
    }

    internal void Duplicate(StreamKey key, long count = 1)
    {
        if (count > 0)
        {
            duplicates.Add(count, Tags(key));
        }
    }

    internal void Delivered(StreamKey key, string group, RedeliveryReason reason, double latencySeconds)
    {
        var tags = Tags(key, group);
        delivered.Add(1, tags);
        if (reason == RedeliveryReason.None)
        {
            latency.Record(latencySeconds, tags);
        }
        else
        {
            tags.Add("reason", reason.ToString().ToUpperInvariant());
            redeliveries.Add(1, tags);
        }
    }

    internal void Acked(StreamKey key, string group, int count) => acked.Add(count, Tags(key, group));

    internal void Exhausted(StreamKey key, string group) => exhausted.Add(1, Tags(key, group));

    internal void Gap(StreamKey key, string group) => gaps.Add(1, Tags(key, group));

    internal void Fsync(double seconds) => fsync.Record(seconds);

    internal void Recovery(double seconds) => recovery.Record(seconds);

    public void Dispose() => meter.Dispose();

    /// <summary>The broker whose groups the gauges report (one broker per process).</summary>
    internal void ObserveGroups(Func<IEnumerable<GroupGauge>> groups) => this.groups = groups;

    private IEnumerable<Measurement<long>> Gauges(Func<GroupGauge, long> value) =>
        groups is null ? [] : groups().Select(g => new Measurement<long>(value(g), Tags(g.Key, g.Group)));

    private static TagList Tags(StreamKey key, string? group = null)
    {
        var tags = new TagList { { "beamtime", key.Beamtime }, { "data_source", key.DataSource }, { "stream", key.Stream } };
        if (group is not null)
        {
            tags.Add("group", group);
        }

        return tags;
    }
}

/// <summary>One group's gauge values on one stream.</summary>
internal readonly record struct GroupGauge(StreamKey Key, string Group, long Backlog, long Unacked, long InFlight, long GapsOpen);
