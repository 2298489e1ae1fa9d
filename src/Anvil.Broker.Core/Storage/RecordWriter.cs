using System.Buffers.Binary;
using System.Text;

namespace Anvil.Broker.Core.Storage;

/// <summary>
/// Builds one framed record: <c>[u32 body length][u32 CRC32C of body][body]</c>, little-endian. A torn or
/// corrupted record fails its length or CRC check on recovery and is cut with everything after it (docs/broker.md §7).
/// One writer is reused under its owner's lock (<see cref="Reset"/>), so appends allocate nothing.
/// </summary>
internal sealed class RecordWriter
{
    public const int HeaderBytes = 8;

    private byte[] buffer = new byte[256];
    private int length = HeaderBytes;

    /// <summary>Starts a new record.</summary>
    public RecordWriter Reset()
    {
        length = HeaderBytes;
        return this;
    }

    public RecordWriter U8(byte value)
    {
        Reserve(1)[0] = value;
        length += 1;
        return this;
    }

    public RecordWriter U32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);
        length += 4;
        return this;
    }

    public RecordWriter U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);
        length += 8;
        return this;
    }

    public RecordWriter I64(long value) => U64((ulong)value);

    public RecordWriter Str(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        U32((uint)count);
        Encoding.UTF8.GetBytes(value, Reserve(count));
        length += count;
        return this;
    }

    public RecordWriter Bytes(ReadOnlySpan<byte> value)
    {
        U32((uint)value.Length);
        value.CopyTo(Reserve(value.Length));
        length += value.Length;
        return this;
    }

    /// <summary>Fills in the frame header and returns the whole record (valid until the next <see cref="Reset"/>).</summary>
    public ReadOnlySpan<byte> Finish()
    {
        var body = buffer.AsSpan(HeaderBytes, length - HeaderBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), Crc32C.Compute(body));
        return buffer.AsSpan(0, length);
    }

    private Span<byte> Reserve(int count)
    {
        if (length + count > buffer.Length)
        {
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + count));
        }

        return buffer.AsSpan(length, count);
    }
}

/// <summary>Reads the body of one verified record.</summary>
internal ref struct RecordReader(ReadOnlySpan<byte> body)
{
    private readonly ReadOnlySpan<byte> body = body;

    public int Position { get; private set; }

    public byte U8() => body[Position++];

    public uint U32()
    {
        var value = BinaryPrimitives.ReadUInt32LittleEndian(body[Position..]);
        Position += 4;
        return value;
    }

    public ulong U64()
    {
        var value = BinaryPrimitives.ReadUInt64LittleEndian(body[Position..]);
        Position += 8;
        return value;
    }

    public long I64() => (long)U64();

    public string Str()
    {
        var count = (int)U32();
        var value = Encoding.UTF8.GetString(body.Slice(Position, count));
        Position += count;
        return value;
    }

    /// <summary>Skips a length-prefixed byte block and returns (offset within body, length).</summary>
    public (int Offset, int Length) SkipBytes()
    {
        var count = (int)U32();
        var offset = Position;
        Position += count;
        return (offset, count);
    }
}

/// <summary>Reads framed records from a file until the end or the first torn/corrupt one.</summary>
internal static class RecordScanner
{
    /// <summary>
    /// Calls <paramref name="onRecord"/> with (record offset, body) for each intact record; returns the length of
    /// the intact prefix (where a torn tail starts).
    /// </summary>
    public static long Scan(string path, Action<long, byte[]> onRecord)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var header = new byte[RecordWriter.HeaderBytes];
        long offset = 0;
        while (true)
        {
            if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
            {
                return offset;
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
            if (length == 0 || length > stream.Length - stream.Position)
            {
                return offset;
            }

            var body = new byte[length];
            stream.ReadExactly(body);
            if (Crc32C.Compute(body) != crc)
            {
                return offset;
            }

            onRecord(offset, body);
            offset += RecordWriter.HeaderBytes + length;
        }
    }
}
