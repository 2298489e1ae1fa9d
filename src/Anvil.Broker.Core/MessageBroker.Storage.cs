using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Anvil.Broker.Core.Storage;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core;

/// <summary>Durability (docs/broker.md §7): the stream logs, group journals, fsync policy and recovery.</summary>
public sealed partial class MessageBroker
{
    private const byte RecordPart = 1;
    private const byte RecordFinish = 2;

    // kind, id, substream, dataset size, timestamp, payload kind, id mode, size, payload CRC: what the index needs.
    private const int PartIndexBytes = 1 + 8 + 4 + 4 + 8 + 1 + 1 + 8 + 4;

    private StreamKey StreamKeyOf(StreamAddress address)
    {
        RequireReady();
        return Validation.Stream(address, Options);
    }

    private SourceKey SourceKeyOf(StreamAddress address)
    {
        RequireReady();
        return Validation.Source(address, Options);
    }

    private void RequireReady()
    {
        if (!ready)
        {
            throw new BrokerException(BrokerErrorCode.Unavailable, ErrorReasons.Recovering, "The broker is recovering its data directory; retry shortly.");
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> under the stream's lock, then waits (outside it) until the files it wrote are
    /// synced as the fsync policy requires: the reply leaves only after that (§7, group commit).
    /// </summary>
    private async Task<T> Locked<T>(StreamState state, Func<T> action)
    {
        T result;
        List<SafeFileHandle>? dirty;
        lock (state.Gate)
        {
            try
            {
                result = action();
            }
            finally
            {
                dirty = state.TakeDirty();
            }
        }

        await Sync(dirty).ConfigureAwait(false);
        return result;
    }

    private Task Sync(List<SafeFileHandle>? dirty) =>
        dirty is null || fsync is null ? Task.CompletedTask : fsync.SyncAsync(dirty);

    /// <summary>The stream's log, created on first write (a durable broker also creates the directory).</summary>
    private RecordLog LogOf(StreamState state)
    {
        if (state.Log is null)
        {
            state.Log = storage is null
                ? new MemoryLog()
                : FileLog.Open(storage.EnsureStreamDirectory(state.Key), Options.SegmentBytes);
        }

        return state.Log;
    }

    private Part AppendPart(StreamState state, OutgoingMessage m, ulong id, uint substream, long timestamp, ulong size, Prepared p)
    {
        var w = state.Writer.Reset().U8(RecordPart).U64(id).U32(substream).U32(p.IsDataset ? m.DatasetSize : 0).I64(timestamp)
            .U8((byte)m.PayloadKind).U8(m.AutoId ? (byte)1 : (byte)0).U64(size).U32(p.Crc).Str(m.Name).Bytes(p.Meta).U32((uint)m.Headers.Count);
        foreach (var (k, v) in m.Headers)
        {
            w.Str(k).Str(v);
        }

        var record = w.Bytes(m.PayloadKind == PayloadKind.Inline ? m.Payload.Span : []).Finish();
        var (segment, offset) = LogOf(state).Append(record, PartIndexBytes);
        return new Part(timestamp, size, substream, m.PayloadKind, p.Crc, segment, offset, record.Length);
    }

    private void AppendFinish(StreamState state, ulong lastId, long timestamp, string nextStream)
    {
        var record = state.Writer.Reset().U8(RecordFinish).U64(lastId).I64(timestamp).Str(nextStream).Finish();
        LogOf(state).Append(record, record.Length - RecordWriter.HeaderBytes);
    }

    /// <summary>A part's name, metadata, headers and payload, read back from the log (call under the stream's lock).</summary>
    private static LoadedPart Load(StreamState state, in Part part)
    {
        var bytes = state.Log!.Read(part.Segment, part.Offset, part.Length);
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)) != Crc32C.Compute(bytes.AsSpan(RecordWriter.HeaderBytes)))
        {
            // Sealed segments are trusted through their index checkpoint at recovery; every read still checks its record.
            throw new BrokerException(BrokerErrorCode.Unavailable, ErrorReasons.StorageUnavailable,
                $"The stored record at segment {part.Segment}, offset {part.Offset} of stream '{state.Key.Stream}' is corrupt; an operator must repair or delete the stream.");
        }

        var r = new RecordReader(bytes.AsSpan(RecordWriter.HeaderBytes));
        r.U8();
        r.U64();
        r.U32();
        r.U32();
        r.I64();
        r.U8();
        r.U8();
        r.U64();
        r.U32();
        var name = r.Str();
        var meta = r.Str();
        var count = (int)r.U32();
        var headers = new Dictionary<string, string>(count);
        for (var i = 0; i < count; i++)
        {
            var k = r.Str();
            headers[k] = r.Str();
        }

        var (offset, length) = r.SkipBytes();
        return new LoadedPart(name, meta, headers, bytes.AsMemory(RecordWriter.HeaderBytes + offset, length));
    }

    /// <summary>Replays the data directory: stream logs (torn tails cut), metadata and group journals.</summary>
    private void Recover()
    {
        var started = Stopwatch.GetTimestamp();
        var storage = this.storage!;
        storage.EmptyTrash();
        foreach (var (key, meta) in storage.SourceMetas())
        {
            sources.GetOrAdd(key, _ => new SourceState()).Meta = meta;
        }

        var nowTicks = time.GetUtcNow().UtcTicks;
        foreach (var dir in storage.StreamDirectories())
        {
            var key = BrokerStorage.ReadKey(dir);
            var state = NewState(key);
            streams[key] = state;
            RecoverLog(state, dir, nowTicks);
            state.Meta = BrokerStorage.ReadStreamMeta(dir);
            RecoverGroups(state, dir, nowTicks);
        }

        metrics.Recovery(Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private void RecoverLog(StreamState state, string dir, long nowTicks)
    {
        var segments = 0;
        while (File.Exists(FileLog.SegmentPath(dir, segments)))
        {
            segments++;
        }

        var tail = new List<(long Offset, int Length, byte[] Prefix)>();
        for (var number = 0; number < segments; number++)
        {
            var path = FileLog.SegmentPath(dir, number);
            var segment = number;
            var sealedSegment = number < segments - 1;
            if (sealedSegment && FileLog.ReadIndex(dir, number) is { } checkpoint)
            {
                foreach (var (offset, length, prefix) in checkpoint)
                {
                    ReplayRecord(state, segment, offset, prefix, length, nowTicks);
                }

                continue;
            }

            var intact = RecordScanner.Scan(path, (offset, body) =>
            {
                ReplayRecord(state, segment, offset, body, body.Length + RecordWriter.HeaderBytes, nowTicks);
                if (!sealedSegment)
                {
                    tail.Add((offset, body.Length + RecordWriter.HeaderBytes, body[..(body[0] == RecordPart ? PartIndexBytes : body.Length)]));
                }
            });
            if (intact < new FileInfo(path).Length)
            {
                if (sealedSegment)
                {
                    // A bad record in a sealed segment: later records cannot be trusted in order (§7).
                    state.Unavailable = $"Segment {number} of stream '{state.Key.Stream}' is corrupt at offset {intact}.";
                    return;
                }

                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                RandomAccess.SetLength(handle, intact);
                RandomAccess.FlushToDisk(handle);
            }
        }

        if (segments > 0)
        {
            var log = FileLog.Open(dir, Options.SegmentBytes);
            foreach (var (offset, length, prefix) in tail)
            {
                log.AddIndexEntry(offset, length, prefix);
            }

            state.Log = log;
        }
    }

    private static void ReplayRecord(StreamState state, int segment, long offset, byte[] body, int recordLength, long nowTicks)
    {
        var r = new RecordReader(body);
        switch (r.U8())
        {
            case RecordPart:
                var id = r.U64();
                var substream = r.U32();
                var datasetSize = r.U32();
                var timestamp = r.I64();
                var kind = (PayloadKind)r.U8();
                var auto = r.U8() == 1;
                var size = r.U64();
                var crc = r.U32();
                var part = new Part(timestamp, size, substream, kind, crc, segment, offset, recordLength);
                if (datasetSize == 0)
                {
                    state.Records.AddPlain(id, part);
                }
                else
                {
                    if (!state.Records.TryGetValue(id, out var rec))
                    {
                        rec = new IdRecord(id, datasetSize, timestamp);
                        state.Records.AddDataset(rec);
                    }

                    rec.AddPart(part);
                }

                state.Mode = auto ? IdMode.Auto : IdMode.Producer;
                // §5: a gap's age counts from when the broker first knew of a higher id, which is when that record was
                // stored, not when the broker restarted (never later than now, should the clock have gone back).
                state.NoteStored(id, timestamp, Math.Min(FromNs(timestamp), nowTicks));
                break;
            case RecordFinish:
                var lastId = r.U64();
                var finishedAt = r.I64();
                state.Finish(lastId, r.Str(), finishedAt, Math.Min(FromNs(finishedAt), nowTicks));
                break;
            default:
                throw new InvalidDataException($"Unknown record kind in the log of stream '{state.Key.Stream}'.");
        }
    }

    private static void RecoverGroups(StreamState state, string dir, long nowTicks)
    {
        var groups = Path.Combine(dir, "groups");
        if (!Directory.Exists(groups))
        {
            return;
        }

        foreach (var tmp in Directory.EnumerateFiles(groups, "*.tmp"))
        {
            File.Delete(tmp);
        }

        foreach (var path in Directory.EnumerateFiles(groups, "*.journal"))
        {
            string? name = null;
            var replay = new List<byte[]>();
            var intact = RecordScanner.Scan(path, (_, body) =>
            {
                if (name is null)
                {
                    name = body[0] == GroupState.OpName ? Encoding.UTF8.GetString(body.AsSpan(5)) : "";
                }
                else
                {
                    replay.Add(body);
                }
            });
            if (string.IsNullOrEmpty(name))
            {
                File.Delete(path);
                continue;
            }

            if (intact < new FileInfo(path).Length)
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                RandomAccess.SetLength(handle, intact);
                RandomAccess.FlushToDisk(handle);
            }

            var group = new GroupState(state.Writer, new GroupFiles(path, name, state.Writer) { RecoveredLength = intact });
            foreach (var body in replay)
            {
                group.Replay(body);
            }

            group.EndCallsOfPreviousRun(nowTicks);

            state.Groups[name] = group;
        }
    }

    private StreamState NewState(StreamKey key)
    {
        if (this.storage is null)
        {
            return new StreamState(key);
        }

        var storage = this.storage;
        var state = new StreamState(key);
        state.GroupFiles = name => new GroupFiles(BrokerStorage.GroupJournalPath(storage.StreamDirectory(key), name), name, state.Writer)
        {
            CompactBytes = Options.JournalCompactBytes,
            EnsureDirectory = () => storage.EnsureStreamDirectory(key),
        };
        return state;
    }

    private readonly record struct LoadedPart(string Name, string Meta, Dictionary<string, string> Headers, ReadOnlyMemory<byte> Payload);
}
