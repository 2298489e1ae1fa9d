using Anvil.Broker.Core;
using Anvil.Broker.Core.Storage;
using Anvil.Broker.Service.Hosting;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Anvil.Broker.Service.Grpc;

/// <summary>Turns broker outcomes into rich gRPC statuses in one place, so the service classes stay pure translation.</summary>
/// <remarks>
/// It also keeps <see cref="BrokerStorageStatus"/>: a call refused with STORAGE_FULL (a record append, or any other file the
/// broker writes, such as a new stream's directory) marks the disk full, and a call that writes and succeeds marks it writable.
/// </remarks>
internal sealed partial class BrokerErrorInterceptor(ILogger<BrokerErrorInterceptor> logger, BrokerStorageStatus storage) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            var reply = await continuation(request, context);
            Succeeded(context);
            return reply;
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
            var reply = await continuation(requestStream, context);
            Succeeded(context);
            return reply;
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

    // Calls that write: every producer call, and the consumer calls that move a group (pointer, acks, redeliveries).
    private void Succeeded(ServerCallContext context)
    {
        if (context.Method.StartsWith("/anvil.broker.v1.Producer/", StringComparison.Ordinal)
            || context.Method.EndsWith("/GetNext", StringComparison.Ordinal) || context.Method.EndsWith("/GetNextDataset", StringComparison.Ordinal)
            || context.Method.Contains("/Acknowledge", StringComparison.Ordinal) || context.Method.EndsWith("/NegativeAcknowledge", StringComparison.Ordinal))
        {
            storage.WriteSucceeded();
        }
    }

    private RpcException? Translate(Exception ex, ServerCallContext context)
    {
        if (StorageWrites.IsDiskFull(ex))
        {
            // A file other than a record append (a new stream's key file, metadata, an index checkpoint): the same outcome.
            ex = StorageWrites.Full((IOException)ex);
        }

        if (ex is BrokerException { Reason: ErrorReasons.StorageFull })
        {
            storage.WriteRefused(ex.Message);
        }

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
