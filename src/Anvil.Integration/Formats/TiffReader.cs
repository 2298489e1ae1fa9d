using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Text;

namespace Anvil.Integration.Formats;

/// <summary>One image (IFD) of a TIFF file: shape, pixel type, where its strips are, and its text tags.</summary>
internal sealed record TiffPage(int Rows, int Cols, PixelType Type, int Compression, uint[] Offsets, uint[] Counts, int RowsPerStrip,
    string? Description, string? DateTime, string? Software);

/// <summary>
/// Reads single-channel TIFF images as detectors (PerkinElmer, Pilatus), DIOPTAS and fabio write them: every page
/// (IFD) of the file, strips, no compression, deflate (8 or 32946) or PackBits, 8/16/32-bit integers (signed or
/// not) or 32/64-bit floats, either byte order, with the ImageDescription, DateTime and Software tags.
/// </summary>
internal static class TiffReader
{
    private const int MaxPages = 100_000;

    /// <summary>The first page as float64 values (masks, darks and flats).</summary>
    public static (int Rows, int Cols, double[] Pixels) Read(byte[] file)
    {
        var page = ReadPages(file)[0];
        var pixels = new double[page.Rows * page.Cols];
        Decode(file, page, pixels.AsSpan());
        return (page.Rows, page.Cols, pixels);
    }

    /// <summary>Every page's layout, in file order.</summary>
    public static IReadOnlyList<TiffPage> ReadPages(byte[] file)
    {
        if (file.Length < 8)
        {
            throw new FormatException("too short for a TIFF file.");
        }

        var little = file[0] == 'I' && file[1] == 'I';
        if (!little && !(file[0] == 'M' && file[1] == 'M'))
        {
            throw new FormatException("not a TIFF file (no II/MM byte-order mark).");
        }

        ushort U16(long at) => at + 2 <= file.Length
            ? little ? BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan((int)at)) : BinaryPrimitives.ReadUInt16BigEndian(file.AsSpan((int)at))
            : throw new FormatException($"TIFF truncated: an entry at byte {at} lies beyond the file's {file.Length} bytes.");
        uint U32(long at) => at + 4 <= file.Length
            ? little ? BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)at)) : BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan((int)at))
            : throw new FormatException($"TIFF truncated: an entry at byte {at} lies beyond the file's {file.Length} bytes.");
        if (U16(2) != 42)
        {
            throw new FormatException("BigTIFF or unknown TIFF version; only classic TIFF (42) is supported.");
        }

        var pages = new List<TiffPage>();
        var seen = new HashSet<long>();
        for (long ifd = U32(4); ifd != 0; ifd = U32(ifd + 2 + (12L * U16(ifd))))
        {
            if (!seen.Add(ifd) || pages.Count >= MaxPages)
            {
                throw new FormatException("TIFF image directories form a loop.");
            }

            pages.Add(ReadPage(file, ifd, U16, U32));
        }

        return pages.Count > 0 ? pages : throw new FormatException("TIFF without any image.");
    }

    private static TiffPage ReadPage(byte[] file, long ifd, Func<long, ushort> u16, Func<long, uint> u32)
    {
        var entries = u16(ifd);
        int width = 0, height = 0, bits = 8, compression = 1, samples = 1, format = 1, predictor = 1, rowsPerStrip = int.MaxValue;
        uint[] offsets = [], counts = [];
        string? description = null, date = null, software = null;
        for (var e = 0; e < entries; e++)
        {
            var at = ifd + 2 + (12L * e);
            var tag = u16(at);
            var type = u16(at + 2);
            var n = (int)u32(at + 4);
            uint Value(int index)
            {
                var size = type == 3 ? 2 : 4;
                var pos = (long)n * size <= 4 ? at + 8 : u32(at + 8);
                return type == 3 ? u16(pos + (index * size)) : u32(pos + (index * size));
            }

            uint[] Values() => Enumerable.Range(0, n).Select(Value).ToArray();
            string Text()
            {
                var pos = n <= 4 ? at + 8 : u32(at + 8);
                if (pos + n > file.Length)
                {
                    throw new FormatException($"TIFF truncated: tag {tag}'s text lies beyond the file's {file.Length} bytes.");
                }

                return Encoding.Latin1.GetString(file, (int)pos, n).TrimEnd('\0');
            }

            switch (tag)
            {
                case 256: width = (int)Value(0); break;
                case 257: height = (int)Value(0); break;
                case 258: bits = (int)Value(0); break;
                case 259: compression = (int)Value(0); break;
                case 270 when type == 2: description = Text(); break;
                case 273: offsets = Values(); break;
                case 277: samples = (int)Value(0); break;
                case 278: rowsPerStrip = (int)Value(0); break;
                case 279: counts = Values(); break;
                case 305 when type == 2: software = Text(); break;
                case 306 when type == 2: date = Text(); break;
                case 317: predictor = (int)Value(0); break;
                case 339: format = (int)Value(0); break;
                default: break;
            }
        }

        if (samples != 1)
        {
            throw new FormatException($"{samples} samples per pixel; a detector image or mask has 1.");
        }

        if (predictor != 1)
        {
            throw new FormatException($"TIFF predictor {predictor} is not supported (only 1, none).");
        }

        if (offsets.Length == 0 || offsets.Length != counts.Length)
        {
            throw new FormatException("TIFF without matching StripOffsets/StripByteCounts (tiled TIFF is not supported).");
        }

        if (compression is not (1 or 8 or 32946 or 32773))
        {
            throw new FormatException($"TIFF compression {compression} is not supported (1 none, 8/32946 deflate and 32773 PackBits are).");
        }

        var pixel = (bits, format) switch
        {
            (8, 2) => PixelType.Int8,
            (8, _) => PixelType.UInt8,
            (16, 2) => PixelType.Int16,
            (16, 3) => throw new FormatException("16-bit float TIFF is not supported."),
            (16, _) => PixelType.UInt16,
            (32, 2) => PixelType.Int32,
            (32, 3) => PixelType.Float32,
            (32, _) => PixelType.UInt32,
            (64, 3) => PixelType.Float64,
            _ => throw new FormatException($"TIFF with {bits} bits per sample, format {format}, is not supported."),
        };
        return new TiffPage(height, width, pixel, compression, offsets, counts, rowsPerStrip, description, date, software);
    }

    /// <summary>Decodes <paramref name="page"/> of <paramref name="file"/> into Rows × Cols values.</summary>
    public static void Decode<T>(byte[] file, TiffPage page, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bytesPerPixel = page.Type.Size();
        var raw = new byte[checked(page.Cols * page.Rows * bytesPerPixel)];
        var written = 0;
        for (var s = 0; s < page.Offsets.Length; s++)
        {
            if ((long)page.Offsets[s] + page.Counts[s] > file.Length)
            {
                throw new FormatException($"TIFF truncated: strip {s} ends at byte {(long)page.Offsets[s] + page.Counts[s]}, the file has {file.Length}.");
            }

            var strip = file.AsSpan((int)page.Offsets[s], (int)page.Counts[s]);
            var expected = Math.Min(raw.Length - written, page.RowsPerStrip == int.MaxValue ? raw.Length : page.RowsPerStrip * page.Cols * bytesPerPixel);
            written += DecodeStrip(strip, page.Compression, raw.AsSpan(written, expected));
        }

        if (written != raw.Length)
        {
            throw new FormatException($"TIFF strips hold {written} bytes, {raw.Length} expected.");
        }

        Pixels.Convert(raw, page.Type, bigEndian: file[0] == 'M', destination[..(page.Rows * page.Cols)]);
    }

    private static int DecodeStrip(ReadOnlySpan<byte> strip, int compression, Span<byte> target)
    {
        switch (compression)
        {
            case 1:
                if (strip.Length < target.Length)
                {
                    throw new FormatException($"TIFF strip holds {strip.Length} bytes, {target.Length} expected.");
                }

                strip[..target.Length].CopyTo(target);
                return target.Length;
            case 8:
            case 32946:
                {
                    using var input = new MemoryStream(strip.ToArray());
                    using var z = new ZLibStream(input, CompressionMode.Decompress);
                    var total = 0;
                    while (total < target.Length)
                    {
                        var got = z.Read(target[total..]);
                        if (got == 0)
                        {
                            break;
                        }

                        total += got;
                    }

                    return total;
                }

            default:
                {
                    int i = 0, o = 0;
                    while (i < strip.Length && o < target.Length)
                    {
                        var header = (sbyte)strip[i++];
                        if (header >= 0)
                        {
                            strip.Slice(i, header + 1).CopyTo(target[o..]);
                            i += header + 1;
                            o += header + 1;
                        }
                        else if (header != -128)
                        {
                            target.Slice(o, 1 - header).Fill(strip[i++]);
                            o += 1 - header;
                        }
                    }

                    return o;
                }
        }
    }
}
