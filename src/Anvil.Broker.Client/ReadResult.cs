namespace Anvil.Broker.Client;

/// <summary>What a read from a stream produced.</summary>
public enum ReadOutcome
{
    /// <summary>A message or dataset was delivered.</summary>
    Delivered,

    /// <summary>Nothing deliverable before the timeout (END_OF_STREAM).</summary>
    EndOfStream,

    /// <summary>The group is past the finished stream's last id (STREAM_FINISHED).</summary>
    Finished,

    /// <summary>A declared gap (NO_DATA or PARTIAL_DATA): the pointer moved past <see cref="ReadResult{T}.GapId"/>.</summary>
    Gap,
}

/// <summary>The result of GetNext / GetNextDataset: a value or the reason there is none.</summary>
public readonly record struct ReadResult<T>(
    ReadOutcome Outcome,
    T? Value,
    ulong LastId = 0,
    string NextStream = "",
    ulong GapId = 0,
    bool StreamExists = true,
    string Reason = "")
    where T : class;
