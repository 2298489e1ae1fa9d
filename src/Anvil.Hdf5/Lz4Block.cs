namespace Anvil.Hdf5;

/// <summary>
/// Decompresses one LZ4 block (the LZ4 block format, no frame header): sequences of a token (high nibble literal
/// count, low nibble match length − 4; 15 means more in following bytes, each 255 adding on), the literals, a 2-byte
/// little-endian match offset and the match copied from the output already written. The last sequence has literals only.
/// Every read and write is bounds-checked: a malformed block raises <see cref="InvalidDataException"/> saying what is
/// wrong, and each sequence consumes input, so a corrupt block can neither overrun nor loop.
/// </summary>
public static class Lz4Block
{
    private const int MinMatch = 4;

    /// <summary>Decompresses <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="InvalidDataException">The block is malformed or decompresses to more than <paramref name="destination"/> holds.</exception>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var ip = 0;
        var op = 0;
        while (true)
        {
            if (ip >= source.Length)
            {
                throw Corrupt($"the block ends at byte {source.Length} where a sequence should start");
            }

            var token = source[ip++];
            var literals = token >> 4;
            if (literals == 15)
            {
                literals = ReadLength(source, ref ip, literals, destination.Length - op, "literal run");
            }

            if (literals > source.Length - ip)
            {
                throw Corrupt($"a run of {literals} literals at byte {ip} runs past the block's end ({source.Length} bytes)");
            }

            if (literals > destination.Length - op)
            {
                throw Corrupt($"a run of {literals} literals at byte {ip} overruns the {destination.Length}-byte output");
            }

            source.Slice(ip, literals).CopyTo(destination[op..]);
            ip += literals;
            op += literals;
            if (ip == source.Length)
            {
                return op;
            }

            if (source.Length - ip < 2)
            {
                throw Corrupt($"the block ends at byte {source.Length} inside a match offset");
            }

            var offset = source[ip] | (source[ip + 1] << 8);
            ip += 2;
            if (offset == 0 || offset > op)
            {
                throw Corrupt($"a match offset of {offset} at byte {ip - 2} points before the start of the output (at {op})");
            }

            var match = token & 15;
            if (match == 15)
            {
                match = ReadLength(source, ref ip, match, destination.Length - op, "match");
            }

            match += MinMatch;
            if (match > destination.Length - op)
            {
                throw Corrupt($"a match of {match} bytes at byte {ip} overruns the {destination.Length}-byte output");
            }

            CopyMatch(destination, op, offset, match);
            op += match;
        }
    }

    // 15 in the token's nibble: add bytes until one is not 255. Stops as soon as the length exceeds what could fit.
    private static int ReadLength(ReadOnlySpan<byte> source, ref int ip, int length, int room, string what)
    {
        byte next;
        do
        {
            if (ip >= source.Length)
            {
                throw Corrupt($"the block ends at byte {source.Length} inside a {what}'s length");
            }

            next = source[ip++];
            length += next;
            if (length > room + MinMatch)
            {
                throw Corrupt($"a {what} of more than {length} bytes at byte {ip} overruns the output ({room} bytes left)");
            }
        }
        while (next == 255);
        return length;
    }

    // The match repeats the last `offset` bytes. When it overlaps what it writes, copy in doubling steps, each from the
    // match's start (a whole number of periods is written before every step, so the pattern stays in phase).
    private static void CopyMatch(Span<byte> output, int op, int offset, int length)
    {
        var from = op - offset;
        if (offset >= length)
        {
            output.Slice(from, length).CopyTo(output[op..]);
            return;
        }

        if (offset == 1)
        {
            output.Slice(op, length).Fill(output[from]);
            return;
        }

        var copied = 0;
        while (copied < length)
        {
            var step = Math.Min(length - copied, offset + copied);
            output.Slice(from, step).CopyTo(output[(op + copied)..]);
            copied += step;
        }
    }

    private static InvalidDataException Corrupt(FormattableString what) => new(FormattableString.Invariant(what));
}
