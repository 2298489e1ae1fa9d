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

    /// <summary>Each message is stored on its own, in arrival order; a bad or foreign one fails alone (§3, §8).</summary>
    public override async Task<V1.SendBatchReply> SendBatch(IAsyncStreamReader<V1.SendRequest> requestStream, ServerCallContext context)
    {
        var reply = new V1.SendBatchReply();
        var principal = BrokerAuth.PrincipalOf(context);
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            try
            {
                auth.Authorize(principal, request.Address, request.SourceType == V1.SourceType.Raw ? Auth.BrokerAccess.WriteRaw : Auth.BrokerAccess.Write, context.Method);
                var outcome = await broker.SendAsync(Mapping.Address(request.Address), Mapping.Message(request), context.CancellationToken);
                reply.Results.Add(new V1.SendResult { Id = outcome.Id, Duplicate = outcome.Duplicate, TimestampNs = outcome.TimestampNs });
                BrokerTracing.Stored(request, reply.Results[^1]);
            }
            catch (BrokerException ex) when (ex.Code is not (BrokerErrorCode.Unavailable or BrokerErrorCode.Internal))
            {
                reply.Results.Add(new V1.SendResult
                {
                    Id = request.Id,
                    Code = (int)BrokerErrors.ToCode(ex.Code),
                    Message = ex.Message,
                    Reason = ex.Reason,
                });
                BrokerTracing.Stored(request, error: ex.Message);
            }
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
