using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Anvil.Integration.Formats;

/// <summary>The one binary section of a CBF image: shape, element type, where the compressed bytes are, and the mini-header.</summary>
internal sealed record CbfImage(int Rows, int Cols, PixelType Type, int DataStart, int DataSize, IReadOnlyDictionary<string, string> Header,
    IReadOnlyList<string> MiniHeader);

/// <summary>
/// Reads Crystallographic Binary Files as Pilatus detectors and fabio write them: one binary section compressed with
/// <c>x-CBF_BYTE_OFFSET</c> (8-bit deltas with 16-, 32- and 64-bit escapes), its MIME header checked (size, element
/// count and type, <c>Content-MD5</c> when present), and the Pilatus mini-header (<c>_array_data.header_contents</c>).
/// Any other compression is refused with a message naming it.
/// </summary>
internal static class CbfReader
{
    private static readonly byte[] Starter = [0x0C, 0x1A, 0x04, 0xD5];
    private static readonly byte[] Section = "--CIF-BINARY-FORMAT-SECTION--"u8.ToArray();

    public static CbfImage Parse(byte[] file)
    {
        var section = file.AsSpan().IndexOf(Section);
        if (section < 0)
        {
            throw new FormatException("not a CBF image (no --CIF-BINARY-FORMAT-SECTION--).");
        }

        var starter = file.AsSpan(section).IndexOf(Starter);
        if (starter < 0)
        {
            throw new FormatException("CBF binary section without its start bytes 0C 1A 04 D5.");
        }

        starter += section;
        var mime = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? lastKey = null;
        foreach (var line in Encoding.Latin1.GetString(file, section, starter - section).Split('\n').Select(l => l.TrimEnd('\r')))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (line.StartsWith(' ') && lastKey is not null)
            {
                mime[lastKey] += " " + line.Trim();
            }
            else if (colon > 0)
            {
                lastKey = line[..colon].Trim();
                mime[lastKey] = line[(colon + 1)..].Trim();
            }
        }

        var contentType = mime.GetValueOrDefault("Content-Type", string.Empty);
        var conversion = contentType.Split(';').Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith("conversions", StringComparison.OrdinalIgnoreCase));
        var compression = conversion is null ? "none" : conversion[(conversion.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim().Trim('"');
        if (!compression.Equals("x-CBF_BYTE_OFFSET", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"CBF compression '{compression}' is not supported: only x-CBF_BYTE_OFFSET (what Pilatus and Eiger detectors and fabio write) is read.");
        }

        int Int(string key) => mime.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && i >= 0
            ? i
            : throw new FormatException($"CBF binary header lacks a valid '{key}'.");
        var cols = Int("X-Binary-Size-Fastest-Dimension");
        var rows = Int("X-Binary-Size-Second-Dimension");
        var size = Int("X-Binary-Size");
        var elements = Int("X-Binary-Number-of-Elements");
        if ((long)rows * cols != elements)
        {
            throw new FormatException($"CBF header says {elements} elements but {rows}×{cols} pixels.");
        }

        var dataStart = starter + Starter.Length;
        if (file.Length - dataStart < size)
        {
            throw new FormatException($"CBF truncated: X-Binary-Size is {size} bytes, {file.Length - dataStart} follow the start bytes.");
        }

        if (mime.TryGetValue("Content-MD5", out var md5))
        {
#pragma warning disable CA5351 // MD5 is what the CBF format uses as a checksum of the data, not for security.
            var actual = Convert.ToBase64String(MD5.HashData(file.AsSpan(dataStart, size)));
#pragma warning restore CA5351
            if (!actual.Equals(md5.Trim(), StringComparison.Ordinal))
            {
                throw new FormatException($"CBF data damaged: its Content-MD5 is {md5.Trim()}, the {size} bytes hash to {actual}.");
            }
        }

        var type = mime.GetValueOrDefault("X-Binary-Element-Type", "signed 32-bit integer").Trim('"') switch
        {
            "signed 8-bit integer" => PixelType.Int8,
            "unsigned 8-bit integer" => PixelType.UInt8,
            "signed 16-bit integer" => PixelType.Int16,
            "unsigned 16-bit integer" => PixelType.UInt16,
            "signed 32-bit integer" => PixelType.Int32,
            "unsigned 32-bit integer" => PixelType.UInt32,
            "signed 64-bit integer" => PixelType.Int64,
            "unsigned 64-bit integer" => PixelType.UInt64,
            var other => throw new FormatException($"CBF element type '{other}' is not supported with byte-offset compression."),
        };
        var mini = MiniHeader(Encoding.Latin1.GetString(file, 0, section));
        return new CbfImage(rows, cols, type, dataStart, size, mime, mini);
    }

    /// <summary>Decodes the byte-offset stream into Rows × Cols values.</summary>
    public static void Decode<T>(byte[] file, CbfImage image, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var data = file.AsSpan(image.DataStart, image.DataSize);
        var n = image.Rows * image.Cols;
        long value = 0;
        var at = 0;
        for (var k = 0; k < n; k++)
        {
            if (at >= data.Length)
            {
                throw new FormatException($"CBF byte-offset data ends after {k} of {n} pixels.");
            }

            var delta8 = (sbyte)data[at++];
            if (delta8 != sbyte.MinValue)
            {
                value += delta8;
            }
            else
            {
                var delta16 = BinaryPrimitives.ReadInt16LittleEndian(Need(data, at, 2));
                at += 2;
                if (delta16 != short.MinValue)
                {
                    value += delta16;
                }
                else
                {
                    var delta32 = BinaryPrimitives.ReadInt32LittleEndian(Need(data, at, 4));
                    at += 4;
                    if (delta32 != int.MinValue)
                    {
                        value += delta32;
                    }
                    else
                    {
                        value += BinaryPrimitives.ReadInt64LittleEndian(Need(data, at, 8));
                        at += 8;
                    }
                }
            }

            // The sum wraps at the element's width, as the writer's deltas do (cbflib, fabio).
            destination[k] = image.Type switch
            {
                PixelType.Int8 => T.CreateTruncating((sbyte)value),
                PixelType.UInt8 => T.CreateTruncating((byte)value),
                PixelType.Int16 => T.CreateTruncating((short)value),
                PixelType.UInt16 => T.CreateTruncating((ushort)value),
                PixelType.Int32 => T.CreateTruncating((int)value),
                PixelType.UInt32 => T.CreateTruncating((uint)value),
                PixelType.UInt64 => T.CreateTruncating((ulong)value),
                _ => T.CreateTruncating(value),
            };
        }
    }

    private static ReadOnlySpan<byte> Need(ReadOnlySpan<byte> data, int at, int bytes) =>
        at + bytes <= data.Length ? data.Slice(at, bytes) : throw new FormatException("CBF byte-offset data ends inside an escaped delta.");

    // The lines of `_array_data.header_contents` between its ';' delimiters, without their leading '# '.
    private static string[] MiniHeader(string text)
    {
        var start = text.IndexOf("_array_data.header_contents", StringComparison.Ordinal);
        if (start < 0)
        {
            return [];
        }

        var open = text.IndexOf("\n;", start, StringComparison.Ordinal);
        var close = open < 0 ? -1 : text.IndexOf("\n;", open + 2, StringComparison.Ordinal);
        if (close < 0)
        {
            return [];
        }

        return text[(open + 2)..close].Split('\n')
            .Select(l => l.Trim().TrimStart('#').Trim())
            .Where(l => l.Length > 0)
            .ToArray();
    }
}
