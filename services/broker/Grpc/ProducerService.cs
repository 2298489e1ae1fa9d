using Anvil.Broker.Core;
using Grpc.Core;

namespace Anvil.Broker.Service.Grpc;

/// <summary>anvil.broker.v1.Producer (docs/broker.md §3): translation only; errors become statuses in <see cref="BrokerErrorInterceptor"/>.</summary>
public sealed class ProducerService(MessageBroker broker, BrokerAuth auth) : V1.Producer.ProducerBase
{
    public override async Task<V1.SendReply> Send(V1.SendRequest request, ServerCallContext context)
    {
        var outcome = await broker.SendAsync(Mapping.Address(request.Address), Mapping.Message(request), context.CancellationToken);
        BrokerTracing.Stored(request, new V1.SendResult { Duplicate = outcome.Duplicate });
        return new V1.SendReply { Id = outcome.Id, Duplicate = outcome.Duplicate, TimestampNs = outcome.TimestampNs };
    }

    /// <summary>
    /// Each message is stored on its own, in arrival order; a bad or foreign one fails alone (§3, §8). The requests
    /// already received are stored together (up to 1024 messages or 8 MiB of payload) with one write and one fsync
    /// round; a chunk is stored as soon as no further request is waiting, so a slow producer's messages are not held back.
    /// </summary>
    public override async Task<V1.SendBatchReply> SendBatch(IAsyncStreamReader<V1.SendRequest> requestStream, ServerCallContext context)
    {
        var batch = new BatchStore(broker, auth, context);
        while (true)
        {
            var next = requestStream.MoveNext(context.CancellationToken);
            if (!next.IsCompleted)
            {
                await batch.FlushAsync();
            }

            if (!await next)
            {
                break;
            }

            await batch.AddAsync(requestStream.Current);
        }

        return await batch.CompleteAsync();
    }

    /// <summary>SendBatch's semantics for a batch sent as one request.</summary>
    public override async Task<V1.SendBatchReply> SendMany(V1.SendManyRequest request, ServerCallContext context)
    {
        var batch = new BatchStore(broker, auth, context);
        foreach (var message in request.Messages)
        {
            await batch.AddAsync(message);
        }

        return await batch.CompleteAsync();
    }

    public override async Task<V1.FinishStreamReply> FinishStream(V1.FinishStreamRequest request, ServerCallContext context) =>
        new() { Duplicate = await broker.FinishStreamAsync(Mapping.Address(request.Address), request.LastId, request.NextStream, context.CancellationToken) };

    public override async Task<V1.PutMetaReply> PutBeamtimeMeta(V1.PutMetaRequest request, ServerCallContext context)
    {
        await broker.PutBeamtimeMetaAsync(Mapping.Address(request.Address), request.Meta, Mapping.Mode(request.Mode),
            !request.HasUpsert || request.Upsert, context.CancellationToken);
        return new V1.PutMetaReply();
    }

    public override async Task<V1.PutMetaReply> PutStreamMeta(V1.PutMetaRequest request, ServerCallContext context)
    {
        await broker.PutStreamMetaAsync(Mapping.Address(request.Address), request.Meta, Mapping.Mode(request.Mode),
            !request.HasUpsert || request.Upsert, context.CancellationToken);
        return new V1.PutMetaReply();
    }

    public override async Task<V1.DeleteStreamReply> DeleteStream(V1.DeleteStreamRequest request, ServerCallContext context) =>
        new()
        {
            Existed = await broker.DeleteStreamAsync(Mapping.Address(request.Address),
                !request.HasErrorOnNotExist || request.ErrorOnNotExist, context.CancellationToken),
        };

    // Collects a batch's messages into chunks stored with one write each; results stay in request order.
    private sealed class BatchStore(MessageBroker broker, BrokerAuth auth, ServerCallContext context)
    {
        private const int MaxChunk = 1024;
        private const long MaxChunkBytes = 8L << 20;
        private readonly V1.SendBatchReply reply = new();
        private readonly Anvil.Broker.Auth.TokenPrincipal? principal = BrokerAuth.PrincipalOf(context);
        private readonly List<(StreamAddress, OutgoingMessage)> chunk = new(MaxChunk);
        private readonly List<V1.SendRequest> requests = new(MaxChunk);
        private long bytes;

        // A batch almost always names one address: it is mapped and authorised once, not per message.
        private V1.Address? lastAddress;
        private StreamAddress? lastMapped;
        private V1.SourceType? lastAuthorized;

        public async Task AddAsync(V1.SendRequest request)
        {
            var same = lastAddress is not null && lastAddress.Equals(request.Address);
            try
            {
                if (!same || lastAuthorized != request.SourceType)
                {
                    lastAuthorized = null;
                    auth.Authorize(principal, request.Address, request.SourceType == V1.SourceType.Raw ? Auth.BrokerAccess.WriteRaw : Auth.BrokerAccess.Write, context.Method);
                    lastAuthorized = request.SourceType;
                }
            }
            catch (BrokerException ex) when (ex.Code is not (BrokerErrorCode.Unavailable or BrokerErrorCode.Internal))
            {
                // Store what came before the refused one first, so results stay in request order.
                await FlushAsync();
                reply.Results.Add(new V1.SendResult { Id = request.Id, Code = (int)BrokerErrors.ToCode(ex.Code), Message = ex.Message, Reason = ex.Reason });
                BrokerTracing.Stored(request, error: ex.Message);
                return;
            }

            if (!same)
            {
                lastAddress = request.Address;
                lastMapped = Mapping.Address(request.Address);
            }

            chunk.Add((lastMapped!, Mapping.Message(request)));
            requests.Add(request);
            bytes += request.Payload.Length;
            if (chunk.Count == MaxChunk || bytes >= MaxChunkBytes)
            {
                await FlushAsync();
            }
        }

        public async Task FlushAsync()
        {
            if (chunk.Count == 0)
            {
                return;
            }

            var results = await broker.SendManyAsync(chunk, context.CancellationToken);
            for (var i = 0; i < results.Count; i++)
            {
                var result = results[i] switch
                {
                    { Outcome: { } o } => new V1.SendResult { Id = o.Id, Duplicate = o.Duplicate, TimestampNs = o.TimestampNs },
                    { Error: { } ex } => new V1.SendResult { Id = requests[i].Id, Code = (int)BrokerErrors.ToCode(ex.Code), Message = ex.Message, Reason = ex.Reason },
                    _ => throw new InvalidOperationException("A batch result holds neither an outcome nor an error."),
                };
                reply.Results.Add(result);
                BrokerTracing.Stored(requests[i], result.Code == 0 ? result : null, result.Code == 0 ? null : result.Message);
            }

            chunk.Clear();
            requests.Clear();
            bytes = 0;
        }

        public async Task<V1.SendBatchReply> CompleteAsync()
        {
            await FlushAsync();
            return reply;
        }
    }
}
