using Anvil.Broker.Auth;
using Anvil.Broker.Core;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Anvil.Broker.Service.Grpc;

/// <summary>
/// Runs docs/broker.md §8 before every anvil.broker.v1 call (health and reflection stay open). Unary and server-streaming calls are
/// authorised here from their request; SendBatch and SendMany are authenticated here and each message authorised by the service,
/// so one foreign message fails alone with PERMISSION_DENIED in its result.
/// </summary>
internal sealed class AuthInterceptor(BrokerAuth auth) : Interceptor
{
    private const string Prefix = "/anvil.broker.v1.";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (request is V1.SendManyRequest)
        {
            // Like SendBatch: authenticated here, each message authorised by the service.
            if (auth.Enabled && context.Method.StartsWith(Prefix, StringComparison.Ordinal))
            {
                auth.Authenticate(context);
            }

            return continuation(request, context);
        }

        Check(request, context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        if (auth.Enabled && context.Method.StartsWith(Prefix, StringComparison.Ordinal))
        {
            auth.Authenticate(context);
        }

        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(request, context);
        return continuation(request, responseStream, context);
    }

    /// <summary>The access a call needs (§8 table) and the address it acts on.</summary>
    internal static (V1.Address? Address, BrokerAccess Required) Rule(string method, object request) => request switch
    {
        V1.SendRequest r => (r.Address, Source(r.SourceType)),
        V1.FinishStreamRequest r => (r.Address, Source(r.SourceType)),
        V1.PutMetaRequest r when method.EndsWith("/PutStreamMeta", StringComparison.Ordinal) => (r.Address, BrokerAccess.Write | BrokerAccess.WriteRaw),
        V1.PutMetaRequest r => (r.Address, BrokerAccess.Write),
        V1.DeleteStreamRequest r => (r.Address, BrokerAccess.Write),
        V1.GetMetaRequest r => (r.Address, BrokerAccess.Any),
        V1.ListStreamsRequest r => (r.Address, BrokerAccess.Any),
        V1.StreamInfoRequest r => (r.Address, BrokerAccess.Any),
        V1.GetLastRequest r when r.Group.Length == 0 => (r.Address, BrokerAccess.Any),
        V1.GetLastRequest r => (r.Address, BrokerAccess.Read),
        V1.GetNextRequest r => (r.Address, BrokerAccess.Read),
        V1.GetNextDatasetRequest r => (r.Address, BrokerAccess.Read),
        V1.GetByIdRequest r => (r.Address, BrokerAccess.Read),
        V1.GetPayloadRequest r => (r.Address, BrokerAccess.Read),
        V1.AckRequest r => (r.Address, BrokerAccess.Read),
        V1.AckManyRequest r => (r.Address, BrokerAccess.Read),
        V1.NackRequest r => (r.Address, BrokerAccess.Read),
        V1.GroupStreamRequest r => (r.Address, BrokerAccess.Read),
        V1.UnacknowledgedRequest r => (r.Address, BrokerAccess.Read),
        V1.SetLastReadRequest r => (r.Address, BrokerAccess.Read),
        V1.CurrentSizeRequest r => (r.Address, BrokerAccess.Read),
        V1.QueryRequest r => (r.Address, BrokerAccess.Read),
        V1.ListGapsRequest r => (r.Address, BrokerAccess.Read),
        V1.ListGroupsRequest r => (r.Address, BrokerAccess.Read),
        V1.SubscribeRequest r => (r.Address, BrokerAccess.Read),
        V1.NewGroupIdRequest r => (new V1.Address { Beamtime = r.Beamtime }, BrokerAccess.Read),
        _ => throw new InvalidOperationException($"{method} has no access rule; add one to {nameof(AuthInterceptor)}.{nameof(Rule)}."),
    };

    private static BrokerAccess Source(V1.SourceType source) => source == V1.SourceType.Raw ? BrokerAccess.WriteRaw : BrokerAccess.Write;

    private void Check(object request, ServerCallContext context)
    {
        if (!auth.Enabled || !context.Method.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return;
        }

        var principal = auth.Authenticate(context)!;
        var (address, required) = Rule(context.Method, request);
        if (request is V1.NewGroupIdRequest { Beamtime: var beamtime })
        {
            // The only call without an Address: an empty beamtime means the token's own; a malformed one is bad input.
            if (beamtime.Length > 0 && !BrokerAuth.IsBeamtime(beamtime))
            {
                throw new BrokerException(BrokerErrorCode.InvalidArgument, ErrorReasons.WrongInput,
                    "Beamtime must be 1–128 characters of [A-Za-z0-9._-].", new Dictionary<string, string> { ["field"] = "beamtime" }, "beamtime");
            }

            auth.Authorize(principal, beamtime.Length > 0 ? beamtime : principal.Beamtime, required, context.Method);
            return;
        }

        auth.Authorize(principal, address, required, context.Method);
    }
}
