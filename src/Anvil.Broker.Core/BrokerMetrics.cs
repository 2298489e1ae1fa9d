using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Anvil.Broker.Core;

/// <summary>The broker's instruments (§9), meter <c>Anvil.Broker</c>; tags never carry ids or file names.</summary>
public sealed class BrokerMetrics : IDisposable
{
    public const string MeterName = "Anvil.Broker";

    private readonly Meter _meter;
    private readonly Counter<long> _stored;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _acked;
    private readonly Counter<long> _redeliveries;
    private readonly Counter<long> _exhausted;
    private readonly Counter<long> _gaps;
    private readonly Histogram<double> _latency;
    private readonly Histogram<double> _fsync;
    private readonly Histogram<double> _recovery;

    public BrokerMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _stored = _meter.CreateCounter<long>("anvil.broker.messages.stored", "{message}", "Message parts stored.");
        _bytes = _meter.CreateCounter<long>("anvil.broker.bytes.stored", "By", "Inline payload bytes stored.");
        _duplicates = _meter.CreateCounter<long>("anvil.broker.duplicates", "{message}", "Identical resends acknowledged as duplicates.");
        _delivered = _meter.CreateCounter<long>("anvil.broker.messages.delivered", "{message}", "Deliveries to consumer groups.");
        _acked = _meter.CreateCounter<long>("anvil.broker.messages.acked", "{message}", "Acknowledged ids.");
        _redeliveries = _meter.CreateCounter<long>("anvil.broker.redeliveries", "{message}", "Redeliveries by reason.");
        _exhausted = _meter.CreateCounter<long>("anvil.broker.redeliveries.exhausted", "{message}", "In-flight entries whose last resend expired unacknowledged.");
        _gaps = _meter.CreateCounter<long>("anvil.broker.gaps", "{gap}", "Declared gaps.");
        _latency = _meter.CreateHistogram<double>("anvil.broker.delivery.latency", "s", "Time from store to first delivery.");
        _fsync = _meter.CreateHistogram<double>("anvil.broker.fsync.duration", "s", "One group-commit round of fsyncs.");
        _recovery = _meter.CreateHistogram<double>("anvil.broker.recovery.duration", "s", "Startup recovery of the data directory.");
    }

    internal void Stored(StreamKey key, long bytes)
    {
        var tags = Tags(key);
        _stored.Add(1, tags);
        if (bytes > 0)
        {
            _bytes.Add(bytes, tags);
        }
    }

    internal void Duplicate(StreamKey key) => _duplicates.Add(1, Tags(key));

    internal void Delivered(StreamKey key, string group, RedeliveryReason reason, double latencySeconds)
    {
        var tags = Tags(key, group);
        _delivered.Add(1, tags);
        if (reason == RedeliveryReason.None)
        {
            _latency.Record(latencySeconds, tags);
        }
        else
        {
            tags.Add("reason", reason.ToString().ToUpperInvariant());
            _redeliveries.Add(1, tags);
        }
    }

    internal void Acked(StreamKey key, string group, int count) => _acked.Add(count, Tags(key, group));

    internal void Exhausted(StreamKey key, string group) => _exhausted.Add(1, Tags(key, group));

    internal void Gap(StreamKey key, string group) => _gaps.Add(1, Tags(key, group));

    internal void Fsync(double seconds) => _fsync.Record(seconds);

    internal void Recovery(double seconds) => _recovery.Record(seconds);

    public void Dispose() => _meter.Dispose();

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
