using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Anvil.Integration.Formats;

/// <summary>Reads the first image of an ESRF Data Format file (fabio-style ASCII header in braces, then raw data).</summary>
internal static class EdfReader
{
    public static (int Rows, int Cols, double[] Pixels) Read(byte[] file)
    {
        var open = Array.IndexOf(file, (byte)'{');
        var close = Array.IndexOf(file, (byte)'}');
        if (open < 0 || close < open)
        {
            throw new FormatException("not an EDF file (no '{ … }' header).");
        }

        var header = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in Encoding.ASCII.GetString(file, open + 1, close - open - 1).Split(';'))
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                header[item[..eq].Trim()] = item[(eq + 1)..].Trim();
            }
        }

        // The header ends after '}' and the newline that follows it.
        var dataStart = close + 1;
        if (dataStart < file.Length && file[dataStart] == '\n')
        {
            dataStart++;
        }

        int Int(string key) => header.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)
            ? i
            : throw new FormatException($"EDF header lacks a valid '{key}'.");
        var cols = Int("Dim_1");
        var rows = Int("Dim_2");
        var type = header.TryGetValue("DataType", out var t) ? t : throw new FormatException("EDF header lacks 'DataType'.");
        var little = !header.TryGetValue("ByteOrder", out var order) || order != "HighByteFirst";
        var (size, reader) = Decoder(type, little);
        var n = rows * cols;
        if (file.Length - dataStart < (long)n * size)
        {
            throw new FormatException($"EDF data truncated: {n} × {size} bytes expected.");
        }

        var pixels = new double[n];
        for (var k = 0; k < n; k++)
        {
            pixels[k] = reader(file.AsSpan(dataStart + k * size, size));
        }

        return (rows, cols, pixels);
    }

    private delegate double Element(ReadOnlySpan<byte> b);

    private static (int, Element) Decoder(string type, bool little) => type switch
    {
        "UnsignedByte" or "UnsignedChar" => (1, b => b[0]),
        "SignedByte" or "SignedChar" => (1, b => (sbyte)b[0]),
        "UnsignedShort" => (2, b => little ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b)),
        "SignedShort" => (2, b => little ? BinaryPrimitives.ReadInt16LittleEndian(b) : BinaryPrimitives.ReadInt16BigEndian(b)),
        "UnsignedInteger" or "UnsignedLong" => (4, b => little ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b)),
        "SignedInteger" or "SignedLong" => (4, b => little ? BinaryPrimitives.ReadInt32LittleEndian(b) : BinaryPrimitives.ReadInt32BigEndian(b)),
        "FloatValue" or "Float" => (4, b => little ? BinaryPrimitives.ReadSingleLittleEndian(b) : BinaryPrimitives.ReadSingleBigEndian(b)),
        "DoubleValue" or "Double" => (8, b => little ? BinaryPrimitives.ReadDoubleLittleEndian(b) : BinaryPrimitives.ReadDoubleBigEndian(b)),
        _ => throw new FormatException($"EDF DataType '{type}' is not supported."),
    };
}
