using System.Globalization;
using System.Numerics;
using System.Text;

namespace Anvil.Integration.Formats;

/// <summary>One frame (header block and data block) of an EDF file.</summary>
internal sealed record EdfFrame(int Rows, int Cols, PixelType Type, bool BigEndian, int DataStart, IReadOnlyDictionary<string, string> Header);

/// <summary>
/// Reads ESRF Data Format files as fabio writes them: one or more frames, each an ASCII header in braces (<c>key = value ;</c>,
/// padded to 512-byte blocks) followed by its raw data; every DataType fabio names (8–64-bit integers, float32/64,
/// with their aliases), either byte order. Compressed EDF is refused with a message naming the compression.
/// </summary>
internal static class EdfReader
{
    private static readonly System.Buffers.SearchValues<byte> Padding = System.Buffers.SearchValues.Create("\n\r \0"u8);

    /// <summary>The first frame as float64 values (masks, darks and flats).</summary>
    public static (int Rows, int Cols, double[] Pixels) Read(byte[] file)
    {
        var frame = ReadFrames(file)[0];
        var pixels = new double[frame.Rows * frame.Cols];
        Decode(file, frame, pixels.AsSpan());
        return (frame.Rows, frame.Cols, pixels);
    }

    public static IReadOnlyList<EdfFrame> ReadFrames(byte[] file)
    {
        var frames = new List<EdfFrame>();
        var at = 0;
        while (at < file.Length)
        {
            var open = Array.IndexOf(file, (byte)'{', at);
            if (open < 0 || file.AsSpan(at, open - at).IndexOfAnyExcept(Padding) >= 0)
            {
                if (frames.Count == 0)
                {
                    throw new FormatException("not an EDF file (no '{ … }' header).");
                }

                break;
            }

            var close = Array.IndexOf(file, (byte)'}', open);
            if (close < 0)
            {
                throw new FormatException($"EDF header {frames.Count + 1} has no closing '}}'.");
            }

            var frame = ParseHeader(file, open, close, frames.Count + 1);
            frames.Add(frame);
            at = frame.DataStart + (frame.Rows * frame.Cols * frame.Type.Size());
        }

        return frames;
    }

    public static void Decode<T>(byte[] file, EdfFrame frame, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bytes = frame.Rows * frame.Cols * frame.Type.Size();
        if (file.Length - frame.DataStart < bytes)
        {
            throw new FormatException($"EDF data truncated: {frame.Rows}×{frame.Cols} {frame.Type.Name()} pixels need {bytes} bytes, {file.Length - frame.DataStart} follow the header.");
        }

        Pixels.Convert(file.AsSpan(frame.DataStart, bytes), frame.Type, frame.BigEndian, destination[..(frame.Rows * frame.Cols)]);
    }

    private static EdfFrame ParseHeader(byte[] file, int open, int close, int number)
    {
        var header = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in Encoding.Latin1.GetString(file, open + 1, close - open - 1).Split(';'))
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

        int Int(string key) => header.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && i > 0
            ? i
            : throw new FormatException($"EDF header {number} lacks a valid '{key}'.");
        var compression = ImageMetadata.Find(header, "Compression", "EDF_Compression");
        if (compression is not null && !compression.Equals("None", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"EDF compression '{compression}' is not supported: only uncompressed EDF (what fabio writes by default) is read.");
        }

        var cols = Int("Dim_1");
        var rows = Int("Dim_2");
        var type = header.TryGetValue("DataType", out var t) ? t : throw new FormatException($"EDF header {number} lacks 'DataType'.");
        var big = header.TryGetValue("ByteOrder", out var order) && order.Equals("HighByteFirst", StringComparison.OrdinalIgnoreCase);
        return new EdfFrame(rows, cols, Type(type), big, dataStart, header);
    }

    // fabio's names (edfimage.DATA_TYPES), case as fabio writes them.
    private static PixelType Type(string name) => name switch
    {
        "SignedByte" or "Signed8" or "SignedChar" => PixelType.Int8,
        "UnsignedByte" or "Unsigned8" or "UnsignedChar" => PixelType.UInt8,
        "SignedShort" or "Signed16" => PixelType.Int16,
        "UnsignedShort" or "Unsigned16" or "UnsignedShortInteger" => PixelType.UInt16,
        "SignedInteger" or "Signed32" or "SignedLong" => PixelType.Int32,
        "UnsignedInteger" or "Unsigned32" or "UnsignedLong" => PixelType.UInt32,
        "Signed64" => PixelType.Int64,
        "Unsigned64" => PixelType.UInt64,
        "FloatValue" or "FLOATVALUE" or "FLOAT" or "Float" or "FloatIEEE32" or "Float32" => PixelType.Float32,
        "Double" or "DoubleValue" or "FloatIEEE64" => PixelType.Float64,
        _ => throw new FormatException($"EDF DataType '{name}' is not supported."),
    };
}
