using System.Buffers.Binary;
using System.IO.Compression;

namespace Anvil.Integration.Formats;

/// <summary>
/// A minimal reader for single-channel TIFF images as DIOPTAS and fabio write them: first IFD only, strips,
/// no compression, deflate (8 or 32946) or PackBits, 8/16/32-bit integers or 32/64-bit floats, either byte order.
/// </summary>
internal static class TiffReader
{
    public static (int Rows, int Cols, double[] Pixels) Read(byte[] file)
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

        ushort U16(int at) => little ? BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(at)) : BinaryPrimitives.ReadUInt16BigEndian(file.AsSpan(at));
        uint U32(int at) => little ? BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at)) : BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(at));
        if (U16(2) != 42)
        {
            throw new FormatException("BigTIFF or unknown TIFF version; only classic TIFF (42) is supported.");
        }

        var ifd = (int)U32(4);
        var entries = U16(ifd);
        int width = 0, height = 0, bits = 8, compression = 1, samples = 1, format = 1, predictor = 1, rowsPerStrip = int.MaxValue;
        uint[] offsets = [], counts = [];
        for (var e = 0; e < entries; e++)
        {
            var at = ifd + 2 + 12 * e;
            var tag = U16(at);
            var type = U16(at + 2);
            var n = (int)U32(at + 4);
            uint Value(int index)
            {
                var size = type == 3 ? 2 : 4;
                var pos = n * size <= 4 ? at + 8 : (int)U32(at + 8);
                return type == 3 ? U16(pos + index * size) : U32(pos + index * size);
            }

            uint[] Values() => Enumerable.Range(0, n).Select(Value).ToArray();
            switch (tag)
            {
                case 256: width = (int)Value(0); break;
                case 257: height = (int)Value(0); break;
                case 258: bits = (int)Value(0); break;
                case 259: compression = (int)Value(0); break;
                case 273: offsets = Values(); break;
                case 277: samples = (int)Value(0); break;
                case 278: rowsPerStrip = (int)Value(0); break;
                case 279: counts = Values(); break;
                case 317: predictor = (int)Value(0); break;
                case 339: format = (int)Value(0); break;
                default: break;
            }
        }

        if (samples != 1)
        {
            throw new FormatException($"{samples} samples per pixel; a mask needs 1.");
        }

        if (predictor != 1)
        {
            throw new FormatException($"TIFF predictor {predictor} is not supported (only 1, none).");
        }

        if (offsets.Length == 0 || offsets.Length != counts.Length)
        {
            throw new FormatException("TIFF without matching StripOffsets/StripByteCounts (tiled TIFF is not supported).");
        }

        var bytesPerPixel = bits / 8;
        var raw = new byte[checked(width * height * bytesPerPixel)];
        var written = 0;
        for (var s = 0; s < offsets.Length; s++)
        {
            var strip = file.AsSpan((int)offsets[s], (int)counts[s]);
            var expected = Math.Min(raw.Length - written, rowsPerStrip == int.MaxValue ? raw.Length : rowsPerStrip * width * bytesPerPixel);
            written += Decode(strip, compression, raw.AsSpan(written, expected));
        }

        if (written != raw.Length)
        {
            throw new FormatException($"TIFF strips hold {written} bytes, {raw.Length} expected.");
        }

        var pixels = new double[width * height];
        var r = raw.AsSpan();
        for (var k = 0; k < pixels.Length; k++)
        {
            var p = r[(k * bytesPerPixel)..];
            pixels[k] = (bits, format) switch
            {
                (8, 2) => (sbyte)p[0],
                (8, _) => p[0],
                (16, 2) => (short)(little ? BinaryPrimitives.ReadUInt16LittleEndian(p) : BinaryPrimitives.ReadUInt16BigEndian(p)),
                (16, _) => little ? BinaryPrimitives.ReadUInt16LittleEndian(p) : BinaryPrimitives.ReadUInt16BigEndian(p),
                (32, 2) => (int)(little ? BinaryPrimitives.ReadUInt32LittleEndian(p) : BinaryPrimitives.ReadUInt32BigEndian(p)),
                (32, 3) => BitConverter.Int32BitsToSingle((int)(little ? BinaryPrimitives.ReadUInt32LittleEndian(p) : BinaryPrimitives.ReadUInt32BigEndian(p))),
                (32, _) => little ? BinaryPrimitives.ReadUInt32LittleEndian(p) : BinaryPrimitives.ReadUInt32BigEndian(p),
                (64, 3) => BitConverter.Int64BitsToDouble((long)(little ? BinaryPrimitives.ReadUInt64LittleEndian(p) : BinaryPrimitives.ReadUInt64BigEndian(p))),
                _ => throw new FormatException($"TIFF with {bits} bits per sample, format {format}, is not supported."),
            };
        }

        return (height, width, pixels);
    }

    private static int Decode(ReadOnlySpan<byte> strip, int compression, Span<byte> target)
    {
        switch (compression)
        {
            case 1:
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

            case 32773:
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

            default:
                throw new FormatException($"TIFF compression {compression} is not supported (1, 8/32946 deflate, 32773 PackBits are).");
        }
    }
}
