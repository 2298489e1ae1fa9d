namespace Anvil.Broker.Core;

/// <summary>Acknowledgement (docs/broker.md §4.6, §4.7): acks, negative acks, the unacknowledged list and the read marker.</summary>
public sealed partial class MessageBroker
{
    public async Task AcknowledgeAsync(StreamAddress address, string group, ulong id, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Group(group);
        Validation.Id(id);
        var state = State(key);
        await Locked(state, () =>
        {
            RequireStored(state, id);
            var g = state.Group(group);
            if (g.Acks.Contains(id))
            {
                throw BrokerException.Invalid("id", $"Id {id} is already acknowledged by group '{group}'.", ErrorReasons.AlreadyAcknowledged);
            }

            g.Ack(id);
            state.Signal();
            return true;
        });
        metrics.Acked(key, group, 1);
    }

    /// <summary>Acks up to 10 000 ids; already-acked ids are reported, an unknown one fails the call with nothing changed.</summary>
    public async Task<IReadOnlyList<ulong>> AcknowledgeManyAsync(StreamAddress address, string group, IReadOnlyList<ulong> ids, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Group(group);
        if (ids.Count > 10_000)
        {
            throw BrokerException.Invalid("ids", $"At most 10 000 ids per AcknowledgeMany call ({ids.Count} given); split the batch.");
        }

        foreach (var id in ids)
        {
            Validation.Id(id, "ids");
        }

        var state = State(key);
        var already = new List<ulong>();
        await Locked(state, () =>
        {
            foreach (var id in ids)
            {
                RequireStored(state, id);
            }

            var g = state.Group(group);
            g.BeginBatch();
            try
            {
                foreach (var id in ids)
                {
                    if (g.Acks.Contains(id))
                    {
                        already.Add(id);
                    }
                    else
                    {
                        g.Ack(id);
                    }
                }
            }
            finally
            {
                // One write for the whole call's journal records.
                g.EndBatch();
            }

            state.Signal();
            return true;
        });
        metrics.Acked(key, group, ids.Count - already.Count);
        return already;
    }

    /// <summary>Schedules one redelivery of a delivered, unacked id at now + <paramref name="delayMs"/>.</summary>
    public Task NegativeAcknowledgeAsync(StreamAddress address, string group, ulong id, uint delayMs, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Group(group);
        Validation.Id(id);
        var state = State(key);
        return Locked(state, () =>
        {
            RequireStored(state, id);
            var g = state.Group(group);
            if (id > g.Pointer)
            {
                throw BrokerException.Invalid("id", $"Id {id} was not delivered to group '{group}' yet (its pointer is at {g.Pointer}); only delivered ids can be nacked.", ErrorReasons.NotDelivered);
            }

            if (g.Acks.Contains(id))
            {
                throw BrokerException.Invalid("id", $"Id {id} is already acknowledged by group '{group}'.", ErrorReasons.AlreadyAcknowledged);
            }

            var count = g.Tracked.TryGetValue(id, out var t) ? t.DeliveryCount : 1;
            g.Nack(id, time.GetUtcNow().UtcTicks + (delayMs * TicksPerMs), count);
            state.Signal();
            return true;
        });
    }

    public Task<ulong> GetLastAcknowledgedAsync(StreamAddress address, string group, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Group(group);
        var state = State(key);
        lock (state.Gate)
        {
            var max = state.Groups.TryGetValue(group, out var g) ? g.Acks.Max : 0;
            return max > 0
                ? Task.FromResult(max)
                : throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"Group '{group}' has acknowledged nothing on stream '{key.Stream}'.",
                    Meta(("last_id", state.Bound)));
        }
    }

    /// <summary>§4.6: ascending ids in [from, to] without an ack (0 means 1 and the stream's last id), at most 100 000.</summary>
    public Task<UnacknowledgedResult> GetUnacknowledgedAsync(StreamAddress address, string group, ulong from, ulong to, CancellationToken cancellationToken = default)
    {
        const int limit = 100_000;
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Group(group);
        var state = State(key);
        lock (state.Gate)
        {
            var first = from == 0 ? 1 : from;
            var last = to == 0 ? state.Bound : to;
            var entries = new List<UnackedEntry>();
            var truncated = false;
            if (first <= last)
            {
                var g = state.Groups.GetValueOrDefault(group);
                foreach (var id in g?.Acks.Missing(first, last) ?? Range(first, last))
                {
                    if (entries.Count == limit)
                    {
                        truncated = true;
                        break;
                    }

                    entries.Add(Unacked(state, g, id));
                }
            }

            return Task.FromResult(new UnacknowledgedResult(entries, truncated));
        }
    }

    /// <summary>§4.7: the next GetNext returns value + 1.</summary>
    public Task SetLastReadAsync(StreamAddress address, string group, ulong value, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Group(group);
        if (value > Validation.MaxId)
        {
            throw BrokerException.Invalid("value", $"value {value} exceeds the maximum id 2^63-1.");
        }

        var state = State(key);
        return Locked(state, () =>
        {
            state.Group(group).SetLastRead(value);
            state.Signal();
            return true;
        });
    }

    /// <summary>A fresh, unique 20-character group id.</summary>
    public static string NewGroupId() => GroupIds.Next();

    private static void RequireStored(StreamState state, ulong id)
    {
        if (!state.Records.ContainsKey(id))
        {
            throw BrokerException.Invalid("id", $"Id {id} is not stored in stream '{state.Key.Stream}'; only stored ids can be acknowledged.", ErrorReasons.UnknownId);
        }
    }

    private static UnackedEntry Unacked(StreamState s, GroupState? g, ulong id)
    {
        Tracked? t = null;
        g?.Tracked.TryGetValue(id, out t);
        var delivered = g is not null && id <= g.Pointer;
        var gap = (g is not null && g.Gaps.TryGetValue(id, out var x) && !x.Resolved) || !s.Records.ContainsKey(id);
        var due = t is { DueReason: not RedeliveryReason.None } ? ToNs(new DateTimeOffset(t.DueTicks, TimeSpan.Zero)) : 0;
        return new UnackedEntry(id, t?.DeliveryCount ?? (delivered ? 1u : 0u), due, t?.Exhausted ?? false, gap, delivered);
    }
}
