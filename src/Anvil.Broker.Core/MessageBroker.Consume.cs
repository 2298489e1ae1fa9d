using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core;

/// <summary>
/// Consumer reads (docs/broker.md §4.2–4.5): GetNext and the dataset reads through the group pointer, GetLast,
/// GetById and payloads, the server-side wait they share, and the read errors they raise.
/// </summary>
public sealed partial class MessageBroker
{
    /// <summary>§4.3: the next id for the group (redeliveries first), waiting up to <paramref name="timeout"/>.</summary>
    public async Task<MessageRecord> GetNextAsync(StreamAddress address, string group, TimeSpan timeout, bool includePayload = false,
        ResendPolicy? resend = null, CancellationToken cancellationToken = default)
    {
        var (_, state) = GroupRead(address, group, timeout, resend);
        return await WaitAsync(state, timeout,
            (now, final) => Next(state, group, datasets: false, 0, resend, now, final,
                x => ToMessage(state, x.Rec.Id, x.Rec.First, includePayload, x.Count, x.Reason)), cancellationToken);
    }

    /// <summary>
    /// GetNext for up to <paramref name="max"/> messages in one call (Subscribe's pull): waits and fails like
    /// <see cref="GetNextAsync"/> for the first; then takes further messages only while they are ready at once (no
    /// wait, no gap declared, no error), under the same lock and with one journal write. A read failure after the first
    /// ends the batch and comes back in <see cref="NextBatch.Error"/>, for the caller to raise after delivering the rest.
    /// </summary>
    public async Task<NextBatch> GetNextManyAsync(StreamAddress address, string group, int max, TimeSpan timeout, bool includePayload = false,
        ResendPolicy? resend = null, CancellationToken cancellationToken = default)
    {
        if (max < 1)
        {
            throw BrokerException.Invalid("max", $"max must be at least 1; it was {max}.");
        }

        var (_, state) = GroupRead(address, group, timeout, resend);
        return await WaitAsync(state, timeout, (now, final) =>
        {
            var g = state.Group(group);
            var messages = new List<MessageRecord>(Math.Min(max, 64));
            g.BeginBatch();
            try
            {
                var first = Next(state, group, datasets: false, 0, resend, now, final,
                    x => ToMessage(state, x.Rec.Id, x.Rec.First, includePayload, x.Count, x.Reason));
                if (!first.Done)
                {
                    return Step<NextBatch>.Wait(first.WakeTicks);
                }

                messages.Add(first.Value!);
                while (messages.Count < max)
                {
                    Step<(MessageRecord? Message, BrokerException? Error)> next;
                    try
                    {
                        // A stored record that fails its check is delivered as an error after the rest (a full disk, by
                        // contrast, undoes the read: Next).
                        next = Next(state, group, datasets: false, 0, resend, now, final: false, x =>
                        {
                            try
                            {
                                return (ToMessage(state, x.Rec.Id, x.Rec.First, includePayload, x.Count, x.Reason), (BrokerException?)null);
                            }
                            catch (BrokerException ex) when (ex.Reason != ErrorReasons.StorageFull)
                            {
                                return ((MessageRecord?)null, ex);
                            }
                        });
                    }
                    catch (BrokerException)
                    {
                        // Whatever is not simply ready (a dataset, too many in flight, finished, a full disk) is for the
                        // next call.
                        break;
                    }

                    if (!next.Done)
                    {
                        break;
                    }

                    if (next.Value.Error is { } error)
                    {
                        return Step<NextBatch>.Result(new NextBatch(messages, error));
                    }

                    messages.Add(next.Value.Message!);
                }

                return Step<NextBatch>.Result(new NextBatch(messages, null));
            }
            finally
            {
                EndDeliveries(g);
            }
        }, cancellationToken);
    }

    /// <summary>§4.5: the next readable dataset for the group.</summary>
    public async Task<DatasetRecord> GetNextDatasetAsync(StreamAddress address, string group, uint minSize, TimeSpan timeout,
        bool includePayload = false, ResendPolicy? resend = null, CancellationToken cancellationToken = default)
    {
        var (_, state) = GroupRead(address, group, timeout, resend);
        return await WaitAsync(state, timeout,
            (now, final) => Next(state, group, datasets: true, minSize, resend, now, final,
                x => ToDataset(state, x.Rec, includePayload, x.Count, x.Reason)), cancellationToken);
    }

    /// <summary>§4.4: the highest stored id; with a group each newest id only once.</summary>
    public async Task<MessageRecord> GetLastAsync(StreamAddress address, string group, TimeSpan timeout, bool includePayload = false,
        CancellationToken cancellationToken = default)
    {
        return await LastAsync(address, group, timeout, 0, datasets: false,
            (state, rec) => ToMessage(state, rec.Id, rec.First, includePayload, 0, RedeliveryReason.None), cancellationToken);
    }

    public async Task<DatasetRecord> GetLastDatasetAsync(StreamAddress address, string group, uint minSize, TimeSpan timeout,
        bool includePayload = false, CancellationToken cancellationToken = default) =>
        await LastAsync(address, group, timeout, minSize, datasets: true,
            (state, rec) => ToDataset(state, rec, includePayload, 0, RedeliveryReason.None), cancellationToken);

    /// <summary>§4.4: one id; changes no pointer, ack or marker.</summary>
    public async Task<MessageRecord> GetByIdAsync(StreamAddress address, ulong id, TimeSpan timeout, bool includePayload = false,
        CancellationToken cancellationToken = default)
    {
        return await ByIdAsync(address, id, timeout, 0, datasets: false,
            (state, rec) => ToMessage(state, rec.Id, rec.First, includePayload, 0, RedeliveryReason.None), cancellationToken);
    }

    public async Task<DatasetRecord> GetDatasetByIdAsync(StreamAddress address, ulong id, uint minSize, TimeSpan timeout,
        bool includePayload = false, CancellationToken cancellationToken = default) =>
        await ByIdAsync(address, id, timeout, minSize, datasets: true,
            (state, rec) => ToDataset(state, rec, includePayload, 0, RedeliveryReason.None), cancellationToken);

    /// <summary>The inline bytes of one part (substream 0 for a plain message).</summary>
    public Task<ReadOnlyMemory<byte>> GetPayloadAsync(StreamAddress address, ulong id, uint substream, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        Validation.Id(id);
        var state = State(key);
        lock (state.Gate)
        {
            if (!state.Records.TryGetValue(id, out var rec))
            {
                throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"Id {id} is not stored in stream '{key.Stream}'.",
                    Meta(("id", id), ("last_id", state.Bound)));
            }

            var wanted = rec.IsDataset ? substream : 0;
            if (!rec.TryGetPart(wanted, out var part))
            {
                throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData,
                    rec.IsDataset ? $"Dataset {id} has no part {substream} (yet); substreams run 1..{rec.ExpectedSize}." : $"Id {id} is a plain message; ask for substream 0.",
                    Meta(("id", id), ("last_id", state.Bound)));
            }

            return Task.FromResult(part.Kind == PayloadKind.Inline ? Load(state, part).Payload : ReadOnlyMemory<byte>.Empty);
        }
    }

    private (StreamKey Key, StreamState State) GroupRead(StreamAddress address, string group, TimeSpan timeout, ResendPolicy? resend)
    {
        var key = StreamKeyOf(address);
        Validation.Group(group);
        CheckTimeout(timeout);
        Validation.Policy(resend);
        return (key, State(key));
    }

    // One read's group changes (pointer, in-flight entry, gap) go to the journal together, after the read and after
    // `deliver` made the reply from the record (reading its payload): a full disk at either step undoes the read, so a
    // delivery its consumer never gets is never counted (EndDeliveries).
    private Step<T> Next<T>(StreamState s, string groupName, bool datasets, uint minSize, ResendPolicy? policy, DateTimeOffset now,
        bool final, Func<(IdRecord Rec, uint Count, RedeliveryReason Reason), T> deliver)
    {
        var g = s.Group(groupName);
        Step<T> result;
        g.BeginBatch();
        var mark = g.Mark;
        try
        {
            var step = NextChange(s, groupName, datasets, minSize, policy, now, final);
            result = step.Done ? Step<T>.Result(deliver(step.Value)) : Step<T>.Wait(step.WakeTicks);
        }
        catch (BrokerException ex) when (ex.Reason == ErrorReasons.StorageFull)
        {
            // A record of this read could not be kept (its journal could not be created, or compacted) or the delivered
            // record cannot be read back yet (its own write is waiting for room): the read is undone, its pointer move
            // included; otherwise the next read would take the id after it, and this one would wait for its resend.
            g.UndoDeliveries(mark);
            EndDeliveries(g);
            throw;
        }
        catch
        {
            EndDeliveries(g);
            throw;
        }

        EndDeliveries(g);
        return result;
    }

    // Writes a read's journal records. On a full disk (STORAGE_FULL, the records kept in memory for the next write) the
    // caller gets the error instead of the deliveries, so they are undone (GroupState.UndoDeliveries): the next read
    // delivers the same ids with the same counts, and a delivery that never left the broker uses up no resend. (Counting
    // it would exhaust an id whose reads kept failing, and the stream would finish without it.)
    private static void EndDeliveries(GroupState g)
    {
        try
        {
            g.EndBatch();
        }
        catch (BrokerException ex) when (ex.Reason == ErrorReasons.StorageFull)
        {
            g.UndoDeliveries();
            throw;
        }
    }

    private Step<(IdRecord Rec, uint Count, RedeliveryReason Reason)> NextChange(StreamState s, string groupName, bool datasets, uint minSize,
        ResendPolicy? policy, DateTimeOffset now, bool final)
    {
        var g = s.Group(groupName);
        var nowTicks = now.UtcTicks;
        var due = g.Due(nowTicks, _ => metrics.Exhausted(s.Key, groupName));
        if (due is not null)
        {
            var rec = s.Records[due.Id];
            if (!datasets && rec.IsDataset)
            {
                throw IsDataset(s, due.Id);
            }

            var count = due.DeliveryCount + 1;
            var reason = due.DueReason;
            g.Delivered(due.Id, count, reason, policy, nowTicks, TicksPerMs);
            metrics.Delivered(s.Key, groupName, reason, 0);
            return Step<(IdRecord, uint, RedeliveryReason)>.Result((rec, count, reason));
        }

        var n = g.Pointer + 1;
        if (n <= s.Bound)
        {
            s.Records.TryGetValue(n, out var rec);
            if (rec is not null && (!datasets || rec.Readable(minSize)))
            {
                if (!datasets && rec.IsDataset)
                {
                    throw IsDataset(s, n);
                }

                if (policy is not null && g.InFlightCount >= Options.MaxInFlight)
                {
                    throw new BrokerException(BrokerErrorCode.ResourceExhausted, ErrorReasons.TooManyUnacked,
                        $"Group '{groupName}' has {g.InFlightCount} unacknowledged in-flight ids on stream '{s.Key.Stream}' (max {Options.MaxInFlight}); acknowledge some first.");
                }

                g.MovePointer(n);
                g.Delivered(n, 1, RedeliveryReason.None, policy, nowTicks, TicksPerMs);
                metrics.Delivered(s.Key, groupName, RedeliveryReason.None, (ToNs(now) - rec.FirstTimestampNs) / 1e9);
                return Step<(IdRecord, uint, RedeliveryReason)>.Result((rec, 1, RedeliveryReason.None));
            }

            if (!final)
            {
                return Step<(IdRecord, uint, RedeliveryReason)>.Wait(g.NextDueTicks);
            }

            var since = rec is not null ? FromNs(rec.FirstTimestampNs) : s.MissingSinceTicks(n, nowTicks);
            if (nowTicks - since < Options.GapGrace.Ticks)
            {
                throw EndOfStream(s, n);
            }

            // §5.2: declare the gap so the group is not stuck; the id comes later with reason LATE.
            g.MovePointer(n);
            g.DeclareGap(new GapState(n, rec is null ? ErrorReasons.NoData : ErrorReasons.PartialData, ToNs(now), minSize));
            metrics.Gap(s.Key, groupName);
            if (rec is null)
            {
                throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData,
                    $"Id {n} of stream '{s.Key.Stream}' is missing; it was declared a gap and the group moved past it (it is delivered late if it arrives).",
                    Meta(("id", n), ("last_id", s.Bound)));
            }

            throw PartialData(s, rec);
        }

        if (s.Finished && g.Pointer >= s.LastId && !g.HasPendingRedelivery)
        {
            throw StreamFinished(s);
        }

        return final ? throw EndOfStream(s, null) : Step<(IdRecord, uint, RedeliveryReason)>.Wait(g.NextDueTicks);
    }

    private Task<T> LastAsync<T>(StreamAddress address, string group, TimeSpan timeout, uint minSize, bool datasets, Func<StreamState, IdRecord, T> convert,
        CancellationToken ct)
    {
        var key = StreamKeyOf(address);
        if (group.Length > 0)
        {
            Validation.Group(group);
        }

        CheckTimeout(timeout);
        var state = State(key);
        return WaitAsync(state, timeout, (_, final) =>
        {
            var g = group.Length > 0 ? state.Group(group) : null;
            if (state.Highest > 0 && (g is null || g.LastMarker < state.Highest))
            {
                var rec = state.Records[state.Highest];
                if (!datasets && rec.IsDataset)
                {
                    throw IsDataset(state, rec.Id);
                }

                if (!datasets || rec.Readable(minSize))
                {
                    g?.SetMarker(rec.Id);
                    return Step<T>.Result(convert(state, rec));
                }

                return final ? throw PartialData(state, rec) : Step<T>.Wait(null);
            }

            if (g is not null && state.Finished)
            {
                throw StreamFinished(state);
            }

            return final ? throw EndOfStream(state, null) : Step<T>.Wait(null);
        }, ct);
    }

    private Task<T> ByIdAsync<T>(StreamAddress address, ulong id, TimeSpan timeout, uint minSize, bool datasets, Func<StreamState, IdRecord, T> convert,
        CancellationToken ct)
    {
        var key = StreamKeyOf(address);
        Validation.Id(id);
        CheckTimeout(timeout);
        var state = State(key);
        return WaitAsync(state, timeout, (_, final) =>
        {
            if (state.Records.TryGetValue(id, out var rec))
            {
                if (!datasets && rec.IsDataset)
                {
                    throw IsDataset(state, id);
                }

                if (!datasets || rec.Readable(minSize))
                {
                    return Step<T>.Result(convert(state, rec));
                }
            }

            if (state.Finished && id > state.LastId)
            {
                throw StreamFinished(state);
            }

            if (!final)
            {
                return Step<T>.Wait(null);
            }

            if (rec is not null)
            {
                throw PartialData(state, rec);
            }

            if (id < state.Highest || (state.Finished && id <= state.LastId))
            {
                throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"Id {id} of stream '{key.Stream}' is not stored.",
                    Meta(("id", id), ("last_id", state.Bound)));
            }

            throw EndOfStream(state, null);
        }, ct);
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> under the state's lock until it yields a result or throws; between tries
    /// waits for a change signal, the attempt's own wake time or the deadline, whichever comes first.
    /// </summary>
    private async Task<T> WaitAsync<T>(Waitable state, TimeSpan timeout, Func<DateTimeOffset, bool, Step<T>> attempt, CancellationToken ct)
    {
        if (Interlocked.Increment(ref waiters) > MaxWaiters)
        {
            Interlocked.Decrement(ref waiters);
            throw new BrokerException(BrokerErrorCode.ResourceExhausted, ErrorReasons.TooManyWaiters,
                $"More than {MaxWaiters} calls are waiting on the broker; retry later with a shorter timeout or fewer consumers.");
        }

        try
        {
            var deadline = time.GetUtcNow() + timeout;
            int generation;
            lock (state.Gate)
            {
                generation = state.Generation;
            }

            while (true)
            {
                ct.ThrowIfCancellationRequested();
                Task changed;
                DateTimeOffset wake;
                Step<T> step;
                List<SafeFileHandle>? dirty = null;
                ExceptionDispatchInfo? failure = null;
                lock (state.Gate)
                {
                    if (state.Generation != generation && state is StreamState deleted)
                    {
                        throw EndOfStream(deleted, null);
                    }

                    var now = time.GetUtcNow();
                    try
                    {
                        step = attempt(now, now >= deadline);
                    }
                    catch (BrokerException ex)
                    {
                        // A declared gap moves the pointer and then fails the call: the change is synced first.
                        failure = ExceptionDispatchInfo.Capture(ex);
                        step = default;
                    }
                    finally
                    {
                        dirty = (state as StreamState)?.TakeDirty();
                    }

                    // Only a call that will wait asks for the change signal (creating it costs an allocation).
                    changed = step.Done || failure is not null ? Task.CompletedTask : state.Changed;
                    wake = step.WakeTicks is { } ticks && ticks < deadline.UtcTicks ? new DateTimeOffset(ticks, TimeSpan.Zero) : deadline;
                }

                if (dirty is not null)
                {
                    await Sync(dirty).ConfigureAwait(false);
                }

                failure?.Throw();
                if (step.Done)
                {
                    return step.Value!;
                }

                var delay = wake - time.GetUtcNow();
                if (delay <= TimeSpan.Zero)
                {
                    continue;
                }

                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var timer = Task.Delay(delay, time, cts.Token);
                await Task.WhenAny(changed, timer).ConfigureAwait(false);
                await cts.CancelAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref waiters);
        }
    }

    private static MessageRecord ToMessage(StreamState state, ulong id, in Part p, bool includePayload, uint count, RedeliveryReason reason)
    {
        var loaded = Load(state, p);
        return new(id, loaded.Name, p.TimestampNs, p.Size, p.Substream, loaded.Meta, loaded.Headers, p.Kind,
            includePayload && p.Kind == PayloadKind.Inline ? loaded.Payload : ReadOnlyMemory<byte>.Empty, count, reason);
    }

    private static DatasetRecord ToDataset(StreamState state, IdRecord rec, bool includePayload, uint count, RedeliveryReason reason) =>
        new(rec.Id, rec.IsDataset ? rec.ExpectedSize : 1,
            [.. rec.Parts.Select(p => ToMessage(state, rec.Id, p, includePayload, count, reason))], count, reason);

    private static BrokerException IsDataset(StreamState s, ulong id) =>
        BrokerException.Invalid("address.stream", $"Id {id} of stream '{s.Key.Stream}' is a dataset; read it with the dataset calls.", ErrorReasons.IsDataset,
            Meta(("id", id)));

    private static BrokerException PartialData(StreamState state, IdRecord rec) =>
        new(BrokerErrorCode.FailedPrecondition, ErrorReasons.PartialData,
            $"Dataset {rec.Id} has {rec.PartCount} of {rec.ExpectedSize} parts; the missing ones never arrived in time (lower min_size to accept partial datasets).",
            Meta(("id", rec.Id), ("expected_size", rec.ExpectedSize)), partialDataset: ToDataset(state, rec, includePayload: false, 0, RedeliveryReason.None));

    private static BrokerException EndOfStream(StreamState s, ulong? waitingFor)
    {
        var meta = Meta(("last_id", s.Bound));
        meta["stream_exists"] = s.Exists ? "true" : "false";
        if (waitingFor is { } w)
        {
            meta["waiting_for_id"] = Str(w);
        }

        var message = !s.Exists
            ? $"Stream '{s.Key.Stream}' does not exist (yet); wait for a producer or check the stream name."
            : waitingFor is { } n
                ? $"Waiting for id {n} of stream '{s.Key.Stream}' (a gap younger than the gap grace); poll again."
                : $"No new message on stream '{s.Key.Stream}' (last id {s.Bound}); poll again.";
        return new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.EndOfStream, message, meta);
    }

    private static BrokerException StreamFinished(StreamState s)
    {
        var meta = Meta(("last_id", s.LastId));
        meta["next_stream"] = s.NextStream;
        return new BrokerException(BrokerErrorCode.OutOfRange, ErrorReasons.StreamFinished,
            $"Stream '{s.Key.Stream}' is finished at last_id {s.LastId}" + (s.NextStream.Length > 0 ? $"; continue with '{s.NextStream}'." : "; there is no next stream."),
            meta);
    }
}

/// <summary>The outcome of one try of a waiting read: a result, or the time it wants to be woken (null: on change or deadline).</summary>
internal readonly record struct Step<T>(bool Done, T? Value, long? WakeTicks)
{
    public static Step<T> Result(T value) => new(true, value, null);

    public static Step<T> Wait(long? wakeTicks) => new(false, default, wakeTicks);

    public Step<TOut> Map<TOut>(Func<T, TOut> convert) => Done ? Step<TOut>.Result(convert(Value!)) : Step<TOut>.Wait(WakeTicks);
}
