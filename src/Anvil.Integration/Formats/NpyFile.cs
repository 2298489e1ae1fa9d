using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Anvil.Integration.Formats;

/// <summary>A NumPy array read from a .npy file: its shape, dtype descriptor and little-endian C-order bytes.</summary>
public sealed record NpyArray(int[] Shape, string Dtype, byte[] Data)
{
    public int Count => Shape.Aggregate(1, (a, b) => a * b);

    public double[] ToDoubles()
    {
        var n = Count;
        var result = new double[n];
        var d = Data.AsSpan();
        for (var k = 0; k < n; k++)
        {
            result[k] = Dtype[1..] switch
            {
                "b1" or "u1" => d[k],
                "i1" => (sbyte)d[k],
                "i2" => BinaryPrimitives.ReadInt16LittleEndian(d[(2 * k)..]),
                "u2" => BinaryPrimitives.ReadUInt16LittleEndian(d[(2 * k)..]),
                "i4" => BinaryPrimitives.ReadInt32LittleEndian(d[(4 * k)..]),
                "u4" => BinaryPrimitives.ReadUInt32LittleEndian(d[(4 * k)..]),
                "i8" => BinaryPrimitives.ReadInt64LittleEndian(d[(8 * k)..]),
                "u8" => BinaryPrimitives.ReadUInt64LittleEndian(d[(8 * k)..]),
                "f4" => BinaryPrimitives.ReadSingleLittleEndian(d[(4 * k)..]),
                "f8" => BinaryPrimitives.ReadDoubleLittleEndian(d[(8 * k)..]),
                _ => throw new NotSupportedException($"npy dtype '{Dtype}' is not supported."),
            };
        }

        return result;
    }
}

/// <summary>Reads NumPy .npy files (format 1.x–3.x, C order, little-endian or byte-sized dtypes).</summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        try
        {
            return Parse(bytes);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{path}: {ex.Message}", ex);
        }
    }

    public static NpyArray Parse(byte[] bytes)
    {
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
        {
            throw new FormatException("not a .npy file (magic \\x93NUMPY missing).");
        }

        int headerLength, start;
        if (bytes[6] == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
            start = 10;
        }
        else
        {
            headerLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
            start = 12;
        }

        var header = Encoding.Latin1.GetString(bytes, start, headerLength);
        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shape = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success)
        {
            throw new FormatException($"unreadable .npy header '{header.Trim()}'.");
        }

        if (fortran.Groups[1].Value == "True")
        {
            throw new FormatException("Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray.");
        }

        var dtype = descr.Groups[1].Value;
        if (dtype[0] == '>' && dtype[1..] is not ("u1" or "i1" or "b1"))
        {
            throw new FormatException($"big-endian dtype '{dtype}' is not supported.");
        }

        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var itemSize = int.Parse(dtype[2..], CultureInfo.InvariantCulture);
        var count = dims.Aggregate(1L, (a, b) => a * b);
        var dataStart = start + headerLength;
        if (bytes.Length - dataStart < count * itemSize)
        {
            throw new FormatException($"truncated: {count} × {itemSize} bytes expected after the header.");
        }

        return new NpyArray(dims, dtype, bytes.AsSpan(dataStart, (int)(count * itemSize)).ToArray());
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")]
    private static partial Regex DescrRegex();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRegex();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
