using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core;

/// <summary>
/// Producing (docs/broker.md §3): Send, SendBatch and FinishStream (§2.5) with their checks, duplicate detection and
/// storing; a late gap id becomes due for its groups as it is stored (§5.4).
/// </summary>
public sealed partial class MessageBroker
{
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
}
