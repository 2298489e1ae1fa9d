using System.Diagnostics.Metrics;
using Anvil.Broker.Core;

namespace Anvil.Broker.Service.Telemetry;

/// <summary>
/// Gauges <c>anvil.broker.backlog</c> and <c>anvil.broker.in_flight</c> per stream and group (meter <c>Anvil.Broker</c>),
/// observed at each collection (a hosted service only so that it exists from start-up) (OTLP export or Prometheus scrape). Stream names are acquisitions: one series per
/// acquisition and group, which a finished, deleted stream drops again.
/// </summary>
public sealed class BacklogGauge : IHostedService, IDisposable
{
    private readonly Meter meter;

    public BacklogGauge(MessageBroker broker, IMeterFactory meterFactory)
    {
        meter = meterFactory.Create(BrokerMetrics.MeterName);
        meter.CreateObservableGauge("anvil.broker.backlog", () => Observe(broker, e => (long)e.Backlog), "{message}",
            "Messages a group has still to receive on a stream (stored above its pointer plus deliveries due again).");
        meter.CreateObservableGauge("anvil.broker.in_flight", () => Observe(broker, e => (long)e.InFlight), "{message}",
            "Deliveries to a group not yet acknowledged.");
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => meter.Dispose();

    private static IEnumerable<Measurement<long>> Observe(MessageBroker broker, Func<BacklogEntry, long> value) =>
        broker.SnapshotBacklog().Select(e => new Measurement<long>(value(e),
            new KeyValuePair<string, object?>("beamtime", e.Beamtime),
            new KeyValuePair<string, object?>("data_source", e.DataSource),
            new KeyValuePair<string, object?>("stream", e.Stream),
            new KeyValuePair<string, object?>("group", e.Group)));
}
