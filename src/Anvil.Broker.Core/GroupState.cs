using Anvil.Broker.Core.Storage;

namespace Anvil.Broker.Core;

/// <summary>
/// A delivered-but-unacknowledged id the group must still act on (docs/broker.md §4.6): an in-flight entry under a resend
/// policy, a scheduled nack redelivery or a late gap id. Ids delivered at-most-once are not tracked.
/// </summary>
internal sealed class Tracked(ulong id)
{
    public ulong Id { get; } = id;

    public uint DeliveryCount { get; set; }

    /// <summary>Why the id is next due; None when nothing is scheduled (exhausted, or delivered without a policy).</summary>
    public RedeliveryReason DueReason { get; set; }

    public long DueTicks { get; set; }

    public ResendPolicy? Policy { get; set; }

    public uint ResendsLeft { get; set; }

    public bool Exhausted { get; set; }

    public bool InFlight => Policy is not null && !Exhausted;

    /// <summary>A copy of the entry as it is now (to restore it).</summary>
    public Tracked Copy() => new(Id)
    {
        DeliveryCount = DeliveryCount,
        DueReason = DueReason,
        DueTicks = DueTicks,
        Policy = Policy,
        ResendsLeft = ResendsLeft,
        Exhausted = Exhausted,
    };

    /// <summary>§4.3 step 3: whether this entry can still produce a delivery.</summary>
    public bool CanRedeliver => DueReason is RedeliveryReason.Nack or RedeliveryReason.Late
        || (DueReason == RedeliveryReason.Resend && (Policy!.MaxAttempts == 0 || ResendsLeft > 0));
}

/// <summary>A declared gap (§5).</summary>
internal sealed class GapState(ulong id, string kind, long declaredAtNs, uint minSize)
{
    public ulong Id { get; } = id;

    public string Kind { get; } = kind;

    public long DeclaredAtNs { get; } = declaredAtNs;

    /// <summary>The min_size the declaring read used: the id is late once readable under it.</summary>
    public uint MinSize { get; } = minSize;

    public bool Resolved { get; set; }
}

/// <summary>Where a group's batch of reads stood: its pointer and how many deliveries the batch had made.</summary>
internal readonly record struct DeliveryMark(ulong Pointer, int Deliveries);

/// <summary>
/// One consumer group on one stream: the shared read pointer, acks, redeliveries and gaps (§4). Every change is
/// appended to the group's journal (when the broker is durable) before the lock that made it is released.
/// </summary>
internal sealed class GroupState(RecordWriter writer, GroupFiles? files = null)
{
    public const byte OpPointer = 1;
    public const byte OpTracked = 2;
    public const byte OpForget = 3;
    public const byte OpAck = 4;
    public const byte OpGap = 5;
    public const byte OpMarker = 6;
    public const byte OpSetLastRead = 7;

    /// <summary>First record of every journal: the group's real name (file names are only an encoding of it).</summary>
    public const byte OpName = 8;

    /// <summary>An acknowledged range, written by snapshots.</summary>
    public const byte OpAckRange = 9;

    private readonly SortedSet<(long Due, ulong Id)> schedule = [];
    private GroupJournal? journal;
    private bool batching;
    private int batchDepth;

    // The deliveries made in the current batch, each with its entry as it was before (null: none), and where the batch
    // began: what UndoDeliveries restores when the batch's journal write fails.
    private readonly List<(ulong Id, Tracked? Before)> batchDeliveries = [];
    private DeliveryMark batchStart;

    public ulong Pointer { get; private set; }

    public IntervalSet Acks { get; } = new();

    public Dictionary<ulong, Tracked> Tracked { get; } = [];

    public SortedDictionary<ulong, GapState> Gaps { get; } = [];

    /// <summary>The newest id GetLast returned to this group (§4.4).</summary>
    public ulong LastMarker { get; private set; }

    public int InFlightCount { get; private set; }

    public long? NextDueTicks => schedule.Count == 0 ? null : schedule.Min.Due;

    /// <summary>The journal written since the last sync, if any; the caller syncs it before replying.</summary>
    public GroupJournal? Dirty { get; private set; }

    public GroupJournal? TakeDirty()
    {
        var dirty = Dirty;
        Dirty = null;
        return dirty;
    }

    public void Close()
    {
        journal?.Dispose();
        journal = null;
    }

    /// <summary>Writes the whole state as journal records (a snapshot that replaces the journal, §7).</summary>
    public void WriteSnapshot(Action<ReadOnlySpan<byte>> sink)
    {
        sink(writer.Reset().U8(OpPointer).U64(Pointer).Finish());
        sink(writer.Reset().U8(OpMarker).U64(LastMarker).Finish());
        foreach (var (start, end) in Acks.Ranges)
        {
            sink(writer.Reset().U8(OpAckRange).U64(start).U64(end).Finish());
        }

        foreach (var gap in Gaps.Values)
        {
            sink(GapRecord(gap).Finish());
        }

        foreach (var entry in Tracked.Values)
        {
            sink(TrackedRecord(entry).Finish());
        }
    }

    /// <summary>
    /// The earliest redelivery due at <paramref name="nowTicks"/>; entries whose last resend expired on the way are
    /// marked exhausted (reported through <paramref name="exhausted"/>).
    /// </summary>
    public Tracked? Due(long nowTicks, Action<Tracked> exhausted)
    {
        while (schedule.Count > 0 && schedule.Min.Due <= nowTicks)
        {
            var entry = Tracked[schedule.Min.Id];
            if (entry.DueReason == RedeliveryReason.Resend && !entry.CanRedeliver)
            {
                Unschedule(entry);
                entry.Exhausted = true;
                InFlightCount--;
                WriteTracked(entry);
                exhausted(entry);
                continue;
            }

            return entry;
        }

        return null;
    }

    public bool HasPendingRedelivery => Tracked.Values.Any(t => !t.Exhausted && t.DueReason != RedeliveryReason.None && t.CanRedeliver);

    public int DueCount(long nowTicks) => schedule.Count(s => s.Due <= nowTicks);

    public void MovePointer(ulong value)
    {
        Pointer = value;
        Write(writer.Reset().U8(OpPointer).U64(value));
    }

    public void SetMarker(ulong id)
    {
        LastMarker = id;
        Write(writer.Reset().U8(OpMarker).U64(id));
    }

    public void DeclareGap(GapState gap)
    {
        Gaps[gap.Id] = gap;
        WriteGap(gap);
    }

    /// <summary>Acknowledges an id: cancels its redelivery and resolves its gap record.</summary>
    public void Ack(ulong id)
    {
        Acks.Add(id);
        RemoveTracked(id);
        if (Gaps.TryGetValue(id, out var gap))
        {
            gap.Resolved = true;
        }

        Write(writer.Reset().U8(OpAck).U64(id));
    }

    /// <summary>Records a delivery of <paramref name="id"/> (first or repeated) under the policy in force.</summary>
    public void Delivered(ulong id, uint deliveryCount, RedeliveryReason reason, ResendPolicy? callPolicy, long nowTicks, long ticksPerMs)
    {
        if (batchDepth > 0)
        {
            batchDeliveries.Add((id, Tracked.TryGetValue(id, out var before) ? before.Copy() : null));
        }

        if (Acks.Contains(id))
        {
            // Read again after SetLastRead (§4.7: acks stay): the group already has it, so it is never in flight and
            // never resent. Tracking it would hold back the finish for the whole resend cycle, as a second ack is refused.
            Forget(id);
            return;
        }

        Tracked.TryGetValue(id, out var entry);
        var policy = entry?.Policy ?? callPolicy;
        if (policy is not null && callPolicy is not null && policy.EndsWithCall != callPolicy.EndsWithCall)
        {
            // The entry's own policy stays (§4.6); whether this delivery's call hands it back on its end is the call's.
            policy = policy with { EndsWithCall = callPolicy.EndsWithCall };
        }
        if (entry is not null)
        {
            Unschedule(entry);
            if (entry.InFlight)
            {
                InFlightCount--;
            }
        }

        if (reason == RedeliveryReason.Late && Gaps.TryGetValue(id, out var gap))
        {
            gap.Resolved = true;
            WriteGap(gap);
        }

        if (policy is null)
        {
            Forget(id);
            return;
        }

        entry ??= new Tracked(id) { Policy = policy, ResendsLeft = policy.MaxAttempts };
        entry.Policy = policy;
        entry.Exhausted = false;
        entry.DeliveryCount = deliveryCount;
        if (reason == RedeliveryReason.Resend && entry.ResendsLeft > 0)
        {
            entry.ResendsLeft--;
        }

        Tracked[id] = entry;
        InFlightCount++;
        Schedule(entry, RedeliveryReason.Resend, nowTicks + (policy.DelayMs * ticksPerMs));
        WriteTracked(entry);
    }

    public void Nack(ulong id, long dueTicks, uint deliveredCount)
    {
        if (!Tracked.TryGetValue(id, out var entry))
        {
            entry = new Tracked(id) { DeliveryCount = deliveredCount };
            Tracked.Add(id, entry);
        }
        else
        {
            Unschedule(entry);
            if (entry.Exhausted)
            {
                entry.Exhausted = false;
                InFlightCount++;
            }
        }

        Schedule(entry, RedeliveryReason.Nack, dueTicks);
        WriteTracked(entry);
    }

    /// <summary>A late gap id (§5.4): due at once, ahead of new ids.</summary>
    public void Late(ulong id, long nowTicks)
    {
        if (!Tracked.TryGetValue(id, out var entry))
        {
            entry = new Tracked(id);
            Tracked.Add(id, entry);
        }
        else
        {
            Unschedule(entry);
        }

        Schedule(entry, RedeliveryReason.Late, nowTicks);
        WriteTracked(entry);
    }

    /// <summary>
    /// Undoes the reads of the current batch since <paramref name="mark"/> (by default all of it) when their journal records
    /// cannot be written (a full disk): their consumer never gets the deliveries, so each id goes back to the state it had
    /// (a new id: the pointer moves back; a redelivery: its count, resends left and due time as they were) and the next
    /// read delivers it again, as if the failed one had not happened. A delivery that never left the broker neither counts
    /// as an attempt nor uses up a resend. The compensating records join the unwritten ones in memory, in order.
    /// </summary>
    public void UndoDeliveries(DeliveryMark? mark = null)
    {
        var (pointer, from) = mark ?? batchStart;
        for (var i = batchDeliveries.Count - 1; i >= from; i--)
        {
            var (id, before) = batchDeliveries[i];
            var existed = RemoveTracked(id);
            if (before is null)
            {
                if (existed)
                {
                    Compensate(writer.Reset().U8(OpForget).U64(id));
                }

                continue;
            }

            Tracked[id] = before;
            if (before.InFlight)
            {
                InFlightCount++;
            }

            if (before.DueReason != RedeliveryReason.None)
            {
                schedule.Add((before.DueTicks, id));
            }

            Compensate(TrackedRecord(before));
        }

        if (from < batchDeliveries.Count)
        {
            batchDeliveries.RemoveRange(from, batchDeliveries.Count - from);
        }

        // Reads of new ids moved the pointer: it goes back to where the first undone read found it.
        if (Pointer != pointer)
        {
            Pointer = pointer;
            Compensate(writer.Reset().U8(OpPointer).U64(pointer));
        }
    }

    /// <summary>Where the current batch stands: the pointer and the deliveries made so far (<see cref="UndoDeliveries"/>).</summary>
    public DeliveryMark Mark => new(Pointer, batchDeliveries.Count);

    // A compensating record: kept in memory behind the unwritten records it answers (never written on its own, so it
    // cannot fail), it reaches the journal with them before the next change.
    private void Compensate(RecordWriter record)
    {
        if (journal is null)
        {
            // No journal could be opened: nothing of the batch is waiting to be written; memory alone is restored.
            return;
        }

        journal.Batching = true;
        journal.Append(record.Finish());
        journal.Batching = false;
    }

    /// <summary>
    /// After a restart (§4.10): the calls that held deliveries under <see cref="ResendPolicy.EndsWithCall"/> ended with the
    /// old process, so those deliveries are due at once, as when such a call ends while the broker runs.
    /// </summary>
    public void EndCallsOfPreviousRun(long nowTicks)
    {
        foreach (var entry in Tracked.Values.Where(e => e.InFlight && e.DueReason == RedeliveryReason.Resend && e.Policy!.EndsWithCall && e.DueTicks > nowTicks).ToList())
        {
            Unschedule(entry);
            Schedule(entry, RedeliveryReason.Resend, nowTicks);
        }
    }

    /// <summary>Forgets any redelivery of <paramref name="id"/>.</summary>
    public void Forget(ulong id)
    {
        if (RemoveTracked(id))
        {
            Write(writer.Reset().U8(OpForget).U64(id));
        }
    }

    /// <summary>§4.7: the pointer moves; redeliveries, in-flight entries and open gaps above it are dropped.</summary>
    public void SetLastRead(ulong value)
    {
        ApplySetLastRead(value);
        Write(writer.Reset().U8(OpSetLastRead).U64(value));
    }

    /// <summary>Rebuilds the state from a journal's records (recovery); nothing is written back.</summary>
    public void Replay(byte[] body)
    {
        var r = new RecordReader(body);
        switch (r.U8())
        {
            case OpPointer:
                Pointer = r.U64();
                break;
            case OpTracked:
                var id = r.U64();
                RemoveTracked(id);
                var entry = new Tracked(id) { DeliveryCount = r.U32() };
                var reason = (RedeliveryReason)r.U8();
                var due = r.I64();
                // 1: a policy; 2: a policy whose delivery went out on a Subscribe call (older journals hold only 1).
                if (r.U8() is var hasPolicy and (1 or 2))
                {
                    entry.Policy = new ResendPolicy(r.U32(), r.U32(), EndsWithCall: hasPolicy == 2);
                }

                entry.ResendsLeft = r.U32();
                entry.Exhausted = r.U8() == 1;
                Tracked[id] = entry;
                if (entry.InFlight)
                {
                    InFlightCount++;
                }

                if (reason != RedeliveryReason.None)
                {
                    Schedule(entry, reason, due);
                }

                break;
            case OpForget:
                RemoveTracked(r.U64());
                break;
            case OpAck:
                var acked = r.U64();
                Acks.Add(acked);
                RemoveTracked(acked);
                if (Gaps.TryGetValue(acked, out var gap))
                {
                    gap.Resolved = true;
                }

                break;
            case OpGap:
                var gapId = r.U64();
                var kind = r.U8() == 1 ? ErrorReasons.PartialData : ErrorReasons.NoData;
                Gaps[gapId] = new GapState(gapId, kind, r.I64(), r.U32()) { Resolved = r.U8() == 1 };
                break;
            case OpMarker:
                LastMarker = r.U64();
                break;
            case OpSetLastRead:
                ApplySetLastRead(r.U64());
                break;
            case OpAckRange:
                var (from, to) = (r.U64(), r.U64());
                for (var a = from; a <= to && a != 0; a++)
                {
                    Acks.Add(a);
                }

                break;
            case OpName:
                break;
            default:
                throw new InvalidDataException("Unknown group journal record.");
        }
    }

    private void ApplySetLastRead(ulong value)
    {
        Pointer = value;
        foreach (var id in Tracked.Keys.Where(id => id > value).ToList())
        {
            RemoveTracked(id);
        }

        foreach (var gap in Gaps.Values.Where(g => g.Id > value && !g.Resolved).ToList())
        {
            Gaps.Remove(gap.Id);
        }
    }

    private bool RemoveTracked(ulong id)
    {
        if (!Tracked.Remove(id, out var entry))
        {
            return false;
        }

        Unschedule(entry);
        if (entry.InFlight)
        {
            InFlightCount--;
        }

        return true;
    }

    private void WriteTracked(Tracked e) => Write(TrackedRecord(e));

    private RecordWriter TrackedRecord(Tracked e)
    {
        var w = writer.Reset().U8(OpTracked).U64(e.Id).U32(e.DeliveryCount).U8((byte)e.DueReason).I64(e.DueTicks);
        if (e.Policy is { } policy)
        {
            w.U8(policy.EndsWithCall ? (byte)2 : (byte)1).U32(policy.DelayMs).U32(policy.MaxAttempts);
        }
        else
        {
            w.U8(0);
        }

        return w.U32(e.ResendsLeft).U8(e.Exhausted ? (byte)1 : (byte)0);
    }

    private void WriteGap(GapState gap) => Write(GapRecord(gap));

    private RecordWriter GapRecord(GapState gap) =>
        writer.Reset().U8(OpGap).U64(gap.Id).U8(gap.Kind == ErrorReasons.PartialData ? (byte)1 : (byte)0)
            .I64(gap.DeclaredAtNs).U32(gap.MinSize).U8(gap.Resolved ? (byte)1 : (byte)0);

    private void Write(RecordWriter record)
    {
        if (files is null)
        {
            return;
        }

        try
        {
            journal ??= files.Open();
        }
        catch (IOException ex) when (StorageWrites.IsDiskFull(ex))
        {
            // The journal's file or folder could not be created: STORAGE_FULL, like a failed append.
            throw StorageWrites.Full(ex);
        }

        journal.Batching = batching;
        journal.Append(record.Finish());
        if (journal.Length > files.CompactBytes)
        {
            journal.Flush();
            journal = files.Compact(this, journal);
            journal.Batching = batching;
        }

        Dirty = journal;
    }

    /// <summary>
    /// Collects the journal records of the changes that follow in memory until <see cref="EndBatch"/> writes them
    /// with one system call; call both under the stream's lock, EndBatch before the lock is released (and so before
    /// any reply).
    /// </summary>
    /// <remarks>Batches nest: only the outermost EndBatch writes.</remarks>
    public void BeginBatch()
    {
        if (batchDepth++ == 0)
        {
            batchDeliveries.Clear();
            batchStart = Mark;
        }

        batching = true;
    }

    /// <summary>
    /// Ends a batch; the outermost writes its records. On a full disk it throws STORAGE_FULL and the records stay in
    /// memory, in order, for the next write (<see cref="GroupJournal"/>): the group's state in memory is whole either way.
    /// </summary>
    public void EndBatch()
    {
        if (--batchDepth > 0)
        {
            return;
        }

        batchDepth = 0;
        batching = false;
        if (journal is not null)
        {
            try
            {
                journal.Flush();
            }
            finally
            {
                journal.Batching = false;
            }
        }

        batchDeliveries.Clear();
    }

    private void Schedule(Tracked entry, RedeliveryReason reason, long dueTicks)
    {
        entry.DueReason = reason;
        entry.DueTicks = dueTicks;
        schedule.Add((dueTicks, entry.Id));
    }

    private void Unschedule(Tracked entry)
    {
        if (entry.DueReason != RedeliveryReason.None)
        {
            schedule.Remove((entry.DueTicks, entry.Id));
            entry.DueReason = RedeliveryReason.None;
        }
    }
}
