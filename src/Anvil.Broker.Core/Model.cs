namespace Anvil.Broker.Core;

/// <summary>Where a call reads or writes (docs/broker.md §2.1), before normalisation.</summary>
/// <param name="Beamtime">1–128 of [A-Za-z0-9._-], or "auto" with <paramref name="Beamline"/>.</param>
/// <param name="DataSource">Empty means "detector".</param>
/// <param name="Stream">Empty means "default".</param>
/// <param name="Beamline">Only with beamtime "auto".</param>
public sealed record StreamAddress(string Beamtime, string DataSource = "", string Stream = "", string Beamline = "");

public enum PayloadKind
{
    Inline,
    File,
}

public enum SourceType
{
    Processed,
    Raw,
}

public enum RedeliveryReason
{
    None,
    Nack,
    Resend,
    Late,
}

public enum MetaMode
{
    Replace,
    Update,
    Insert,
}

public enum StreamFilter
{
    All,
    Finished,
    Unfinished,
}

/// <summary>One message a producer sends (§3).</summary>
public sealed record OutgoingMessage
{
    /// <summary>Producer-assigned id (≥ 1), or 0 with <see cref="AutoId"/>.</summary>
    public ulong Id { get; init; }

    public bool AutoId { get; init; }

    public required string Name { get; init; }

    public PayloadKind PayloadKind { get; init; }

    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>Declared size of a FILE reference (0 = unknown); ignored for inline payloads.</summary>
    public ulong Size { get; init; }

    /// <summary>A JSON object; empty means <c>{}</c>.</summary>
    public string Meta { get; init; } = "";

    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Dataset part k (1..N); 0 for a plain message.</summary>
    public uint DatasetSubstream { get; init; }

    /// <summary>Dataset size N; 0 for a plain message.</summary>
    public uint DatasetSize { get; init; }

    public SourceType SourceType { get; init; }
}

/// <summary>The stored outcome of one send: the id (assigned ones included), whether it was an identical resend, and the store time.</summary>
public sealed record SendOutcome(ulong Id, bool Duplicate, long TimestampNs);

/// <summary>A stored record as a consumer receives it (§2.2).</summary>
public sealed record MessageRecord(
    ulong Id,
    string Name,
    long TimestampNs,
    ulong Size,
    uint DatasetSubstream,
    string Meta,
    IReadOnlyDictionary<string, string> Headers,
    PayloadKind PayloadKind,
    ReadOnlyMemory<byte> Payload,
    uint DeliveryCount = 0,
    RedeliveryReason RedeliveryReason = RedeliveryReason.None);

/// <summary>A dataset as returned by the dataset reads (§4.5); a plain message reads as a complete one-part dataset.</summary>
public sealed record DatasetRecord(
    ulong Id,
    uint ExpectedSize,
    IReadOnlyList<MessageRecord> Parts,
    uint DeliveryCount = 0,
    RedeliveryReason RedeliveryReason = RedeliveryReason.None);

/// <summary>§4.6: redeliver an unacknowledged delivery after <paramref name="DelayMs"/>, at most <paramref name="MaxAttempts"/> times (0 = unlimited).</summary>
/// <param name="DelayMs">Time from a delivery to its redelivery when it is not acknowledged.</param>
/// <param name="MaxAttempts">Redeliveries at most (0 = unlimited).</param>
/// <param name="EndsWithCall">
/// The delivery went out on a call whose end hands it back at once (Subscribe, §4.10). A broker restart ends every such
/// call, so recovery makes these deliveries due at once instead of waiting out their deadline.
/// </param>
public sealed record ResendPolicy(uint DelayMs, uint MaxAttempts, bool EndsWithCall = false);

/// <summary>One entry of ListStreams / GetStreamInfo (§4.8).</summary>
public sealed record StreamInfo(string Name, ulong LastId, long TimestampCreatedNs, long TimestampLastNs, bool Finished, string NextStream);

/// <summary>An unacknowledged id with detail (§4.6).</summary>
public sealed record UnackedEntry(ulong Id, uint DeliveryCount, long NextDueNs, bool Exhausted, bool Gap, bool Delivered);

public sealed record UnacknowledgedResult(IReadOnlyList<UnackedEntry> Entries, bool Truncated);

/// <summary>A declared gap (§5), or with no group an id now missing below the bound.</summary>
public sealed record GapInfo(ulong Id, string Kind, long DeclaredAtNs, bool Resolved);

/// <summary>A group's position on one stream, for operators.</summary>
public sealed record GroupInfo(string Stream, string Group, ulong Pointer, ulong LastAcknowledged, ulong Acknowledged,
    ulong InFlight, ulong Backlog, ulong GapsOpen);

/// <summary>The outcome of a Query (§4.9): matching records without payloads, and whether more matched.</summary>
public sealed record QueryResult(IReadOnlyList<MessageRecord> Records, bool Truncated);

/// <summary>One message's outcome in <see cref="MessageBroker.SendManyAsync"/>: stored (or duplicate), or the error it alone failed with.</summary>
public sealed record BatchSendResult(SendOutcome? Outcome, BrokerException? Error);

/// <summary>
/// The outcome of <see cref="MessageBroker.GetNextManyAsync"/>: the messages delivered (at least one), and the error that
/// ended the batch early, if any (deliver the messages, then report it).
/// </summary>
public sealed record NextBatch(IReadOnlyList<MessageRecord> Messages, BrokerException? Error);
