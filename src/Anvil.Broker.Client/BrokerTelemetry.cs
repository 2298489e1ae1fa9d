using System.Diagnostics;
using Anvil.Broker.V1;

namespace Anvil.Broker.Client;

/// <summary>
/// The client's one telemetry class: every publish goes through <see cref="StartPublish"/>, which
/// writes W3C trace context into the message headers; every receive through <see cref="StartReceive"/>,
/// which continues the trace found there (docs/broker.md §9). Instrumentation never throws into
/// the operation it observes. Ids and file names are span attributes, never metric tags.
/// </summary>
public static class BrokerTelemetry
{
    /// <summary>Name of the ActivitySource and Meter; ServiceDefaults registers it.</summary>
    public const string SourceName = "Anvil.Broker.Client";

    /// <summary>The client's activity source.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts a PRODUCER span and injects its context into the request's headers (unless set by the caller).</summary>
    public static Activity? StartPublish(SendRequest request, string beamtime)
    {
        // The span name is built only when someone listens: no string per message otherwise.
        var activity = Source.HasListeners() ? Source.StartActivity($"{request.Address.Stream} publish", ActivityKind.Producer) : null;
        if (activity is not null)
        {
            Tag(activity, request.Address, beamtime);
            activity.SetTag("messaging.message.id", request.Id);
        }

        if (!request.Headers.ContainsKey("traceparent"))
        {
            Inject(activity ?? Activity.Current, request.Headers);
        }

        return activity;
    }

    /// <summary>Writes the context of <paramref name="activity"/> as W3C headers.</summary>
    public static void Inject(Activity? activity, IDictionary<string, string> headers)
    {
        if (activity is null)
        {
            return;
        }

        DistributedContextPropagator.Current.Inject(activity, headers, static (carrier, key, value) =>
        {
            if (carrier is IDictionary<string, string> h && value is not null)
            {
                h[key] = value;
            }
        });
    }

    /// <summary>Starts a CONSUMER span as a child of the context in the record's headers (with links to other parts' contexts).</summary>
    public static Activity? StartReceive(MessageRecord record, Address address, string group, string beamtime, IEnumerable<ActivityLink>? links = null)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var parent = Extract(record.Headers);
        var activity = Source.StartActivity($"{address.Stream} receive", ActivityKind.Consumer, parent, links: links);
        if (activity is not null)
        {
            Tag(activity, address, beamtime);
            activity.SetTag("messaging.consumer.group.name", group);
            activity.SetTag("messaging.message.id", record.Id);
            if (record.DeliveryCount > 1)
            {
                activity.SetTag("anvil.delivery_count", record.DeliveryCount);
                activity.SetTag("anvil.redelivery_reason", record.RedeliveryReason.ToString());
            }
        }

        return activity;
    }

    /// <summary>Reads the W3C context from message headers (default when absent or malformed).</summary>
    public static ActivityContext Extract(IReadOnlyDictionary<string, string> headers)
    {
        DistributedContextPropagator.Current.ExtractTraceIdAndState(headers, static (object? carrier, string name, out string? value, out IEnumerable<string>? values) =>
        {
            values = null;
            value = carrier is IReadOnlyDictionary<string, string> h && h.TryGetValue(name, out var v) ? v : null;
        }, out var traceParent, out var traceState);
        return ActivityContext.TryParse(traceParent, traceState, out var context) ? context : default;
    }

    private static void Tag(Activity activity, Address address, string beamtime)
    {
        activity.SetTag("messaging.system", "anvil");
        activity.SetTag("messaging.destination.name", address.Stream);
        activity.SetTag("anvil.beamtime", beamtime);
        activity.SetTag("anvil.data_source", address.DataSource);
    }
}
