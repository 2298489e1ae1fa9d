using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core.Storage;

/// <summary>
/// Where a stream's framed records live: segment files on disk (durable broker) or byte arrays in memory (a broker
/// without a data directory). The in-memory index keeps only (segment, offset, length) per part, so names, metadata,
/// headers and payloads are read back from here on demand (docs/broker.md §7 bounded memory).
/// </summary>
internal abstract class RecordLog : IDisposable
{
    /// <summary>Segments written since the owner last synced them.</summary>
    public HashSet<SafeFileHandle> Dirty { get; } = [];

    /// <summary>
    /// Appends one framed record; returns where it starts. The first <paramref name="indexBytes"/> bytes of its body
    /// go into the segment's index checkpoint, written when the segment is sealed (§7).
    /// </summary>
    public abstract (int Segment, long Offset) Append(ReadOnlySpan<byte> record, int indexBytes);

    /// <summary>Reads <paramref name="length"/> bytes at a location returned by <see cref="Append"/>.</summary>
    public abstract byte[] Read(int segment, long offset, int length);

    /// <summary>Marks the newest segment dirty (a duplicate reply waits for the first write's sync).</summary>
    public abstract void TouchTail();

    /// <summary>Collects appends in memory until <see cref="EndBatch"/> writes them with one system call.</summary>
    public virtual void BeginBatch()
    {
    }

    /// <summary>Writes the appends collected since <see cref="BeginBatch"/>; call before the owner's lock is released.</summary>
    public virtual void EndBatch()
    {
    }

    public abstract void Dispose();
}

/// <summary>
/// §6: a write that failed because the disk (or the broker's quota) is full becomes RESOURCE_EXHAUSTED STORAGE_FULL: the
/// record appends here, and every other file the broker writes (a new stream's directory and key, metadata, an index
/// checkpoint, a journal's first record) through <see cref="IsDiskFull"/> where the service maps errors.
/// </summary>
public static class StorageWrites
{
    // .NET reports these errnos as an IOException whose HResult is the errno: ENOSPC (28) and EDQUOT (122) on Linux.
    private const int NoSpace = 28;
    private const int QuotaExceeded = 122;

    /// <summary>True for an I/O error that says the disk or the quota is full.</summary>
    public static bool IsDiskFull(Exception ex) => ex is IOException { HResult: NoSpace or QuotaExceeded };

    internal static void Write(SafeFileHandle handle, ReadOnlySpan<byte> bytes, long offset)
    {
        try
        {
            RandomAccess.Write(handle, bytes, offset);
        }
        catch (IOException ex) when (IsDiskFull(ex))
        {
            throw Full(ex);
        }
    }

    /// <summary>The STORAGE_FULL outcome of a disk-full error: nothing of the call was acknowledged; the caller retries.</summary>
    public static BrokerException Full(IOException ex) =>
        new(BrokerErrorCode.ResourceExhausted, ErrorReasons.StorageFull,
            $"The broker's disk is full ({ex.Message}); nothing was acknowledged. Free space or move Broker:DataDir, then retry.");
}

/// <summary>A broker without a data directory: each record is its own array.</summary>
internal sealed class MemoryLog : RecordLog
{
    private readonly List<byte[]> records = [];

    public override (int Segment, long Offset) Append(ReadOnlySpan<byte> record, int indexBytes)
    {
        records.Add(record.ToArray());
        return (0, records.Count - 1);
    }

    public override byte[] Read(int segment, long offset, int length) => records[(int)offset];

    public override void TouchTail()
    {
    }

    public override void Dispose() => records.Clear();
}

/// <summary>
/// One stream's append-only segment files (§7), rolled at <see cref="BrokerOptions.SegmentBytes"/>. Appends go
/// straight to the OS (no user-space buffer), so a reply after an append survives a kill -9 of the broker.
/// </summary>
internal sealed class FileLog : RecordLog
{
    private readonly List<(SafeFileHandle Handle, long Length)> segments = [];
    private readonly long segmentBytes;
    private readonly string directory;
    private byte[] pending = [];
    private int pendingLength;
    private long pendingStart;

    // Read-ahead for sequential reads (consumers walking the log in order): one system call per ReadAheadBytes instead
    // of one per record. Written bytes never change, so a buffered copy stays valid until the segment is closed.
    private const int ReadAheadBytes = 64 * 1024;
    private byte[]? readAhead;
    private int readAheadSegment = -1;
    private long readAheadOffset;
    private int readAheadLength;
    private int lastReadSegment = -1;
    private long lastReadEnd = -1;
    private bool batching;
    private byte[] index = new byte[4096];
    private int indexLength;

    private FileLog(string directory, long segmentBytes)
    {
        this.directory = directory;
        this.segmentBytes = segmentBytes;
    }

    public static string SegmentPath(string directory, int number) => Path.Combine(directory, $"seg-{number:D6}.log");

    /// <summary>The index checkpoint of a sealed segment: <c>[u64 segment length]</c> then per record <c>[u64 offset][u32 length][u32 n][n body bytes]</c>.</summary>
    public static string IndexPath(string directory, int number) => Path.Combine(directory, $"seg-{number:D6}.idx");

    /// <summary>Opens the (already verified) segments of <paramref name="directory"/>, creating the first if none.</summary>
    public static FileLog Open(string directory, long segmentBytes)
    {
        var log = new FileLog(directory, segmentBytes);
        for (var number = 0; File.Exists(SegmentPath(directory, number)); number++)
        {
            var handle = File.OpenHandle(SegmentPath(directory, number), FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            log.segments.Add((handle, RandomAccess.GetLength(handle)));
        }

        if (log.segments.Count == 0)
        {
            log.AddSegment();
        }

        return log;
    }

    public override (int Segment, long Offset) Append(ReadOnlySpan<byte> record, int indexBytes)
    {
        if (segments[^1].Length > 0 && segments[^1].Length + record.Length > segmentBytes)
        {
            FlushPending();
            AddSegment();
        }

        var index = segments.Count - 1;
        var (handle, length) = segments[index];
        if (batching)
        {
            if (pendingLength == 0)
            {
                pendingStart = length;
            }

            if (pendingLength + record.Length > pending.Length)
            {
                Array.Resize(ref pending, Math.Max(pending.Length * 2, pendingLength + record.Length));
            }

            record.CopyTo(pending.AsSpan(pendingLength));
            pendingLength += record.Length;
        }
        else
        {
            // Records a failed batch left in memory go first, so the file never gets a hole.
            FlushPending();
            StorageWrites.Write(handle, record, length);
        }

        // After the write (or once it is pending): a record that failed to reach the OS gets no checkpoint entry.
        AddIndexEntry(length, record.Length, record.Slice(RecordWriter.HeaderBytes, indexBytes));
        segments[index] = (handle, length + record.Length);
        Dirty.Add(handle);
        return (index, length);
    }

    /// <summary>Adds a record of the newest segment to its pending index checkpoint (appends, and recovery of the tail).</summary>
    public void AddIndexEntry(long offset, int length, ReadOnlySpan<byte> bodyPrefix)
    {
        var entry = 16 + bodyPrefix.Length;
        if (indexLength + entry > index.Length)
        {
            Array.Resize(ref index, Math.Max(index.Length * 2, indexLength + entry));
        }

        var slot = index.AsSpan(indexLength, entry);
        BinaryPrimitives.WriteInt64LittleEndian(slot, offset);
        BinaryPrimitives.WriteInt32LittleEndian(slot[8..], length);
        BinaryPrimitives.WriteInt32LittleEndian(slot[12..], bodyPrefix.Length);
        bodyPrefix.CopyTo(slot[16..]);
        indexLength += entry;
    }

    /// <summary>
    /// Reads a sealed segment's index checkpoint: (offset, record length, body prefix) per record, or null when it is
    /// missing, torn or does not match the segment's length (the segment is then scanned instead).
    /// </summary>
    public static List<(long Offset, int Length, byte[] Prefix)>? ReadIndex(string directory, int segment)
    {
        var path = IndexPath(directory, segment);
        if (!File.Exists(path))
        {
            return null;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 16)
        {
            return null;
        }

        var segmentLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12));
        if (count != bytes.Length - 16 || Crc32C.Compute(bytes.AsSpan(16)) != crc || segmentLength != new FileInfo(SegmentPath(directory, segment)).Length)
        {
            return null;
        }

        var entries = new List<(long, int, byte[])>();
        for (var at = 16; at < bytes.Length;)
        {
            var offset = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 8));
            var n = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 12));
            entries.Add((offset, length, bytes.AsSpan(at + 16, n).ToArray()));
            at += 16 + n;
        }

        return entries;
    }

    public override void BeginBatch() => batching = true;

    public override void EndBatch()
    {
        try
        {
            FlushPending();
        }
        finally
        {
            // Even when the write failed: later appends must go to the OS (or fail) again, and reads flush first.
            batching = false;
        }
    }

    public override byte[] Read(int segment, long offset, int length)
    {
        if (!batching)
        {
            // Outside a batch, pending records are only those whose write failed (disk full): no reader sees a
            // record before it has reached the OS, so they are written first (or the read fails the same way).
            FlushPending();
        }

        if (pendingLength > 0 && segment == segments.Count - 1 && offset >= pendingStart)
        {
            return pending.AsSpan((int)(offset - pendingStart), length).ToArray();
        }

        var sequential = segment == lastReadSegment && offset == lastReadEnd;
        lastReadSegment = segment;
        lastReadEnd = offset + length;
        if (segment == readAheadSegment && offset >= readAheadOffset && offset + length <= readAheadOffset + readAheadLength)
        {
            return readAhead.AsSpan((int)(offset - readAheadOffset), length).ToArray();
        }

        if (sequential && length <= ReadAheadBytes / 4)
        {
            readAhead ??= new byte[ReadAheadBytes];

            // Never past what has reached the file: after a failed (partial) write the bytes beyond are not records.
            var written = segment == segments.Count - 1 && pendingLength > 0 ? pendingStart : segments[segment].Length;
            var got = RandomAccess.Read(segments[segment].Handle, readAhead.AsSpan(0, (int)Math.Clamp(written - offset, 0, ReadAheadBytes)), offset);
            readAheadSegment = segment;
            readAheadOffset = offset;
            readAheadLength = got;
            return got >= length ? readAhead.AsSpan(0, length).ToArray() : throw new IOException($"Short read in segment {segment} at {offset}.");
        }

        var bytes = new byte[length];
        var read = RandomAccess.Read(segments[segment].Handle, bytes, offset);
        return read == length ? bytes : throw new IOException($"Short read in segment {segment} at {offset}.");
    }

    public override void TouchTail() => Dirty.Add(segments[^1].Handle);

    public override void Dispose()
    {
        foreach (var (handle, _) in segments)
        {
            handle.Dispose();
        }

        segments.Clear();
    }

    private void WriteIndex(int segment, long segmentLength)
    {
        var path = IndexPath(directory, segment);
        using (var handle = File.OpenHandle(path + ".tmp", FileMode.Create, FileAccess.Write))
        {
            var header = new byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(header, segmentLength);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), Crc32C.Compute(index.AsSpan(0, indexLength)));
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), indexLength);
            RandomAccess.Write(handle, header, 0);
            RandomAccess.Write(handle, index.AsSpan(0, indexLength), header.Length);
            RandomAccess.FlushToDisk(handle);
        }

        File.Move(path + ".tmp", path, overwrite: true);
        indexLength = 0;
    }

    private void FlushPending()
    {
        if (pendingLength > 0)
        {
            // On failure the records stay pending (the in-memory index already points at them) and go out with the
            // next write to this stream.
            StorageWrites.Write(segments[^1].Handle, pending.AsSpan(0, pendingLength), pendingStart);
            pendingLength = 0;
        }
    }

    private void AddSegment()
    {
        if (segments.Count > 0)
        {
            // The sealed segment must be on disk before records land in the next one; its index checkpoint lets
            // recovery skip scanning it (§7: recovery time grows with the unchecked tail only).
            RandomAccess.FlushToDisk(segments[^1].Handle);
            WriteIndex(segments.Count - 1, segments[^1].Length);
        }

        var handle = File.OpenHandle(SegmentPath(directory, segments.Count), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        segments.Add((handle, 0));
        BrokerStorage.SyncDirectory(directory);
    }
}

/// <summary>
/// Append-only journal of one group's state changes on one stream (§7). Between <see cref="Batching"/> on and
/// <see cref="Flush"/>, appends collect in memory and reach the OS with one write (an AckMany or a pull of many
/// deliveries); the owner flushes under its lock, before the reply.
/// </summary>
internal sealed class GroupJournal(SafeFileHandle handle, long length) : IDisposable
{
    private long length = length;
    private byte[] pending = [];
    private int pendingLength;

    public SafeFileHandle Handle { get; } = handle;

    /// <summary>The journal's length including appends not yet flushed.</summary>
    public long Length => length + pendingLength;

    public bool Batching { get; set; }

    public void Append(ReadOnlySpan<byte> record)
    {
        if (Batching)
        {
            Keep(record);
            return;
        }

        try
        {
            Flush();
            StorageWrites.Write(Handle, record, length);
        }
        catch (BrokerException)
        {
            // The disk is full. The change is already in the group's memory, so its record must not be dropped: it waits
            // here and goes out, in order, before the next record written (or that write fails the same way). The
            // journal on disk never skips a change, and bytes a partial write left beyond its end are overwritten.
            Keep(record);
            throw;
        }

        length += record.Length;
    }

    /// <summary>Writes the appends collected while batching.</summary>
    public void Flush()
    {
        if (pendingLength > 0)
        {
            StorageWrites.Write(Handle, pending.AsSpan(0, pendingLength), length);
            length += pendingLength;
            pendingLength = 0;
        }
    }

    public void Dispose() => Handle.Dispose();

    private void Keep(ReadOnlySpan<byte> record)
    {
        if (pendingLength + record.Length > pending.Length)
        {
            Array.Resize(ref pending, Math.Max(Math.Max(pending.Length * 2, 4096), pendingLength + record.Length));
        }

        record.CopyTo(pending.AsSpan(pendingLength));
        pendingLength += record.Length;
    }
}
