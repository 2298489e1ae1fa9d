namespace Anvil.Broker.Core;

/// <summary>
/// State guarded by one lock whose changes wake waiting readers (§4.2): every change completes the current
/// signal task and installs a fresh one, so waiters never poll.
/// </summary>
internal abstract class Waitable
{
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Lock Gate { get; } = new();

    /// <summary>Bumped by deletion: readers waiting across it end with END_OF_STREAM.</summary>
    public int Generation { get; protected set; }

    /// <summary>Completes at the next change; read under <see cref="Gate"/>.</summary>
    public Task Changed => _changed.Task;

    /// <summary>Wakes every waiter; call under <see cref="Gate"/>.</summary>
    public void Signal()
    {
        var previous = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }
}

/// <summary>Metadata of one (beamtime, data source).</summary>
internal sealed class SourceState : Waitable
{
    public string? Meta { get; set; }
}

internal enum IdMode
{
    None,
    Producer,
    Auto,
}

/// <summary>One stored part (a plain message is the single part 0 of its id).</summary>
internal sealed class Part
{
    public required string Name { get; init; }

    public required long TimestampNs { get; init; }

    public required ulong Size { get; init; }

    public required uint Substream { get; init; }

    public required string Meta { get; init; }

    public required IReadOnlyDictionary<string, string> Headers { get; init; }

    public required PayloadKind Kind { get; init; }

    public required uint Crc { get; init; }

    /// <summary>Where the inline payload lives: in memory, or in a segment of the stream's log.</summary>
    public required PayloadRef Payload { get; init; }
}

/// <summary>Inline bytes held in memory (no data directory) or a location in a log segment.</summary>
internal readonly record struct PayloadRef(byte[]? Bytes, int Segment, long Offset, int Length)
{
    public static PayloadRef Empty { get; } = new([], 0, 0, 0);
}

/// <summary>Everything stored under one id: a plain message or the parts of a dataset (§2.4).</summary>
internal sealed class IdRecord(ulong id, uint expectedSize, long firstTimestampNs)
{
    public ulong Id { get; } = id;

    /// <summary>N for a dataset, 0 for a plain message.</summary>
    public uint ExpectedSize { get; } = expectedSize;

    public long FirstTimestampNs { get; } = firstTimestampNs;

    public SortedList<uint, Part> Parts { get; } = [];

    public bool IsDataset => ExpectedSize > 0;

    public bool Complete => !IsDataset || Parts.Count == ExpectedSize;

    /// <summary>§4.5: complete, or holding at least <paramref name="minSize"/> parts when that is positive.</summary>
    public bool Readable(uint minSize) => Complete || (minSize > 0 && Parts.Count >= minSize);
}

/// <summary>One stream: its records, finish flag, metadata and consumer groups, all under one lock.</summary>
internal sealed class StreamState(StreamKey key) : Waitable
{
    // Ranges of ids first known missing at a time: the start of a gap's age (§5).
    private readonly List<(ulong From, ulong To, long SinceTicks)> _missingSince = [];

    public StreamKey Key { get; } = key;

    public IdMode Mode { get; set; }

    public Dictionary<ulong, IdRecord> Records { get; } = [];

    public ulong Highest { get; private set; }

    public bool Finished { get; private set; }

    public ulong LastId { get; private set; }

    public string NextStream { get; private set; } = "";

    public long CreatedNs { get; private set; }

    public long LastNs { get; private set; }

    public string? Meta { get; set; }

    public Dictionary<string, GroupState> Groups { get; } = new(StringComparer.Ordinal);

    public bool Exists => Records.Count > 0 || Finished;

    /// <summary>The §4.3 bound: the finish's last id, else the highest stored id.</summary>
    public ulong Bound => Finished ? LastId : Highest;

    public GroupState Group(string name)
    {
        if (!Groups.TryGetValue(name, out var group))
        {
            group = new GroupState();
            Groups.Add(name, group);
        }

        return group;
    }

    public long NextTimestamp(long nowNs) => Math.Max(nowNs, LastNs);

    /// <summary>Records a stored part's effect on the stream-wide figures.</summary>
    public void NoteStored(ulong id, long timestampNs, long nowTicks)
    {
        if (Records.Count == 1 && !Finished)
        {
            CreatedNs = timestampNs;
        }

        LastNs = Math.Max(LastNs, timestampNs);
        if (id > Highest)
        {
            if (id > Highest + 1)
            {
                _missingSince.Add((Highest + 1, id - 1, nowTicks));
            }

            Highest = id;
        }
    }

    public void Finish(ulong lastId, string nextStream, long nowNs, long nowTicks)
    {
        if (lastId > Highest)
        {
            _missingSince.Add((Highest + 1, lastId, nowTicks));
        }

        if (!Exists)
        {
            CreatedNs = nowNs;
        }

        Finished = true;
        LastId = lastId;
        NextStream = nextStream;
        LastNs = Math.Max(LastNs, nowNs);
    }

    /// <summary>When the broker first knew that <paramref name="id"/> was missing (a higher id or the finish flag).</summary>
    public long MissingSinceTicks(ulong id, long nowTicks)
    {
        foreach (var (from, to, since) in _missingSince)
        {
            if (id >= from && id <= to)
            {
                return since;
            }
        }

        return nowTicks;
    }

    /// <summary>§4.8 deletion: forget everything; the name restarts at id 1.</summary>
    public void Clear()
    {
        Records.Clear();
        Groups.Clear();
        _missingSince.Clear();
        Mode = IdMode.None;
        Highest = 0;
        Finished = false;
        LastId = 0;
        NextStream = "";
        CreatedNs = 0;
        LastNs = 0;
        Meta = null;
        Generation++;
    }
}
