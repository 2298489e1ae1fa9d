using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
            Unshuffle(stored, destination, elementSize, blockSize);
        }
    }

    /// <summary>Undoes bitshuffle without compression: blocks of <paramref name="blockSize"/> elements (0 = default).</summary>
    public static void Unshuffle(ReadOnlySpan<byte> source, Span<byte> destination, int elementSize, int blockSize)
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
    /// j of element i. Writes the n elements to <paramref name="destination"/>.
    /// </summary>
    public static void UntransposeBits(ReadOnlySpan<byte> source, Span<byte> destination, int elementSize)
    {
        var bytes = source.Length;
        if (destination.Length < bytes || bytes % (8 * elementSize) != 0)
        {
            throw new ArgumentException($"a block of {bytes} bytes is not a multiple of 8 elements of {elementSize} bytes, or does not fit {destination.Length}", nameof(source));
        }

        var rowBytes = bytes / elementSize / 8;
        ref var input = ref MemoryMarshal.GetReference(source);
        ref var output = ref MemoryMarshal.GetReference(destination);
        for (var j = 0; j < elementSize; j++)
        {
            // The eight bit rows of byte j, one after the other: row k starts at (8j + k) * rowBytes.
            ref var rows = ref Unsafe.Add(ref input, 8 * j * rowBytes);
            for (var g = 0; g < rowBytes; g++)
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
                x = Transpose8x8(x);

                // Now byte m of x is byte j of element 8g + m.
                ref var element = ref Unsafe.Add(ref output, (8 * g * elementSize) + j);
                for (var m = 0; m < 8; m++)
                {
                    Unsafe.Add(ref element, m * elementSize) = (byte)(x >> (8 * m));
                }
            }
        }
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
