namespace Anvil.Broker.Core;

/// <summary>
/// A delivered-but-unacknowledged id the group must still act on (§4.6): an in-flight entry under a resend
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

/// <summary>One consumer group on one stream: the shared read pointer, acks, redeliveries and gaps (§4).</summary>
internal sealed class GroupState
{
    private readonly SortedSet<(long Due, ulong Id)> _schedule = [];

    public ulong Pointer { get; set; }

    public IntervalSet Acks { get; } = new();

    public Dictionary<ulong, Tracked> Tracked { get; } = [];

    public SortedDictionary<ulong, GapState> Gaps { get; } = [];

    /// <summary>The newest id GetLast returned to this group (§4.4).</summary>
    public ulong LastMarker { get; set; }

    public int InFlightCount { get; private set; }

    public long? NextDueTicks => _schedule.Count == 0 ? null : _schedule.Min.Due;

    /// <summary>
    /// The earliest redelivery due at <paramref name="nowTicks"/>; entries whose last resend expired on the way are
    /// marked exhausted (reported through <paramref name="exhausted"/>).
    /// </summary>
    public Tracked? Due(long nowTicks, Action<Tracked> exhausted)
    {
        while (_schedule.Count > 0 && _schedule.Min.Due <= nowTicks)
        {
            var entry = Tracked[_schedule.Min.Id];
            if (entry.DueReason == RedeliveryReason.Resend && !entry.CanRedeliver)
            {
                Unschedule(entry);
                entry.Exhausted = true;
                InFlightCount--;
                exhausted(entry);
                continue;
            }

            return entry;
        }

        return null;
    }

    public bool HasPendingRedelivery => Tracked.Values.Any(t => !t.Exhausted && t.DueReason != RedeliveryReason.None && t.CanRedeliver);

    public int DueCount(long nowTicks) => _schedule.Count(s => s.Due <= nowTicks);

    /// <summary>Records a delivery of <paramref name="id"/> (first or repeated) under the policy in force.</summary>
    public void Delivered(ulong id, uint deliveryCount, RedeliveryReason reason, ResendPolicy? callPolicy, long nowTicks, long ticksPerMs)
    {
        Tracked.TryGetValue(id, out var entry);
        var policy = entry?.Policy ?? callPolicy;
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
        }

        if (policy is null)
        {
            Tracked.Remove(id);
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
    }

    /// <summary>Forgets any redelivery of <paramref name="id"/> (acked, or dropped by SetLastRead).</summary>
    public void Forget(ulong id)
    {
        if (Tracked.Remove(id, out var entry))
        {
            Unschedule(entry);
            if (entry.InFlight)
            {
                InFlightCount--;
            }
        }
    }

    /// <summary>§4.7: the pointer moves; redeliveries, in-flight entries and open gaps above it are dropped.</summary>
    public void SetLastRead(ulong value)
    {
        Pointer = value;
        foreach (var id in Tracked.Keys.Where(id => id > value).ToList())
        {
            Forget(id);
        }

        foreach (var gap in Gaps.Values.Where(g => g.Id > value && !g.Resolved).ToList())
        {
            Gaps.Remove(gap.Id);
        }
    }

    private void Schedule(Tracked entry, RedeliveryReason reason, long dueTicks)
    {
        entry.DueReason = reason;
        entry.DueTicks = dueTicks;
        _schedule.Add((dueTicks, entry.Id));
    }

    private void Unschedule(Tracked entry)
    {
        if (entry.DueReason != RedeliveryReason.None)
        {
            _schedule.Remove((entry.DueTicks, entry.Id));
            entry.DueReason = RedeliveryReason.None;
        }
    }
}
