using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Anvil.Pipeline;

/// <summary>
/// The chain's telemetry, with only <c>System.Diagnostics</c> (ServiceDefaults registers source and meter
/// <c>Anvil.Pipeline</c>). Span attribute names are constants here so every stage writes the same ones; ids
/// (acquisition, frame, file) are span attributes, never metric tags, so metric cardinality stays bounded by
/// the stage names. Instrumentation never throws into the work it observes.
/// </summary>
public static class PipelineTelemetry
{
    /// <summary>Name of the ActivitySource and Meter.</summary>
    public const string Name = "Anvil.Pipeline";

    /// <summary>Span attribute: the acquisition (broker stream).</summary>
    public const string Acquisition = "anvil.acquisition";

    /// <summary>Span attribute: the frame number (1-based detector sequence number).</summary>
    public const string Frame = "anvil.frame";

    /// <summary>Span attribute: the detector module (1..N) of a chunk file.</summary>
    public const string Module = "anvil.detector.module";

    /// <summary>Span attribute: the number of detector modules of a chunk.</summary>
    public const string Modules = "anvil.detector.modules";

    /// <summary>Span attribute: the configured detector that wrote a chunk (when detectors are configured).</summary>
    public const string Detector = "anvil.detector.name";

    /// <summary>Span attribute: the chunk part (0-based, the file's _partNNNNN).</summary>
    public const string ChunkPart = "anvil.chunk.part";

    /// <summary>Span attribute: the hash of the integration settings that produced a profile.</summary>
    public const string SettingsHash = "anvil.settings_hash";

    /// <summary>Span attribute: the stage (ingest, stitch, integrate, merge).</summary>
    public const string Stage = "anvil.stage";

    /// <summary>The chain's activity source.</summary>
    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);
    private static readonly Counter<long> Received = Meter.CreateCounter<long>("anvil.stage.received", "{message}", "Deliveries (ingest: announcements) received per stage.");
    private static readonly Counter<long> Published = Meter.CreateCounter<long>("anvil.stage.published", "{message}", "Messages a stage published to the broker.");
    private static readonly Counter<long> Frames = Meter.CreateCounter<long>("anvil.stage.frames", "{frame}", "Frames a stage completed (stitch: planned, integrate: integrated, merge: written).");
    private static readonly Counter<long> Errors = Meter.CreateCounter<long>("anvil.stage.errors", "{error}", "Failures per stage and kind (handler: left for redelivery; frame: published as a failed frame; acquisition: started again after a failure; write: merge could not write a result).");
    private static readonly Counter<long> Redeliveries = Meter.CreateCounter<long>("anvil.stage.redeliveries", "{delivery}", "Deliveries a stage received more than once.");
    private static readonly Counter<long> Gaps = Meter.CreateCounter<long>("anvil.stage.gaps", "{gap}", "Gaps a stage was told of while consuming.");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("anvil.stage.duration", "s", "Time a stage spends on one delivery, receive to publish.");
    private static readonly ConcurrentDictionary<string, RateWindow> Rates = new(StringComparer.Ordinal);

    static PipelineTelemetry()
    {
        Meter.CreateObservableGauge("anvil.stage.frame_rate", ObserveRates, "{frame}/s",
            "Frames per second a stage completed over the last 10 s (integrate: integration frames/s).");
    }

    /// <summary>Counts a delivery (or announcement) a stage received.</summary>
    public static void CountReceived(string stage, int deliveryCount = 1)
    {
        Received.Add(1, new KeyValuePair<string, object?>("stage", stage));
        if (deliveryCount > 1)
        {
            Redeliveries.Add(1, new KeyValuePair<string, object?>("stage", stage));
        }
    }

    /// <summary>Counts messages a stage published.</summary>
    public static void CountPublished(string stage, int count = 1) => Published.Add(count, new KeyValuePair<string, object?>("stage", stage));

    /// <summary>Counts frames a stage completed (and feeds its frames/s gauge).</summary>
    public static void CountFrames(string stage, int count = 1)
    {
        Frames.Add(count, new KeyValuePair<string, object?>("stage", stage));
        Rates.GetOrAdd(stage, _ => new RateWindow()).Add(count);
    }

    /// <summary>Counts a failure of <paramref name="kind"/> (handler or frame).</summary>
    public static void CountError(string stage, string kind) =>
        Errors.Add(1, new KeyValuePair<string, object?>("stage", stage), new KeyValuePair<string, object?>("kind", kind));

    /// <summary>Counts a gap a stage was told of.</summary>
    public static void CountGap(string stage) => Gaps.Add(1, new KeyValuePair<string, object?>("stage", stage));

    /// <summary>Records the time one delivery took.</summary>
    public static void RecordDuration(string stage, TimeSpan elapsed) => Duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("stage", stage));

    /// <summary>
    /// Marks a span failed: error status, the exception as an event, and the span (with its still-open ancestors in
    /// this process) promoted to sampled, so an errored frame is kept whatever the sampling ratio and the traceparent
    /// written after it carries the sampled flag downstream.
    /// </summary>
    public static void RecordError(Activity? activity, string description, Exception? exception = null)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, description);
        if (exception is not null)
        {
            activity.AddException(exception);
        }

        for (var a = activity; a is not null; a = a.Parent)
        {
            if (a.IsAllDataRequested)
            {
                a.ActivityTraceFlags |= ActivityTraceFlags.Recorded;
            }
        }
    }

    private static IEnumerable<Measurement<double>> ObserveRates() =>
        Rates.Select(r => new Measurement<double>(r.Value.PerSecond(), new KeyValuePair<string, object?>("stage", r.Key)));

    // Counts per second over the last ten one-second buckets.
    private sealed class RateWindow
    {
        private const int Buckets = 10;
        private readonly long[] counts = new long[Buckets];
        private readonly long[] seconds = new long[Buckets];

        public void Add(int count)
        {
            var now = Environment.TickCount64 / 1000;
            var i = (int)(now % Buckets);
            lock (counts)
            {
                if (seconds[i] != now)
                {
                    seconds[i] = now;
                    counts[i] = 0;
                }

                counts[i] += count;
            }
        }

        public double PerSecond()
        {
            var now = Environment.TickCount64 / 1000;
            long sum = 0;
            lock (counts)
            {
                for (var i = 0; i < Buckets; i++)
                {
                    if (now - seconds[i] < Buckets)
                    {
                        sum += counts[i];
                    }
                }
            }

            return sum / (double)Buckets;
        }
    }
}
