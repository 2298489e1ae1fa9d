using Anvil.Broker.Core;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Anvil.Broker.Service.Grpc;

/// <summary>Turns broker outcomes into rich gRPC statuses in one place, so the service classes stay pure translation.</summary>
internal sealed partial class BrokerErrorInterceptor(ILogger<BrokerErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (Translate(ex, context) is { } rpc)
        {
            throw rpc;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception ex) when (Translate(ex, context) is { } rpc)
        {
            throw rpc;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (Translate(ex, context) is { } rpc)
        {
            throw rpc;
        }
    }

    private RpcException? Translate(Exception ex, ServerCallContext context)
    {
        switch (ex)
        {
            case BrokerException broker when broker.Code != BrokerErrorCode.Internal:
                return BrokerErrors.ToRpcException(broker);
            case RpcException:
                return null;
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                return new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled by the caller."));
            default:
                var errorId = Guid.NewGuid().ToString("N")[..12];
                Log.UnexpectedFault(logger, ex, context.Method, errorId);
                return BrokerErrors.Internal(errorId);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, EventName = "UnexpectedFault", Level = LogLevel.Error, Message = "Unexpected fault in {Method}, error id {ErrorId}")]
        public static partial void UnexpectedFault(ILogger logger, Exception exception, string method, string errorId);
    }
}
