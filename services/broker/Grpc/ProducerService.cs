using Anvil.Broker.Core;
using Grpc.Core;

namespace Anvil.Broker.Service.Grpc;

/// <summary>anvil.broker.v1.Producer (§3): translation only; errors become statuses in <see cref="BrokerErrorInterceptor"/>.</summary>
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
        const int maxChunk = 1024;
        const long maxChunkBytes = 8L << 20;
        var reply = new V1.SendBatchReply();
        var principal = BrokerAuth.PrincipalOf(context);
        var chunk = new List<(StreamAddress, OutgoingMessage)>(maxChunk);
        var requests = new List<V1.SendRequest>(maxChunk);
        long bytes = 0;
        async Task Flush()
        {
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

        while (true)
        {
            var next = requestStream.MoveNext(context.CancellationToken);
            if (!next.IsCompleted && chunk.Count > 0)
            {
                await Flush();
            }

            if (!await next)
            {
                break;
            }

            var request = requestStream.Current;
            try
            {
                auth.Authorize(principal, request.Address, request.SourceType == V1.SourceType.Raw ? Auth.BrokerAccess.WriteRaw : Auth.BrokerAccess.Write, context.Method);
            }
            catch (BrokerException ex) when (ex.Code is not (BrokerErrorCode.Unavailable or BrokerErrorCode.Internal))
            {
                // Results stay in request order: store what came before the refused one first.
                if (chunk.Count > 0)
                {
                    await Flush();
                }

                reply.Results.Add(new V1.SendResult { Id = request.Id, Code = (int)BrokerErrors.ToCode(ex.Code), Message = ex.Message, Reason = ex.Reason });
                BrokerTracing.Stored(request, error: ex.Message);
                continue;
            }

            chunk.Add((Mapping.Address(request.Address), Mapping.Message(request)));
            requests.Add(request);
            bytes += request.Payload.Length;
            if (chunk.Count == maxChunk || bytes >= maxChunkBytes)
            {
                await Flush();
            }
        }

        if (chunk.Count > 0)
        {
            await Flush();
        }

        return reply;
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
}
