using System.Diagnostics;
using Anvil.Broker.V1;

namespace Anvil.Broker.Service.Grpc;

/// <summary>
/// The broker's part of each message's trace (source <c>Anvil.Broker</c>): a <c>store</c> span when a message is stored
/// and a <c>deliver</c> span when a group receives it, both children of the producer's context found in the message's
/// W3C headers, so they sit in the frame's trace beside the consumer's receive span. The deliver span starts at the
/// message's store time, so its length is the time the message waited in the broker for that group. The broker's
/// RPCs themselves are not traced (polls and acks would each be a one-span trace; see ServiceDefaults). Telemetry
/// never throws into the call it observes.
/// </summary>
internal static class BrokerTracing
{
    private static readonly ActivitySource Source = new("Anvil.Broker");

    /// <summary>A store span for a message just stored (or found to be a duplicate).</summary>
    public static void Stored(SendRequest request, SendResult? result = null, string? error = null)
    {
        if (!Source.HasListeners() || Parent(request.Headers) is not { } parent)
        {
            return;
        }

        using var activity = Source.StartActivity($"{request.Address.Stream} store", ActivityKind.Consumer, parent);
        if (activity is null)
        {
            return;
        }

        Tag(activity, request.Address);
        activity.SetTag("messaging.operation.type", "receive");
        activity.SetTag("messaging.message.id", request.Id);
        if (result is { Duplicate: true })
        {
            activity.SetTag("anvil.duplicate", true);
        }

        if (error is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error);
            activity.ActivityTraceFlags |= ActivityTraceFlags.Recorded;
        }
    }

    /// <summary>A deliver span per part of a dataset delivered to a group.</summary>
    public static void Delivered(Address address, string group, Dataset dataset)
    {
        if (!Source.HasListeners())
        {
            return;
        }

        foreach (var part in dataset.Parts)
        {
            Delivered(address, group, part);
        }
    }

    /// <summary>A deliver span for a message delivered to a group, from its store time to now.</summary>
    public static void Delivered(Address address, string group, MessageRecord record)
    {
        if (!Source.HasListeners() || Parent(record.Headers) is not { } parent)
        {
            return;
        }

        var stored = DateTimeOffset.UnixEpoch.AddTicks(record.TimestampNs / 100);
        var start = stored <= DateTimeOffset.UtcNow && stored > DateTimeOffset.UtcNow.AddDays(-30) ? stored : DateTimeOffset.UtcNow;
        using var activity = Source.StartActivity($"{address.Stream} deliver", ActivityKind.Producer, parent, startTime: start);
        if (activity is null)
        {
            return;
        }

        Tag(activity, address);
        activity.SetTag("messaging.operation.type", "send");
        activity.SetTag("messaging.consumer.group.name", group);
        activity.SetTag("messaging.message.id", record.Id);
        if (record.DeliveryCount > 1)
        {
            activity.SetTag("anvil.delivery_count", record.DeliveryCount);
            activity.SetTag("anvil.redelivery_reason", record.RedeliveryReason.ToString());
        }
    }

    private static void Tag(Activity activity, Address address)
    {
        activity.SetTag("messaging.system", "anvil");
        activity.SetTag("messaging.destination.name", address.Stream);
        activity.SetTag("anvil.beamtime", address.Beamtime);
        activity.SetTag("anvil.data_source", address.DataSource);
    }

    // The producer's context, or null when the message carries none (then the broker adds no span of its own).
    private static ActivityContext? Parent(Google.Protobuf.Collections.MapField<string, string> headers)
    {
        if (!headers.ContainsKey("traceparent"))
        {
            return null;
        }

        DistributedContextPropagator.Current.ExtractTraceIdAndState(headers, static (object? carrier, string name, out string? value, out IEnumerable<string>? values) =>
        {
            values = null;
            value = carrier is Google.Protobuf.Collections.MapField<string, string> h && h.TryGetValue(name, out var v) ? v : null;
        }, out var traceParent, out var traceState);
        return ActivityContext.TryParse(traceParent, traceState, out var context) ? context : null;
    }
}
