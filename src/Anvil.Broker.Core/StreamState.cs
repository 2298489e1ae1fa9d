using Anvil.Broker.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core;

/// <summary>
/// State guarded by one lock whose changes wake waiting readers (docs/broker.md §4.2): every change completes the current
/// signal task and installs a fresh one, so waiters never poll.
/// </summary>
internal abstract class Waitable
{
    // Created when a reader first waits, so changes nobody waits for (every stored message of a batch) allocate nothing.
    private TaskCompletionSource? changed;

    public Lock Gate { get; } = new();

    /// <summary>Bumped by deletion: readers waiting across it end with END_OF_STREAM.</summary>
    public int Generation { get; protected set; }

    /// <summary>Completes at the next change; read under <see cref="Gate"/>.</summary>
    public Task Changed => (changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Wakes every waiter; call under <see cref="Gate"/>.</summary>
    public void Signal()
    {
        var previous = changed;
        changed = null;
        previous?.TrySetResult();
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

/// <summary>
/// One stored part as the in-memory index keeps it: the figures reads and duplicate checks need without touching
/// disk, plus where its whole record lies in the stream's log. Name, metadata, headers and payload are read back
/// from the log on demand (§7 bounded memory).
/// </summary>
internal readonly record struct Part(long TimestampNs, ulong Size, uint Substream, PayloadKind Kind, uint Crc, int Segment, long Offset, int Length);

/// <summary>Everything stored under one id: a plain message or the parts of a dataset (§2.4).</summary>
internal sealed class IdRecord
{
    private readonly SortedList<uint, Part>? parts;
    private readonly Part single;

    /// <summary>A plain message (one part, substream 0).</summary>
    public IdRecord(ulong id, Part single)
    {
        Id = id;
        this.single = single;
        FirstTimestampNs = single.TimestampNs;
    }

    /// <summary>An empty dataset of <paramref name="expectedSize"/> parts.</summary>
    public IdRecord(ulong id, uint expectedSize, long firstTimestampNs)
    {
        Id = id;
        ExpectedSize = expectedSize;
        FirstTimestampNs = firstTimestampNs;
        parts = [];
    }

    public ulong Id { get; }

    /// <summary>N for a dataset, 0 for a plain message.</summary>
    public uint ExpectedSize { get; }

    public long FirstTimestampNs { get; }

    public bool IsDataset => ExpectedSize > 0;

    public int PartCount => parts?.Count ?? 1;

    public Part First => parts is null ? single : parts.Values[0];

    public IEnumerable<Part> Parts => parts is null ? [single] : parts.Values;

    public bool Complete => !IsDataset || PartCount == ExpectedSize;

    public bool TryGetPart(uint substream, out Part part)
    {
        if (parts is null)
        {
            part = single;
            return substream == 0;
        }

        return parts.TryGetValue(substream, out part);
    }

    public void AddPart(Part part) => parts!.Add(part.Substream, part);

    /// <summary>§4.5: complete, or holding at least <paramref name="minSize"/> parts when that is positive.</summary>
    public bool Readable(uint minSize) => Complete || (minSize > 0 && PartCount >= minSize);
}

/// <summary>
/// The compact id → record index of one stream: plain messages as bare <see cref="Part"/> values (about 70 bytes
/// each), datasets as <see cref="IdRecord"/> objects.
/// </summary>
internal sealed class RecordIndex
{
    private readonly Dictionary<ulong, Part> plain = [];
    private readonly Dictionary<ulong, IdRecord> datasets = [];

    public int Count => plain.Count + datasets.Count;

    public bool ContainsKey(ulong id) => plain.ContainsKey(id) || datasets.ContainsKey(id);

    public bool TryGetValue(ulong id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IdRecord? record)
    {
        if (plain.TryGetValue(id, out var part))
        {
            record = new IdRecord(id, part);
            return true;
        }

        return datasets.TryGetValue(id, out record);
    }

    public IdRecord this[ulong id] => TryGetValue(id, out var record) ? record : throw new KeyNotFoundException($"Id {id} is not stored.");

    public void AddPlain(ulong id, Part part) => plain.Add(id, part);

    public void AddDataset(IdRecord record) => datasets.Add(record.Id, record);

    public int CountDatasets(bool includeIncomplete) => plain.Count + datasets.Values.Count(r => includeIncomplete || r.Complete);

    public int CountAbove(ulong pointer) => plain.Keys.Count(id => id > pointer) + datasets.Keys.Count(id => id > pointer);

    public void Clear()
    {
        plain.Clear();
        datasets.Clear();
        plain.TrimExcess();
    }
}

/// <summary>One stream: its records, finish flag, metadata and consumer groups, all under one lock.</summary>
internal sealed class StreamState(StreamKey key) : Waitable
{
    // Ranges of ids first known missing at a time: the start of a gap's age (§5).
    private readonly List<(ulong From, ulong To, long SinceTicks)> missingSince = [];

    public StreamKey Key { get; } = key;

    public IdMode Mode { get; set; }

    public RecordIndex Records { get; } = new();

    public ulong Highest { get; private set; }

    public bool Finished { get; private set; }

    public ulong LastId { get; private set; }

    public string NextStream { get; private set; } = "";

    public long CreatedNs { get; private set; }

    public long LastNs { get; private set; }

    public string? Meta { get; set; }

    public Dictionary<string, GroupState> Groups { get; } = new(StringComparer.Ordinal);

    /// <summary>The stream's log once anything was written.</summary>
    public RecordLog? Log { get; set; }

    /// <summary>Reused under <see cref="Waitable.Gate"/> to frame log and journal records without allocating.</summary>
    public RecordWriter Writer { get; } = new();

    /// <summary>The journal files of a group by name (durable brokers only).</summary>
    public Func<string, GroupFiles>? GroupFiles { get; set; }

    /// <summary>A sealed segment failed its check at recovery: the stream refuses every call (§7).</summary>
    public string? Unavailable { get; set; }

    public bool Exists => Records.Count > 0 || Finished;

    /// <summary>The §4.3 bound: the finish's last id, else the highest stored id.</summary>
    public ulong Bound => Finished ? LastId : Highest;

    public GroupState Group(string name)
    {
        if (!Groups.TryGetValue(name, out var group))
        {
            group = new GroupState(Writer, GroupFiles?.Invoke(name));
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
                missingSince.Add((Highest + 1, id - 1, nowTicks));
            }

            Highest = id;
        }
    }

    public void Finish(ulong lastId, string nextStream, long nowNs, long nowTicks)
    {
        if (lastId > Highest)
        {
            missingSince.Add((Highest + 1, lastId, nowTicks));
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
        foreach (var (from, to, since) in missingSince)
        {
            if (id >= from && id <= to)
            {
                return since;
            }
        }

        return nowTicks;
    }

    /// <summary>Files written under the lock since the last call; the caller syncs them before replying.</summary>
    public List<SafeFileHandle>? TakeDirty()
    {
        List<SafeFileHandle>? dirty = null;
        if (Log is { Dirty.Count: > 0 } log)
        {
            dirty = [.. log.Dirty];
            log.Dirty.Clear();
        }

        foreach (var group in Groups.Values)
        {
            if (group.TakeDirty() is { } journal)
            {
                (dirty ??= []).Add(journal.Handle);
            }
        }

        return dirty;
    }

    /// <summary>Closes the stream's files (deletion, shutdown).</summary>
    public void CloseFiles()
    {
        Log?.Dispose();
        Log = null;
        foreach (var group in Groups.Values)
        {
            group.Close();
        }
    }

    /// <summary>§4.8 deletion: forget everything; the name restarts at id 1.</summary>
    public void Clear()
    {
        CloseFiles();
        Records.Clear();
        Groups.Clear();
        missingSince.Clear();
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
