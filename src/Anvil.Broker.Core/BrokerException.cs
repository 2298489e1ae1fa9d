namespace Anvil.Broker.Core;

/// <summary>The status classes of docs/broker.md §6, named like their gRPC counterparts so the service maps them one to one.</summary>
public enum BrokerErrorCode
{
    InvalidArgument,
    NotFound,
    OutOfRange,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    Unavailable,
    ResourceExhausted,
    Internal,
}

/// <summary>The <c>ErrorInfo</c> reasons of §6.</summary>
public static class ErrorReasons
{
    public const string EndOfStream = "END_OF_STREAM";
    public const string StreamFinished = "STREAM_FINISHED";
    public const string NoData = "NO_DATA";
    public const string PartialData = "PARTIAL_DATA";
    public const string WrongInput = "WRONG_INPUT";
    public const string ConflictingDuplicate = "CONFLICTING_DUPLICATE";
    public const string IdModeMismatch = "ID_MODE_MISMATCH";
    public const string StreamAlreadyFinished = "STREAM_ALREADY_FINISHED";
    public const string PayloadTooLarge = "PAYLOAD_TOO_LARGE";
    public const string PathOutsideRoot = "PATH_OUTSIDE_ROOT";
    public const string NoDataRoot = "NO_DATA_ROOT";
    public const string IsDataset = "IS_DATASET";
    public const string UnknownId = "UNKNOWN_ID";
    public const string NotDelivered = "NOT_DELIVERED";
    public const string AlreadyAcknowledged = "ALREADY_ACKNOWLEDGED";
    public const string MetaExists = "META_EXISTS";
    public const string MetaNotFound = "META_NOT_FOUND";
    public const string StreamNotFound = "STREAM_NOT_FOUND";
    public const string BadQuery = "BAD_QUERY";
    public const string TooManyUnacked = "TOO_MANY_UNACKED";
    public const string TooManyWaiters = "TOO_MANY_WAITERS";
    public const string Recovering = "RECOVERING";
    public const string StorageUnavailable = "STORAGE_UNAVAILABLE";
    public const string StorageFull = "STORAGE_FULL";
    public const string TokenMissing = "TOKEN_MISSING";
    public const string TokenInvalid = "TOKEN_INVALID";
    public const string TokenExpired = "TOKEN_EXPIRED";
    public const string TokenRevoked = "TOKEN_REVOKED";
    public const string WrongBeamtime = "WRONG_BEAMTIME";
    public const string AccessDenied = "ACCESS_DENIED";
}

/// <summary>
/// A broker outcome other than success (§6): a status class, an ErrorInfo reason with metadata and, for
/// validation errors, the offending field. The message says what to fix.
/// </summary>
public sealed class BrokerException : Exception
{
    public BrokerException(BrokerErrorCode code, string reason, string message,
        IReadOnlyDictionary<string, string>? metadata = null, string? field = null, DatasetRecord? partialDataset = null)
        : base(message)
    {
        Code = code;
        Reason = reason;
        Metadata = metadata ?? new Dictionary<string, string>();
        Field = field;
        PartialDataset = partialDataset;
    }

    public BrokerException()
        : this(BrokerErrorCode.Internal, "INTERNAL", "Unexpected broker error.")
    {
    }

    public BrokerException(string message)
        : this(BrokerErrorCode.Internal, "INTERNAL", message)
    {
    }

    public BrokerException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = BrokerErrorCode.Internal;
        Reason = "INTERNAL";
        Metadata = new Dictionary<string, string>();
    }

    public BrokerErrorCode Code { get; }

    public string Reason { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The request field a validation error refers to (BadRequest field violation), if any.</summary>
    public string? Field { get; }

    /// <summary>The parts present when <see cref="Reason"/> is PARTIAL_DATA.</summary>
    public DatasetRecord? PartialDataset { get; }

    internal static BrokerException Invalid(string field, string message, string reason = ErrorReasons.WrongInput,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { ["field"] = field };
        return new BrokerException(BrokerErrorCode.InvalidArgument, reason, message, meta, field);
    }
}
