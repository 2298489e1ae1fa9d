using Anvil.Broker.Core;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace Anvil.Broker.Service.Grpc;

/// <summary>docs/broker.md §6: broker outcomes as google.rpc.Status with ErrorInfo (domain anvil.broker) and BadRequest for validation.</summary>
internal static class BrokerErrors
{
    public const string Domain = "anvil.broker";

    public static Code ToCode(BrokerErrorCode code) => code switch
    {
        BrokerErrorCode.InvalidArgument => Code.InvalidArgument,
        BrokerErrorCode.NotFound => Code.NotFound,
        BrokerErrorCode.OutOfRange => Code.OutOfRange,
        BrokerErrorCode.FailedPrecondition => Code.FailedPrecondition,
        BrokerErrorCode.Unauthenticated => Code.Unauthenticated,
        BrokerErrorCode.PermissionDenied => Code.PermissionDenied,
        BrokerErrorCode.Unavailable => Code.Unavailable,
        BrokerErrorCode.ResourceExhausted => Code.ResourceExhausted,
        _ => Code.Internal,
    };

    public static Google.Rpc.Status ToStatus(BrokerException ex)
    {
        var info = new ErrorInfo { Domain = Domain, Reason = ex.Reason };
        info.Metadata.Add(ex.Metadata.ToDictionary());
        var status = new Google.Rpc.Status { Code = (int)ToCode(ex.Code), Message = ex.Message };
        status.Details.Add(Any.Pack(info));
        if (ex.Field is { } field)
        {
            var bad = new BadRequest();
            bad.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = field, Description = ex.Message });
            status.Details.Add(Any.Pack(bad));
        }

        if (ex.PartialDataset is { } dataset)
        {
            status.Details.Add(Any.Pack(Mapping.ToProto(dataset)));
        }

        return status;
    }

    public static RpcException ToRpcException(BrokerException ex) => ToStatus(ex).ToRpcException();

    /// <summary>An unexpected fault: INTERNAL with an error id that the log names too.</summary>
    public static RpcException Internal(string errorId)
    {
        var info = new ErrorInfo { Domain = Domain, Reason = "INTERNAL" };
        info.Metadata.Add("error_id", errorId);
        var status = new Google.Rpc.Status { Code = (int)Code.Internal, Message = $"Internal broker error {errorId}; the broker log has the details." };
        status.Details.Add(Any.Pack(info));
        return status.ToRpcException();
    }
}
