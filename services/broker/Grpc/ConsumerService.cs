using Anvil.Broker.Core;
using Grpc.Core;

namespace Anvil.Broker.Service.Grpc;

/// <summary>anvil.broker.v1.Consumer (docs/broker.md §4): translation only; errors become statuses in <see cref="BrokerErrorInterceptor"/>.</summary>
public sealed partial class ConsumerService(MessageBroker broker, Subscriptions subscriptions, BrokerAuth auth) : V1.Consumer.ConsumerBase
{
    public override async Task<V1.MessageRecord> GetNext(V1.GetNextRequest request, ServerCallContext context)
    {
        var record = Mapping.ToProto(await broker.GetNextAsync(Mapping.Address(request.Address), request.Group,
            Mapping.Timeout(request.TimeoutMs, context, broker), request.IncludePayload, Mapping.Policy(request.Resend), context.CancellationToken));
        BrokerTracing.Delivered(request.Address, request.Group, record);
        return record;
    }

    public override async Task<V1.Dataset> GetNextDataset(V1.GetNextDatasetRequest request, ServerCallContext context)
    {
        var dataset = Mapping.ToProto(await broker.GetNextDatasetAsync(Mapping.Address(request.Address), request.Group, request.MinSize,
            Mapping.Timeout(request.TimeoutMs, context, broker), request.IncludePayload, Mapping.Policy(request.Resend), context.CancellationToken));
        BrokerTracing.Delivered(request.Address, request.Group, dataset);
        return dataset;
    }

    public override async Task<V1.MessageRecord> GetLast(V1.GetLastRequest request, ServerCallContext context) =>
        Mapping.ToProto(await broker.GetLastAsync(Mapping.Address(request.Address), request.Group,
            Mapping.Timeout(request.TimeoutMs, context, broker), request.IncludePayload, context.CancellationToken));

    public override async Task<V1.Dataset> GetLastDataset(V1.GetLastRequest request, ServerCallContext context) =>
        Mapping.ToProto(await broker.GetLastDatasetAsync(Mapping.Address(request.Address), request.Group, request.MinSize,
            Mapping.Timeout(request.TimeoutMs, context, broker), request.IncludePayload, context.CancellationToken));

    public override async Task<V1.MessageRecord> GetById(V1.GetByIdRequest request, ServerCallContext context) =>
        Mapping.ToProto(await broker.GetByIdAsync(Mapping.Address(request.Address), request.Id,
            Mapping.Timeout(request.TimeoutMs, context, broker), request.IncludePayload, context.CancellationToken));

    public override async Task<V1.Dataset> GetDatasetById(V1.GetByIdRequest request, ServerCallContext context) =>
        Mapping.ToProto(await broker.GetDatasetByIdAsync(Mapping.Address(request.Address), request.Id, request.MinSize,
            Mapping.Timeout(request.TimeoutMs, context, broker), request.IncludePayload, context.CancellationToken));

    public override async Task<V1.GetPayloadReply> GetPayload(V1.GetPayloadRequest request, ServerCallContext context) =>
        new() { Payload = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(await broker.GetPayloadAsync(Mapping.Address(request.Address), request.Id, request.Substream, context.CancellationToken)) };

    public override async Task<V1.AckReply> Acknowledge(V1.AckRequest request, ServerCallContext context)
    {
        await broker.AcknowledgeAsync(Mapping.Address(request.Address), request.Group, request.Id, context.CancellationToken);
        subscriptions.Settle(Key(request.Address, request.Group), [request.Id]);
        return new V1.AckReply();
    }

    public override async Task<V1.AckManyReply> AcknowledgeMany(V1.AckManyRequest request, ServerCallContext context)
    {
        var already = await broker.AcknowledgeManyAsync(Mapping.Address(request.Address), request.Group, request.Ids, context.CancellationToken);
        subscriptions.Settle(Key(request.Address, request.Group), request.Ids);
        var reply = new V1.AckManyReply();
        reply.AlreadyAcknowledged.Add(already);
        return reply;
    }

    public override async Task<V1.NackReply> NegativeAcknowledge(V1.NackRequest request, ServerCallContext context)
    {
        await broker.NegativeAcknowledgeAsync(Mapping.Address(request.Address), request.Group, request.Id, request.DelayMs, context.CancellationToken);
        subscriptions.Settle(Key(request.Address, request.Group), [request.Id]);
        return new V1.NackReply();
    }

    public override async Task<V1.LastAcknowledgedReply> GetLastAcknowledged(V1.GroupStreamRequest request, ServerCallContext context) =>
        new() { Id = await broker.GetLastAcknowledgedAsync(Mapping.Address(request.Address), request.Group, context.CancellationToken) };

    public override async Task<V1.UnacknowledgedReply> GetUnacknowledged(V1.UnacknowledgedRequest request, ServerCallContext context)
    {
        var result = await broker.GetUnacknowledgedAsync(Mapping.Address(request.Address), request.Group, request.From, request.To, context.CancellationToken);
        var reply = new V1.UnacknowledgedReply { Truncated = result.Truncated };
        reply.Ids.Add(result.Entries.Select(e => e.Id));
        if (request.Detail)
        {
            reply.Entries.Add(result.Entries.Select(e => new V1.UnackedEntry
            {
                Id = e.Id,
                DeliveryCount = e.DeliveryCount,
                NextDueNs = e.NextDueNs,
                Exhausted = e.Exhausted,
                Gap = e.Gap,
                Delivered = e.Delivered,
            }));
        }

        return reply;
    }

    public override async Task<V1.SetLastReadReply> SetLastRead(V1.SetLastReadRequest request, ServerCallContext context)
    {
        await broker.SetLastReadAsync(Mapping.Address(request.Address), request.Group, request.Value, context.CancellationToken);
        return new V1.SetLastReadReply();
    }

    public override async Task<V1.SetLastReadReply> ResetLastRead(V1.GroupStreamRequest request, ServerCallContext context)
    {
        await broker.SetLastReadAsync(Mapping.Address(request.Address), request.Group, 0, context.CancellationToken);
        return new V1.SetLastReadReply();
    }

    public override Task<V1.NewGroupIdReply> NewGroupId(V1.NewGroupIdRequest request, ServerCallContext context) =>
        Task.FromResult(new V1.NewGroupIdReply { Group = MessageBroker.NewGroupId() });

    public override async Task<V1.CurrentSizeReply> GetCurrentSize(V1.CurrentSizeRequest request, ServerCallContext context) =>
        new() { Size = await broker.GetCurrentSizeAsync(Mapping.Address(request.Address), context.CancellationToken) };

    public override async Task<V1.CurrentSizeReply> GetCurrentDatasetCount(V1.CurrentSizeRequest request, ServerCallContext context) =>
        new() { Size = await broker.GetCurrentDatasetCountAsync(Mapping.Address(request.Address), request.IncludeIncomplete, context.CancellationToken) };

    public override async Task<V1.ListStreamsReply> ListStreams(V1.ListStreamsRequest request, ServerCallContext context)
    {
        var streams = await broker.ListStreamsAsync(Mapping.Address(request.Address), request.From, Mapping.Filter(request.Filter), context.CancellationToken);
        var reply = new V1.ListStreamsReply();
        reply.Streams.Add(streams.Select(Mapping.ToProto));
        return reply;
    }

    public override async Task<V1.StreamInfo> GetStreamInfo(V1.StreamInfoRequest request, ServerCallContext context) =>
        Mapping.ToProto(await broker.GetStreamInfoAsync(Mapping.Address(request.Address), context.CancellationToken));

    public override async Task<V1.GetMetaReply> GetBeamtimeMeta(V1.GetMetaRequest request, ServerCallContext context) =>
        new() { Meta = await broker.GetBeamtimeMetaAsync(Mapping.Address(request.Address), Mapping.Timeout(request.TimeoutMs, context, broker), context.CancellationToken) };

    public override async Task<V1.GetMetaReply> GetStreamMeta(V1.GetMetaRequest request, ServerCallContext context) =>
        new() { Meta = await broker.GetStreamMetaAsync(Mapping.Address(request.Address), Mapping.Timeout(request.TimeoutMs, context, broker), context.CancellationToken) };

    public override async Task<V1.ListGapsReply> ListGaps(V1.ListGapsRequest request, ServerCallContext context)
    {
        var gaps = await broker.ListGapsAsync(Mapping.Address(request.Address), request.Group, context.CancellationToken);
        var reply = new V1.ListGapsReply();
        reply.Gaps.Add(gaps.Select(g => new V1.GapRecord { Id = g.Id, Kind = g.Kind, DeclaredAtNs = g.DeclaredAtNs, Resolved = g.Resolved }));
        return reply;
    }

    public override async Task<V1.QueryReply> Query(V1.QueryRequest request, ServerCallContext context)
    {
        var result = await broker.QueryAsync(Mapping.Address(request.Address), request.Expression, request.MaxResults, context.CancellationToken);
        var reply = new V1.QueryReply { Truncated = result.Truncated };
        reply.Records.Add(result.Records.Select(Mapping.ToProto));
        return reply;
    }

    public override async Task<V1.ListGroupsReply> ListGroups(V1.ListGroupsRequest request, ServerCallContext context)
    {
        var groups = await broker.ListGroupsAsync(Mapping.Address(request.Address), context.CancellationToken);
        var reply = new V1.ListGroupsReply();
        reply.Groups.Add(groups.Select(g => new V1.GroupInfo
        {
            Stream = g.Stream,
            Group = g.Group,
            Pointer = g.Pointer,
            LastAcknowledged = g.LastAcknowledged,
            Acknowledged = g.Acknowledged,
            InFlight = g.InFlight,
            Backlog = g.Backlog,
            GapsOpen = g.GapsOpen,
        }));
        return reply;
    }
}
