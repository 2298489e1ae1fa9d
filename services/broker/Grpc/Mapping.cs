using Anvil.Broker.Core;
using Google.Protobuf;
using Grpc.Core;

namespace Anvil.Broker.Service.Grpc;

/// <summary>Protobuf ↔ broker-core translation, nothing else.</summary>
internal static class Mapping
{
    // docs/broker.md §4.2: end the wait before the gRPC deadline so the caller gets the real outcome. The margin covers the
    // transport and a loaded machine: a quarter of the time left, at most this much.
    private static readonly TimeSpan MaxDeadlineMargin = TimeSpan.FromSeconds(1);

    public static StreamAddress Address(V1.Address? address) =>
        address is null ? new StreamAddress("") : new StreamAddress(address.Beamtime, address.DataSource, address.Stream, address.Beamline);

    /// <summary>The requested wait, shortened to end before the call's deadline; over-long requests pass through for the core to reject.</summary>
    public static TimeSpan Timeout(uint timeoutMs, ServerCallContext context, MessageBroker broker)
    {
        var requested = TimeSpan.FromMilliseconds(timeoutMs);
        if (requested > broker.Options.MaxWait || context.Deadline == DateTime.MaxValue)
        {
            return requested;
        }

        var untilDeadline = context.Deadline - DateTime.UtcNow;
        var margin = untilDeadline / 4 < MaxDeadlineMargin ? untilDeadline / 4 : MaxDeadlineMargin;
        var left = untilDeadline - margin;
        return left < requested ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : requested;
    }

    public static ResendPolicy? Policy(V1.ResendPolicy? policy) => policy is null ? null : new ResendPolicy(policy.DelayMs, policy.MaxAttempts);

    public static OutgoingMessage Message(V1.SendRequest r) => new()
    {
        Id = r.Id,
        AutoId = r.AutoId,
        Name = r.Name,
        PayloadKind = r.PayloadKind == V1.PayloadKind.File ? PayloadKind.File : PayloadKind.Inline,
        Payload = r.Payload.Memory,
        Size = r.Size,
        Meta = r.Meta,
        Headers = r.Headers,
        DatasetSubstream = r.Dataset?.Substream ?? 0,
        DatasetSize = r.Dataset?.Size ?? 0,
        SourceType = Source(r.SourceType),
    };

    public static SourceType Source(V1.SourceType source) => source == V1.SourceType.Raw ? SourceType.Raw : SourceType.Processed;

    public static MetaMode Mode(V1.MetaMode mode) => mode switch
    {
        V1.MetaMode.Update => MetaMode.Update,
        V1.MetaMode.Insert => MetaMode.Insert,
        _ => MetaMode.Replace,
    };

    public static StreamFilter Filter(V1.StreamFilter filter) => filter switch
    {
        V1.StreamFilter.Finished => StreamFilter.Finished,
        V1.StreamFilter.Unfinished => StreamFilter.Unfinished,
        _ => StreamFilter.All,
    };

    public static V1.MessageRecord ToProto(MessageRecord m)
    {
        var proto = new V1.MessageRecord
        {
            Id = m.Id,
            Name = m.Name,
            TimestampNs = m.TimestampNs,
            Size = m.Size,
            DatasetSubstream = m.DatasetSubstream,
            Meta = m.Meta,
            PayloadKind = m.PayloadKind == PayloadKind.File ? V1.PayloadKind.File : V1.PayloadKind.Inline,
            Payload = m.Payload.IsEmpty ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(m.Payload),
            DeliveryCount = m.DeliveryCount,
            RedeliveryReason = Reason(m.RedeliveryReason),
        };
        foreach (var (key, value) in m.Headers)
        {
            proto.Headers.Add(key, value);
        }

        return proto;
    }

    public static V1.Dataset ToProto(DatasetRecord d)
    {
        var proto = new V1.Dataset
        {
            Id = d.Id,
            ExpectedSize = d.ExpectedSize,
            DeliveryCount = d.DeliveryCount,
            RedeliveryReason = Reason(d.RedeliveryReason),
        };
        proto.Parts.Add(d.Parts.Select(ToProto));
        return proto;
    }

    public static V1.StreamInfo ToProto(StreamInfo s) => new()
    {
        Name = s.Name,
        LastId = s.LastId,
        TimestampCreatedNs = s.TimestampCreatedNs,
        TimestampLastNs = s.TimestampLastNs,
        Finished = s.Finished,
        NextStream = s.NextStream,
    };

    private static V1.RedeliveryReason Reason(RedeliveryReason reason) => reason switch
    {
        RedeliveryReason.Nack => V1.RedeliveryReason.Nack,
        RedeliveryReason.Resend => V1.RedeliveryReason.Resend,
        RedeliveryReason.Late => V1.RedeliveryReason.Late,
        _ => V1.RedeliveryReason.None,
    };
}
