using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json.Nodes;
using Anvil.Broker.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core;

/// <summary>
/// The broker of broker-semantics.md: streams of messages per (beamtime, data source), consumer groups
/// sharing read pointers, acknowledgements and redelivery. Each stream has one lock; reads that may wait
/// do so on that stream's change signal, so appends wake them at once (§4.2).
/// </summary>
public sealed partial class MessageBroker : IAsyncDisposable
{
    private const long TicksPerMs = TimeSpan.TicksPerMillisecond;
    private const int MaxWaiters = 10_000;

    private readonly ConcurrentDictionary<StreamKey, StreamState> streams = new();
    private readonly ConcurrentDictionary<SourceKey, SourceState> sources = new();
    private readonly TimeProvider time;
    private readonly BrokerMetrics metrics;
    private readonly BrokerStorage? storage;
    private readonly FsyncScheduler? fsync;
    private readonly Task? recovery;
    private volatile bool ready;
    private int waiters;

    /// <summary>
    /// Creates a broker. With <see cref="BrokerOptions.DataDir"/> set it is durable and replays the directory, here
    /// or, with <paramref name="recoverInBackground"/>, on a pool thread while every call gets UNAVAILABLE RECOVERING
    /// (§7; <see cref="Recovery"/> completes, or fails, with it). Without a data directory it keeps everything in memory.
    /// </summary>
    public MessageBroker(BrokerOptions options, TimeProvider? time = null, BrokerMetrics? metrics = null, bool recoverInBackground = false)
    {
        Options = options;
        this.time = time ?? TimeProvider.System;
        this.metrics = metrics ?? new BrokerMetrics();
        this.metrics.ObserveGroups(GroupGauges);
        if (options.DataDir is { Length: > 0 } dir)
        {
            storage = new BrokerStorage(dir);
            fsync = new FsyncScheduler(options.Fsync, options.FsyncInterval, this.metrics);
            if (recoverInBackground)
            {
                recovery = Task.Run(() =>
                {
                    Recover();
                    ready = true;
                });
                return;
            }

            Recover();
        }

        ready = true;
    }

    public BrokerOptions Options { get; }

    /// <summary>False while a durable broker recovers its data directory (gRPC health NOT_SERVING).</summary>
    public bool IsReady => ready;

    /// <summary>Completes when the data directory has been replayed; faults with the reason if it could not be.</summary>
    public Task Recovery => recovery ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (recovery is not null)
        {
            // Files are closed only once the replay that opens them has ended.
            await recovery.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        ready = false;
        if (fsync is not null)
        {
            await fsync.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var state in streams.Values)
        {
            lock (state.Gate)
            {
                state.CloseFiles();
            }
        }
    }

    // ------------------------------------------------------------------ producer (§3)

    /// <summary>Stores one message (§3). A failed send stores nothing.</summary>
    public async Task<SendOutcome> SendAsync(StreamAddress address, OutgoingMessage message, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var prepared = Prepare(key, message);
        var state = State(key);
        var outcome = await Locked(state, () => Store(state, message, prepared, time.GetUtcNow()));

        if (outcome.Duplicate)
        {
            metrics.Duplicate(key);
        }
        else
        {
            metrics.Stored(key, message.PayloadKind == PayloadKind.Inline ? message.Payload.Length : 0);
        }

        return outcome;
    }

    /// <summary>
    /// Stores a batch (§3 SendBatch): each message is validated and stored on its own, in order, and fails alone. Runs
    /// of messages to one stream are appended under one lock with one write, and the batch waits for one sync.
    /// </summary>
    public async Task<IReadOnlyList<BatchSendResult>> SendManyAsync(IReadOnlyList<(StreamAddress Address, OutgoingMessage Message)> batch,
        CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var results = new BatchSendResult[batch.Count];
        var dirty = new List<SafeFileHandle>();
        var i = 0;
        while (i < batch.Count)
        {
            StreamKey key;
            try
            {
                key = StreamKeyOf(batch[i].Address);
            }
            catch (BrokerException ex) when (ex.Code == BrokerErrorCode.InvalidArgument)
            {
                results[i++] = new BatchSendResult(null, ex);
                continue;
            }

            var run = i + 1;
            while (run < batch.Count && batch[run].Address == batch[i].Address)
            {
                run++;
            }

            var state = State(key);
            var prepared = new Prepared?[run - i];
            for (var j = i; j < run; j++)
            {
                try
                {
                    prepared[j - i] = Prepare(key, batch[j].Message);
                }
                catch (BrokerException ex) when (ex.Code == BrokerErrorCode.InvalidArgument)
                {
                    results[j] = new BatchSendResult(null, ex);
                }
            }

            lock (state.Gate)
            {
                var log = LogOf(state);
                var now = time.GetUtcNow();
                log.BeginBatch();
                try
                {
                    for (var j = i; j < run; j++)
                    {
                        if (prepared[j - i] is { } p)
                        {
                            try
                            {
                                results[j] = new BatchSendResult(Store(state, batch[j].Message, p, now), null);
                            }
                            catch (BrokerException ex) when (ex.Code == BrokerErrorCode.InvalidArgument)
                            {
                                results[j] = new BatchSendResult(null, ex);
                            }
                        }
                    }
                }
                finally
                {
                    log.EndBatch();
                    if (state.TakeDirty() is { } files)
                    {
                        dirty.AddRange(files);
                    }
                }
            }

            // One measurement per run, not per message.
            long stored = 0, duplicates = 0, bytes = 0;
            for (var j = i; j < run; j++)
            {
                if (results[j].Outcome is { } outcome)
                {
                    if (outcome.Duplicate)
                    {
                        duplicates++;
                    }
                    else
                    {
                        stored++;
                        bytes += batch[j].Message.PayloadKind == PayloadKind.Inline ? batch[j].Message.Payload.Length : 0;
                    }
                }
            }

            metrics.Stored(key, stored, bytes);
            metrics.Duplicate(key, duplicates);

            i = run;
        }

        await Sync(dirty.Count > 0 ? dirty : null).ConfigureAwait(false);
        return results;
    }

    /// <summary>§2.5: marks the stream finished after <paramref name="lastId"/>; returns whether it was an identical repeat.</summary>
    public Task<bool> FinishStreamAsync(StreamAddress address, ulong lastId, string nextStream, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        if (lastId > Validation.MaxId)
        {
            throw BrokerException.Invalid("last_id", $"last_id {lastId} exceeds the maximum 2^63-1.");
        }

        if (nextStream.Length > 0)
        {
            Validation.StreamName(nextStream, "next_stream");
            if (nextStream == key.Stream)
            {
                throw BrokerException.Invalid("next_stream", "next_stream must name another stream (or be empty when there is none).");
            }
        }

        var state = State(key);
        return Locked(state, () =>
        {
            if (state.Finished)
            {
                if (state.LastId == lastId && state.NextStream == nextStream)
                {
                    return true;
                }

                throw BrokerException.Invalid("last_id",
                    $"Stream '{key.Stream}' is already finished with last_id {state.LastId} and next_stream '{state.NextStream}'; a different finish is refused.",
                    ErrorReasons.ConflictingDuplicate);
            }

            if (lastId < state.Highest)
            {
                throw BrokerException.Invalid("last_id", $"last_id {lastId} is below the highest stored id {state.Highest}; finish at or above it.");
            }

            var now = time.GetUtcNow();
            var timestamp = state.NextTimestamp(ToNs(now));
            AppendFinish(state, lastId, timestamp, nextStream);

            state.Finish(lastId, nextStream, timestamp, now.UtcTicks);
            state.Signal();
            return false;
        });
    }

    /// <summary>§4.8: removes the stream with its groups, gaps and metadata; false when it did not exist and that is allowed.</summary>
    public Task<bool> DeleteStreamAsync(StreamAddress address, bool errorOnNotExist = true, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var state = State(key);
        lock (state.Gate)
        {
            if (!state.Exists)
            {
                if (errorOnNotExist)
                {
                    throw BrokerException.Invalid("address.stream", $"Stream '{key.Stream}' does not exist; set error_on_not_exist = false to ignore that.", ErrorReasons.StreamNotFound);
                }

                return Task.FromResult(false);
            }

            state.Clear();
            storage?.DeleteStreamDirectory(storage.StreamDirectory(key));
            state.Signal();
        }

        return Task.FromResult(true);
    }

    // ------------------------------------------------------------------ metadata (§2.7)

    public Task PutBeamtimeMetaAsync(StreamAddress address, string meta, MetaMode mode, bool upsert = true, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = SourceKeyOf(address);
        var canonical = Validation.CanonicalObject(meta, "meta", 1024 * 1024);
        var state = sources.GetOrAdd(key, _ => new SourceState());
        lock (state.Gate)
        {
            var merged = MergeMeta(state.Meta, canonical, mode, upsert);
            storage?.WriteSourceMeta(key, merged);
            state.Meta = merged;
            state.Signal();
        }

        return Task.CompletedTask;
    }

    public Task PutStreamMetaAsync(StreamAddress address, string meta, MetaMode mode, bool upsert = true, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var canonical = Validation.CanonicalObject(meta, "meta", 1024 * 1024);
        var state = State(key);
        lock (state.Gate)
        {
            var merged = MergeMeta(state.Meta, canonical, mode, upsert);
            if (storage is not null)
            {
                BrokerStorage.WriteStreamMeta(storage.EnsureStreamDirectory(key), merged);
            }

            state.Meta = merged;
            state.Signal();
        }

        return Task.CompletedTask;
    }

    public Task<string> GetBeamtimeMetaAsync(StreamAddress address, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var key = SourceKeyOf(address);
        var state = sources.GetOrAdd(key, _ => new SourceState());
        return WaitAsync(state, timeout, (_, final) => state.Meta is { } meta
            ? Step<string>.Result(meta)
            : final ? throw NoMeta("beamtime") : Step<string>.Wait(null), cancellationToken);
    }

    public Task<string> GetStreamMetaAsync(StreamAddress address, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var key = StreamKeyOf(address);
        var state = State(key);
        return WaitAsync(state, timeout, (_, final) => state.Meta is { } meta
            ? Step<string>.Result(meta)
            : final ? throw NoMeta("stream") : Step<string>.Wait(null), cancellationToken);
    }

    // ------------------------------------------------------------------ consumer reads (§4.3–4.5)

    /// <summary>§4.3: the next id for the group (redeliveries first), waiting up to <paramref name="timeout"/>.</summary>
    public async Task<MessageRecord> GetNextAsync(StreamAddress address, string group, TimeSpan timeout, bool includePayload = false,
        ResendPolicy? resend = null, CancellationToken cancellationToken = default)
    {
        var (_, state) = GroupRead(address, group, timeout, resend);
        return await WaitAsync(state, timeout,
            (now, final) => Next(state, group, datasets: false, 0, resend, now, final)
                .Map(x => ToMessage(state, x.Rec.Id, x.Rec.First, includePayload, x.Count, x.Reason)), cancellationToken);
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
            g.BeginBatch();
            try
            {
                var first = Next(state, group, datasets: false, 0, resend, now, final);
                if (!first.Done)
                {
                    return Step<NextBatch>.Wait(first.WakeTicks);
                }

                var messages = new List<MessageRecord>(Math.Min(max, 64))
                {
                    ToMessage(state, first.Value.Rec.Id, first.Value.Rec.First, includePayload, first.Value.Count, first.Value.Reason),
                };
                while (messages.Count < max)
                {
                    Step<(IdRecord Rec, uint Count, RedeliveryReason Reason)> next;
                    try
                    {
                        next = Next(state, group, datasets: false, 0, resend, now, final: false);
                    }
                    catch (BrokerException)
                    {
                        // Whatever is not simply ready (a dataset, too many in flight, finished) is for the next call.
                        break;
                    }

                    if (!next.Done)
                    {
                        break;
                    }

                    try
                    {
                        messages.Add(ToMessage(state, next.Value.Rec.Id, next.Value.Rec.First, includePayload, next.Value.Count, next.Value.Reason));
                    }
                    catch (BrokerException ex)
                    {
                        return Step<NextBatch>.Result(new NextBatch(messages, ex));
                    }
                }

                return Step<NextBatch>.Result(new NextBatch(messages, null));
            }
            finally
            {
                g.EndBatch();
            }
        }, cancellationToken);
    }

    /// <summary>§4.5: the next readable dataset for the group.</summary>
    public async Task<DatasetRecord> GetNextDatasetAsync(StreamAddress address, string group, uint minSize, TimeSpan timeout,
        bool includePayload = false, ResendPolicy? resend = null, CancellationToken cancellationToken = default)
    {
        var (_, state) = GroupRead(address, group, timeout, resend);
        return await WaitAsync(state, timeout,
            (now, final) => Next(state, group, datasets: true, minSize, resend, now, final)
                .Map(x => ToDataset(state, x.Rec, includePayload, x.Count, x.Reason)), cancellationToken);
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

    // ------------------------------------------------------------------ acknowledgement (§4.6, §4.7)

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

    // ------------------------------------------------------------------ stream information (§4.8, §5)

    public Task<ulong> GetCurrentSizeAsync(StreamAddress address, CancellationToken cancellationToken = default) =>
        Inspect(address, s => (ulong)s.Records.Count, cancellationToken);

    public Task<ulong> GetCurrentDatasetCountAsync(StreamAddress address, bool includeIncomplete, CancellationToken cancellationToken = default) =>
        Inspect(address, s => (ulong)s.Records.CountDatasets(includeIncomplete), cancellationToken);

    public Task<IReadOnlyList<StreamInfo>> ListStreamsAsync(StreamAddress address, string from, StreamFilter filter, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var source = SourceKeyOf(address);
        var infos = new List<StreamInfo>();
        foreach (var state in streams.Values.Where(s => s.Key.Source == source))
        {
            lock (state.Gate)
            {
                if (state.Exists)
                {
                    infos.Add(Info(state));
                }
            }
        }

        var ordered = infos.OrderBy(i => i.TimestampCreatedNs).ThenBy(i => i.Name, StringComparer.Ordinal).ToList();
        if (from.Length > 0)
        {
            var start = ordered.FindIndex(i => i.Name == from);
            ordered = start < 0 ? [] : ordered[start..];
        }

        IReadOnlyList<StreamInfo> result = [.. ordered.Where(i => filter switch
        {
            StreamFilter.Finished => i.Finished,
            StreamFilter.Unfinished => !i.Finished,
            _ => true,
        })];
        return Task.FromResult(result);
    }

    public Task<StreamInfo> GetStreamInfoAsync(StreamAddress address, CancellationToken cancellationToken = default) =>
        Inspect(address, s => s.Exists
            ? Info(s)
            : throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"Stream '{s.Key.Stream}' does not exist.", Meta(("last_id", 0UL))),
            cancellationToken);

    /// <summary>§5.3: a group's declared gaps, or without a group the ids now missing below the bound (at most 100 000).</summary>
    public Task<IReadOnlyList<GapInfo>> ListGapsAsync(StreamAddress address, string group, CancellationToken cancellationToken = default)
    {
        if (group.Length > 0)
        {
            Validation.Group(group);
        }

        return Inspect<IReadOnlyList<GapInfo>>(address, s =>
        {
            if (group.Length > 0)
            {
                return s.Groups.TryGetValue(group, out var g)
                    ? [.. g.Gaps.Values.Select(x => new GapInfo(x.Id, x.Kind, x.DeclaredAtNs, x.Resolved))]
                    : [];
            }

            return [.. Range(1, s.Bound).Where(id => !s.Records.ContainsKey(id)).Take(100_000)
                .Select(id => new GapInfo(id, ErrorReasons.NoData, 0, false))];
        }, cancellationToken);
    }

    /// <summary>Group positions and backlog per stream; an empty stream name lists every stream of the data source.</summary>
    public Task<IReadOnlyList<GroupInfo>> ListGroupsAsync(StreamAddress address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var source = SourceKeyOf(address);
        var states = address.Stream.Length == 0
            ? streams.Values.Where(s => s.Key.Source == source).ToList()
            : [State(StreamKeyOf(address))];
        var now = time.GetUtcNow().UtcTicks;
        var result = new List<GroupInfo>();
        foreach (var state in states.OrderBy(s => s.Key.Stream, StringComparer.Ordinal))
        {
            lock (state.Gate)
            {
                foreach (var (name, g) in state.Groups.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    var above = (ulong)state.Records.CountAbove(g.Pointer);
                    result.Add(new GroupInfo(state.Key.Stream, name, g.Pointer, g.Acks.Max, g.Acks.Count, (ulong)g.InFlightCount,
                        above + (ulong)g.DueCount(now), (ulong)g.Gaps.Values.Count(x => !x.Resolved)));
                }
            }
        }

        return Task.FromResult<IReadOnlyList<GroupInfo>>(result);
    }

    // ------------------------------------------------------------------ internals

    private List<GroupGauge> GroupGauges()
    {
        var now = time.GetUtcNow().UtcTicks;
        var gauges = new List<GroupGauge>();
        if (!ready)
        {
            // Streams are still being replayed (without their locks): nothing to report yet.
            return gauges;
        }

        foreach (var state in streams.Values)
        {
            lock (state.Gate)
            {
                foreach (var (name, g) in state.Groups)
                {
                    var backlog = state.Records.CountAbove(g.Pointer) + g.DueCount(now);
                    var unacked = (long)(g.Pointer - Math.Min(g.Pointer, g.Acks.CountUpTo(g.Pointer)));
                    gauges.Add(new GroupGauge(state.Key, name, backlog, unacked, g.InFlightCount, g.Gaps.Values.Count(x => !x.Resolved)));
                }
            }
        }

        return gauges;
    }

    private readonly record struct Prepared(byte[] Meta, uint Crc, bool IsDataset);

    private Prepared Prepare(StreamKey key, OutgoingMessage m)
    {
        if (m.AutoId)
        {
            if (m.Id != 0)
            {
                throw BrokerException.Invalid("id", "With auto_id the id must be 0: the broker assigns it.");
            }
        }
        else
        {
            Validation.Id(m.Id);
        }

        var isDataset = m.DatasetSize > 0 || m.DatasetSubstream > 0;
        if (isDataset)
        {
            if (m.DatasetSize is < 1 or > 1024 || m.DatasetSubstream < 1 || m.DatasetSubstream > m.DatasetSize)
            {
                throw BrokerException.Invalid("dataset", $"Dataset part {m.DatasetSubstream} of {m.DatasetSize} is invalid: need 1 <= substream <= size <= 1024.");
            }

            if (m.AutoId)
            {
                throw BrokerException.Invalid("auto_id", "Dataset parts need producer-assigned ids: every module sends the same id.");
            }
        }

        if (m.PayloadKind == PayloadKind.File)
        {
            // Before the generic name check, so an escaping path is reported as PATH_OUTSIDE_ROOT.
            Validation.FilePath(m.Name, key.Beamtime, m.SourceType, Options);
        }

        Validation.MessageName(m.Name);
        var meta = Validation.CanonicalObjectUtf8(m.Meta, "meta", Validation.MaxMetaBytes);
        Validation.Headers(m.Headers);
        if (m.PayloadKind == PayloadKind.Inline)
        {
            if (m.Payload.Length > Options.MaxInlineBytes)
            {
                throw BrokerException.Invalid("payload", $"Inline payload of {m.Payload.Length} bytes exceeds max_inline_bytes {Options.MaxInlineBytes}; send a FILE reference instead.",
                    ErrorReasons.PayloadTooLarge);
            }
        }
        else
        {
            if (!m.Payload.IsEmpty)
            {
                throw BrokerException.Invalid("payload", "A FILE reference carries no inline payload; put the bytes in the file named by name.");
            }
        }

        return new Prepared(meta, Crc32C.Compute(m.Payload.Span), isDataset);
    }

    private SendOutcome Store(StreamState state, OutgoingMessage m, Prepared p, DateTimeOffset now)
    {
        var key = state.Key;
        var mode = m.AutoId ? IdMode.Auto : IdMode.Producer;
        if (state.Mode != IdMode.None && state.Mode != mode)
        {
            throw BrokerException.Invalid("auto_id",
                state.Mode == IdMode.Auto
                    ? $"Stream '{key.Stream}' uses broker-assigned ids; send with auto_id = true and id = 0."
                    : $"Stream '{key.Stream}' uses producer-assigned ids; set the id and auto_id = false.",
                ErrorReasons.IdModeMismatch);
        }

        if (state.Finished && (m.AutoId || m.Id > state.LastId))
        {
            throw BrokerException.Invalid("id", $"Stream '{key.Stream}' is finished at last_id {state.LastId}; only ids up to it are accepted.",
                ErrorReasons.StreamAlreadyFinished, Meta(("last_id", state.LastId)));
        }

        var id = m.AutoId ? state.Highest + 1 : m.Id;
        var substream = p.IsDataset ? m.DatasetSubstream : 0;
        if (state.Records.TryGetValue(id, out var existing))
        {
            if (existing.IsDataset != p.IsDataset || existing.ExpectedSize != m.DatasetSize)
            {
                throw Conflict(key, id, "dataset");
            }

            if (existing.TryGetPart(substream, out var stored))
            {
                var differing = Differences(state, stored, m, p);
                if (differing.Count == 0)
                {
                    // The first write may still be on its way to disk: this reply waits for the same sync.
                    state.Log?.TouchTail();
                }

                return differing.Count == 0
                    ? new SendOutcome(id, true, stored.TimestampNs)
                    : throw Conflict(key, id, string.Join(", ", differing));
            }
        }

        var timestamp = state.NextTimestamp(ToNs(now));
        var size = m.PayloadKind == PayloadKind.Inline ? (ulong)m.Payload.Length : m.Size;
        var part = AppendPart(state, m, id, substream, timestamp, size, p);
        if (!p.IsDataset)
        {
            state.Records.AddPlain(id, part);
            existing = new IdRecord(id, part);
        }
        else
        {
            if (existing is null)
            {
                existing = new IdRecord(id, m.DatasetSize, timestamp);
                state.Records.AddDataset(existing);
            }

            existing.AddPart(part);
        }

        state.Mode = mode;
        state.NoteStored(id, timestamp, now.UtcTicks);
        if (state.Groups.Count > 0)
        {
            ScheduleLate(state, existing, now.UtcTicks);
        }

        state.Signal();
        return new SendOutcome(id, false, timestamp);
    }

    // §5.4: an id declared a gap becomes due for every group with an open record once readable.
    private static void ScheduleLate(StreamState state, IdRecord rec, long nowTicks)
    {
        foreach (var g in state.Groups.Values)
        {
            if (g.Gaps.TryGetValue(rec.Id, out var gap) && !gap.Resolved && rec.Readable(gap.MinSize)
                && !g.Acks.Contains(rec.Id) && !g.Tracked.ContainsKey(rec.Id))
            {
                g.Late(rec.Id, nowTicks);
            }
        }
    }

    private static List<string> Differences(StreamState state, in Part stored, OutgoingMessage m, Prepared p)
    {
        var size = m.PayloadKind == PayloadKind.Inline ? (ulong)m.Payload.Length : m.Size;
        var differing = new List<string>();
        var loaded = Load(state, stored);
        if (loaded.Name != m.Name)
        {
            differing.Add("name");
        }

        if (stored.Size != size)
        {
            differing.Add("size");
        }

        if (!System.Text.Encoding.UTF8.GetBytes(loaded.Meta).AsSpan().SequenceEqual(p.Meta))
        {
            differing.Add("meta");
        }

        if (stored.Kind != m.PayloadKind)
        {
            differing.Add("payload_kind");
        }

        if (stored.Crc != p.Crc)
        {
            differing.Add("payload");
        }

        return differing;
    }

    private static BrokerException Conflict(StreamKey key, ulong id, string fields) =>
        BrokerException.Invalid(fields.Split(", ")[0],
            $"Id {id} of stream '{key.Stream}' is already stored with different {fields}; the first write wins. Resend identical content or use a new id.",
            ErrorReasons.ConflictingDuplicate, new Dictionary<string, string> { ["id"] = Str(id), ["differing"] = fields });

    private (StreamKey Key, StreamState State) GroupRead(StreamAddress address, string group, TimeSpan timeout, ResendPolicy? resend)
    {
        var key = StreamKeyOf(address);
        Validation.Group(group);
        CheckTimeout(timeout);
        Validation.Policy(resend);
        return (key, State(key));
    }

    private Step<(IdRecord Rec, uint Count, RedeliveryReason Reason)> Next(StreamState s, string groupName, bool datasets, uint minSize,
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

    private void CheckTimeout(TimeSpan timeout)
    {
        if (timeout > Options.MaxWait)
        {
            throw BrokerException.Invalid("timeout_ms",
                $"timeout_ms {timeout.TotalMilliseconds:0} exceeds the broker's max wait of {Options.MaxWait.TotalMilliseconds:0} ms; poll again instead.");
        }

        if (timeout < TimeSpan.Zero)
        {
            throw BrokerException.Invalid("timeout_ms", "timeout_ms must not be negative.");
        }
    }

    private StreamState State(StreamKey key)
    {
        var state = streams.GetOrAdd(key, NewState);
        return state.Unavailable is { } why
            ? throw new BrokerException(BrokerErrorCode.Unavailable, ErrorReasons.StorageUnavailable, $"{why} The stream cannot be served until an operator repairs or deletes it.")
            : state;
    }

    private Task<T> Inspect<T>(StreamAddress address, Func<StreamState, T> read, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var state = State(key);
        lock (state.Gate)
        {
            return Task.FromResult(read(state));
        }
    }

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

    private static StreamInfo Info(StreamState s) =>
        new(s.Key.Stream, s.Bound, s.CreatedNs, s.LastNs, s.Finished, s.NextStream);

    private static MessageRecord ToMessage(StreamState state, ulong id, in Part p, bool includePayload, uint count, RedeliveryReason reason)
    {
        var loaded = Load(state, p);
        return new(id, loaded.Name, p.TimestampNs, p.Size, p.Substream, loaded.Meta, loaded.Headers, p.Kind,
            includePayload && p.Kind == PayloadKind.Inline ? loaded.Payload : ReadOnlyMemory<byte>.Empty, count, reason);
    }

    private static DatasetRecord ToDataset(StreamState state, IdRecord rec, bool includePayload, uint count, RedeliveryReason reason) =>
        new(rec.Id, rec.IsDataset ? rec.ExpectedSize : 1,
            [.. rec.Parts.Select(p => ToMessage(state, rec.Id, p, includePayload, count, reason))], count, reason);

    private static string MergeMeta(string? stored, string given, MetaMode mode, bool upsert)
    {
        switch (mode)
        {
            case MetaMode.Insert:
                return stored is null ? given : throw BrokerException.Invalid("mode", "Metadata already exists; use mode replace or update.", ErrorReasons.MetaExists);
            case MetaMode.Replace when stored is null && !upsert:
            case MetaMode.Update when stored is null && !upsert:
                throw BrokerException.Invalid("upsert", "No metadata is stored yet; set upsert = true or use mode insert.", ErrorReasons.MetaNotFound);
            case MetaMode.Update when stored is not null:
                var merged = JsonNode.Parse(stored)!.AsObject();
                foreach (var (k, v) in JsonNode.Parse(given)!.AsObject())
                {
                    merged[k] = v?.DeepClone();
                }

                return Validation.CanonicalObject(merged.ToJsonString(), "meta", 1024 * 1024);
            default:
                return given;
        }
    }

    private static BrokerException NoMeta(string what) =>
        new(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"No {what} metadata is stored; a producer sets it with Put{(what == "stream" ? "Stream" : "Beamtime")}Meta.");

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

    private static Dictionary<string, string> Meta(params (string Key, ulong Value)[] items) =>
        items.ToDictionary(i => i.Key, i => Str(i.Value));

    private static string Str(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    private static IEnumerable<ulong> Range(ulong from, ulong to)
    {
        for (var id = from; id <= to && id != 0; id++)
        {
            yield return id;
        }
    }

    private static long ToNs(DateTimeOffset t) => (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    private static long FromNs(long ns) => (ns / 100) + DateTimeOffset.UnixEpoch.UtcTicks;
}

/// <summary>The outcome of one try of a waiting read: a result, or the time it wants to be woken (null: on change or deadline).</summary>
internal readonly record struct Step<T>(bool Done, T? Value, long? WakeTicks)
{
    public static Step<T> Result(T value) => new(true, value, null);

    public static Step<T> Wait(long? wakeTicks) => new(false, default, wakeTicks);

    public Step<TOut> Map<TOut>(Func<T, TOut> convert) => Done ? Step<TOut>.Result(convert(Value!)) : Step<TOut>.Wait(WakeTicks);
}
