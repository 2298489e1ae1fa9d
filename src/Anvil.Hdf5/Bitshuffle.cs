using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Anvil.Hdf5;

/// <summary>
/// Decodes chunks stored through HDF5 filter 32008, bitshuffle (kiyo-masui/bitshuffle), the Eiger default, in plain
/// C#: no plugin and no native library. The filter's parameters (<c>cd_values</c>) are (filter version, library
/// version, element size, block size in elements (0 = default), compression: 0 none, 2 LZ4, 3 Zstandard). Layout of a
/// stored chunk, as the filter writes it:
/// <list type="bullet">
/// <item>LZ4 (2): an 8-byte big-endian count of uncompressed bytes, a 4-byte big-endian block size in bytes (0 = the
/// default), then per block a 4-byte big-endian compressed length and one LZ4 block of the block's bit-transposed
/// bytes.</item>
/// <item>none (0): the blocks' bit-transposed bytes one after the other (block size from <c>cd_values[3]</c>).</item>
/// </list>
/// Blocks hold <c>block size</c> elements each; the last full-8 remainder forms a shorter block (a multiple of 8
/// elements); the final <c>n % 8</c> elements are stored raw after the blocks. The default block size is 8192 bytes
/// worth of elements, rounded down to a multiple of 8, at least 128 (<c>bshuf_default_block_size</c>).
/// Every malformed input raises <see cref="InvalidDataException"/> saying what is wrong; callers add file and dataset.
/// </summary>
public static class Bitshuffle
{
    /// <summary>The registered HDF5 filter id of bitshuffle.</summary>
    public const int FilterId = 32008;

    /// <summary><c>cd_values[4]</c>: bit transpose only.</summary>
    public const uint CompressionNone = 0;

    /// <summary><c>cd_values[4]</c>: bit transpose, then LZ4 per block.</summary>
    public const uint CompressionLz4 = 2;

    /// <summary><c>cd_values[4]</c>: bit transpose, then Zstandard per block (not decoded here).</summary>
    public const uint CompressionZstd = 3;

    // Blocks up to this many bytes are decompressed into a stack buffer (the default block is 8192 bytes).
    private const int StackScratchBytes = 16384;

    /// <summary>The block size in elements bitshuffle picks when none is given: 8192 bytes, a multiple of 8, at least 128.</summary>
    public static int DefaultBlockSize(int elementSize) => Math.Max(128, 8192 / elementSize / 8 * 8);

    /// <summary>
    /// Why filter parameters <paramref name="parameters"/> (<c>cd_values</c>) cannot be decoded here for elements of
    /// <paramref name="elementSize"/> bytes, or null when they can.
    /// </summary>
    public static string? Unsupported(ReadOnlySpan<uint> parameters, int elementSize)
    {
        if (parameters.Length < 3)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the filter has {parameters.Length} parameters, bitshuffle needs at least 3 (versions, element size)");
        }

        if (parameters[2] != (uint)elementSize)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the filter's element size {parameters[2]} differs from the dataset's {elementSize} bytes");
        }

        if (elementSize is not (1 or 2 or 4 or 8))
        {
            return string.Create(CultureInfo.InvariantCulture, $"elements of {elementSize} bytes (Anvil decodes 1, 2, 4 and 8)");
        }

        var compression = parameters.Length > 4 ? parameters[4] : CompressionNone;
        return compression switch
        {
            CompressionNone or CompressionLz4 => parameters.Length > 3 && parameters[3] % 8 != 0
                ? string.Create(CultureInfo.InvariantCulture, $"a block size of {parameters[3]} elements (bitshuffle needs a multiple of 8)")
                : null,
            CompressionZstd => "its blocks are compressed with Zstandard (cd_values[4] = 3); Anvil decodes bitshuffle with LZ4 or without compression",
            _ => string.Create(CultureInfo.InvariantCulture, $"an unknown bitshuffle compression {compression} (cd_values[4])"),
        };
    }

    /// <summary>
    /// Decodes one stored chunk of filter 32008 with parameters <paramref name="parameters"/> into
    /// <paramref name="destination"/>, which must be exactly the chunk's uncompressed size.
    /// </summary>
    /// <exception cref="InvalidDataException">The chunk is malformed or does not fill <paramref name="destination"/>.</exception>
    /// <exception cref="NotSupportedException">The parameters name something not decoded here (<see cref="Unsupported"/>).</exception>
    public static void DecodeChunk(ReadOnlySpan<byte> stored, Span<byte> destination, ReadOnlySpan<uint> parameters, int elementSize)
    {
        if (Unsupported(parameters, elementSize) is { } reason)
        {
            throw new NotSupportedException(reason);
        }

        var compression = parameters.Length > 4 ? parameters[4] : CompressionNone;
        var blockSize = parameters.Length > 3 ? (int)Math.Min(parameters[3], int.MaxValue) : 0;
        if (compression == CompressionLz4)
        {
            DecodeLz4(stored, destination, elementSize);
        }
        else
        {
            DecodeUncompressed(stored, destination, elementSize, blockSize);
        }
    }

    /// <summary>Undoes bitshuffle without compression: blocks of <paramref name="blockSize"/> elements (0 = default).</summary>
    public static void DecodeUncompressed(ReadOnlySpan<byte> source, Span<byte> destination, int elementSize, int blockSize)
    {
        if (source.Length != destination.Length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"the bitshuffled chunk holds {source.Length} bytes, expected {destination.Length}"));
        }

        var elements = destination.Length / elementSize;
        var block = BlockElements(blockSize, elementSize);
        var blocked = elements - (elements % 8);
        for (var start = 0; start < blocked; start += block)
        {
            var count = Math.Min(block, blocked - start);
            var bytes = count * elementSize;
            UntransposeBits(source.Slice(start * elementSize, bytes), destination.Slice(start * elementSize, bytes), elementSize);
        }

        source[(blocked * elementSize)..].CopyTo(destination[(blocked * elementSize)..]);
    }

    /// <summary>Undoes bitshuffle + LZ4 (the framing in the class summary) into <paramref name="destination"/>.</summary>
    public static void DecodeLz4(ReadOnlySpan<byte> stored, Span<byte> destination, int elementSize)
    {
        if (stored.Length < 12)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"the chunk holds {stored.Length} bytes, less than bitshuffle-LZ4's 12-byte header"));
        }

        var total = BinaryPrimitives.ReadUInt64BigEndian(stored);
        if (total != (ulong)destination.Length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"the chunk's header says {total} uncompressed bytes, expected {destination.Length}"));
        }

        var blockBytes = BinaryPrimitives.ReadUInt32BigEndian(stored[8..]);
        if (blockBytes % (uint)elementSize != 0 || blockBytes / (uint)elementSize % 8 != 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"the chunk's header gives a block of {blockBytes} bytes, not a multiple of 8 elements of {elementSize} bytes"));
        }

        var elements = destination.Length / elementSize;
        var block = BlockElements((int)Math.Min(blockBytes / (uint)elementSize, int.MaxValue), elementSize);
        var blocked = elements - (elements % 8);
        var scratchBytes = Math.Min(block, blocked) * elementSize;
        byte[]? rented = null;
        Span<byte> scratch = scratchBytes <= StackScratchBytes ? stackalloc byte[StackScratchBytes] : (rented = ArrayPool<byte>.Shared.Rent(scratchBytes));
        try
        {
            var position = 12;
            var index = 0;
            for (var start = 0; start < blocked; start += block, index++)
            {
                var bytes = Math.Min(block, blocked - start) * elementSize;
                if (stored.Length - position < 4)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"the chunk ends at byte {stored.Length} before LZ4 block {index}'s length"));
                }

                var length = BinaryPrimitives.ReadUInt32BigEndian(stored[position..]);
                position += 4;
                if (length > (uint)(stored.Length - position))
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"LZ4 block {index} claims {length} bytes, only {stored.Length - position} remain in the chunk"));
                }

                var output = scratch[..bytes];
                int written;
                try
                {
                    written = Lz4Block.Decompress(stored.Slice(position, (int)length), output);
                }
                catch (InvalidDataException ex)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"LZ4 block {index} (at byte {position - 4} of the chunk) is corrupt: {ex.Message}"), ex);
                }

                if (written != bytes)
                {
                    throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"LZ4 block {index} (at byte {position - 4} of the chunk) decompressed to {written} bytes, expected {bytes}"));
                }

                UntransposeBits(output, destination.Slice(start * elementSize, bytes), elementSize);
                position += (int)length;
            }

            var leftover = destination[(blocked * elementSize)..];
            if (stored.Length - position != leftover.Length)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{stored.Length - position} bytes follow the LZ4 blocks, expected {leftover.Length} (the {elements % 8} trailing elements stored raw)"));
            }

            stored[position..].CopyTo(leftover);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// The inverse bit transpose of one block of <c>n</c> elements (n a multiple of 8): <paramref name="source"/> holds
    /// for each byte j of an element and each bit k (row 8j + k) a row of n bits, bit i (LSB first) being bit k of byte
    /// j of element i. Writes the n elements to <paramref name="destination"/>: first byte j of every element together
    /// (plane j), 8 elements per 8 × 8 bit transpose, then the planes interleaved (HDF5's unshuffle).
    /// </summary>
    public static void UntransposeBits(ReadOnlySpan<byte> source, Span<byte> destination, int elementSize)
    {
        var bytes = source.Length;
        if (destination.Length < bytes || bytes % (8 * elementSize) != 0)
        {
            throw new ArgumentException($"a block of {bytes} bytes is not a multiple of 8 elements of {elementSize} bytes, or does not fit {destination.Length}", nameof(source));
        }

        if (elementSize == 1)
        {
            UntransposePlanes(source, destination[..bytes], 1);
            return;
        }

        byte[]? rented = null;
        Span<byte> planes = bytes <= StackScratchBytes ? stackalloc byte[StackScratchBytes] : (rented = ArrayPool<byte>.Shared.Rent(bytes));
        try
        {
            UntransposePlanes(source, planes[..bytes], elementSize);
            Internal.ByteShuffle.Unshuffle(planes[..bytes], destination[..bytes], elementSize);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    // Bit rows → byte planes: plane j (n bytes) holds byte j of elements 0 … n − 1.
    private static void UntransposePlanes(ReadOnlySpan<byte> source, Span<byte> planes, int elementSize)
    {
        var n = source.Length / elementSize;
        var rowBytes = n / 8;
        ref var input = ref MemoryMarshal.GetReference(source);
        ref var output = ref MemoryMarshal.GetReference(planes);
        for (var j = 0; j < elementSize; j++)
        {
            // The eight bit rows of byte j, one after the other: row k starts at (8j + k) * rowBytes.
            ref var rows = ref Unsafe.Add(ref input, 8 * j * rowBytes);
            ref var plane = ref Unsafe.Add(ref output, j * n);
            var g = Sse2.IsSupported ? UntransposeSse2(ref rows, ref plane, rowBytes) : 0;
            for (; g < rowBytes; g++)
            {
                // Byte k of x: bit k (of byte j) of the eight elements 8g … 8g + 7, element m in bit m.
                var x = (ulong)Unsafe.Add(ref rows, g)
                    | ((ulong)Unsafe.Add(ref rows, rowBytes + g) << 8)
                    | ((ulong)Unsafe.Add(ref rows, (2 * rowBytes) + g) << 16)
                    | ((ulong)Unsafe.Add(ref rows, (3 * rowBytes) + g) << 24)
                    | ((ulong)Unsafe.Add(ref rows, (4 * rowBytes) + g) << 32)
                    | ((ulong)Unsafe.Add(ref rows, (5 * rowBytes) + g) << 40)
                    | ((ulong)Unsafe.Add(ref rows, (6 * rowBytes) + g) << 48)
                    | ((ulong)Unsafe.Add(ref rows, (7 * rowBytes) + g) << 56);

                // Now byte m of x is byte j of element 8g + m.
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref plane, 8 * g), Transpose8x8(x));
            }
        }
    }

    // 16 columns g at a time: byte-interleave the eight rows (three rounds of unpacks) into sixteen words x, two per
    // vector, and transpose both words' bits at once. Returns the columns done.
    private static int UntransposeSse2(ref byte rows, ref byte plane, int rowBytes)
    {
        var g = 0;
        for (; g + 16 <= rowBytes; g += 16)
        {
            var r0 = Vector128.LoadUnsafe(ref rows, (nuint)g);
            var r1 = Vector128.LoadUnsafe(ref rows, (nuint)(rowBytes + g));
            var r2 = Vector128.LoadUnsafe(ref rows, (nuint)((2 * rowBytes) + g));
            var r3 = Vector128.LoadUnsafe(ref rows, (nuint)((3 * rowBytes) + g));
            var r4 = Vector128.LoadUnsafe(ref rows, (nuint)((4 * rowBytes) + g));
            var r5 = Vector128.LoadUnsafe(ref rows, (nuint)((5 * rowBytes) + g));
            var r6 = Vector128.LoadUnsafe(ref rows, (nuint)((6 * rowBytes) + g));
            var r7 = Vector128.LoadUnsafe(ref rows, (nuint)((7 * rowBytes) + g));

            // Pairs (rows 0-1, 2-3, 4-5, 6-7) per column, then quads, then the eight bytes of each column's word.
            var a01 = Sse2.UnpackLow(r0, r1).AsUInt16();
            var b01 = Sse2.UnpackHigh(r0, r1).AsUInt16();
            var a23 = Sse2.UnpackLow(r2, r3).AsUInt16();
            var b23 = Sse2.UnpackHigh(r2, r3).AsUInt16();
            var a45 = Sse2.UnpackLow(r4, r5).AsUInt16();
            var b45 = Sse2.UnpackHigh(r4, r5).AsUInt16();
            var a67 = Sse2.UnpackLow(r6, r7).AsUInt16();
            var b67 = Sse2.UnpackHigh(r6, r7).AsUInt16();
            var q0 = Sse2.UnpackLow(a01, a23).AsUInt32();   // columns 0-3, rows 0-3
            var q1 = Sse2.UnpackHigh(a01, a23).AsUInt32();  // columns 4-7
            var q2 = Sse2.UnpackLow(b01, b23).AsUInt32();   // columns 8-11
            var q3 = Sse2.UnpackHigh(b01, b23).AsUInt32();  // columns 12-15
            var s0 = Sse2.UnpackLow(a45, a67).AsUInt32();   // the same columns, rows 4-7
            var s1 = Sse2.UnpackHigh(a45, a67).AsUInt32();
            var s2 = Sse2.UnpackLow(b45, b67).AsUInt32();
            var s3 = Sse2.UnpackHigh(b45, b67).AsUInt32();
            ref var target = ref Unsafe.Add(ref plane, 8 * g);
            Store(Sse2.UnpackLow(q0, s0), ref target, 0);
            Store(Sse2.UnpackHigh(q0, s0), ref target, 16);
            Store(Sse2.UnpackLow(q1, s1), ref target, 32);
            Store(Sse2.UnpackHigh(q1, s1), ref target, 48);
            Store(Sse2.UnpackLow(q2, s2), ref target, 64);
            Store(Sse2.UnpackHigh(q2, s2), ref target, 80);
            Store(Sse2.UnpackLow(q3, s3), ref target, 96);
            Store(Sse2.UnpackHigh(q3, s3), ref target, 112);
        }

        return g;

        static void Store(Vector128<uint> words, ref byte target, int offset) => Transpose8x8(words.AsUInt64()).AsByte().StoreUnsafe(ref target, (nuint)offset);
    }

    /// <summary><see cref="Transpose8x8(ulong)"/> on each 64-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Transpose8x8(Vector128<ulong> x)
    {
        var t = (x ^ Vector128.ShiftRightLogical(x, 7)) & Vector128.Create(0x00AA00AA00AA00AAUL);
        x ^= t ^ Vector128.ShiftLeft(t, 7);
        t = (x ^ Vector128.ShiftRightLogical(x, 14)) & Vector128.Create(0x0000CCCC0000CCCCUL);
        x ^= t ^ Vector128.ShiftLeft(t, 14);
        t = (x ^ Vector128.ShiftRightLogical(x, 28)) & Vector128.Create(0x00000000F0F0F0F0UL);
        return x ^ t ^ Vector128.ShiftLeft(t, 28);
    }

    /// <summary>Transposes the 8 × 8 bit matrix whose row r is byte r and column c bit c (an involution).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Transpose8x8(ulong x)
    {
        var t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAUL;
        x ^= t ^ (t << 7);
        t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCUL;
        x ^= t ^ (t << 14);
        t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0UL;
        return x ^ t ^ (t << 28);
    }

    private static int BlockElements(int blockSize, int elementSize)
    {
        if (blockSize % 8 != 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"a bitshuffle block of {blockSize} elements is not a multiple of 8"));
        }

        return blockSize == 0 ? DefaultBlockSize(elementSize) : blockSize;
    }
}
