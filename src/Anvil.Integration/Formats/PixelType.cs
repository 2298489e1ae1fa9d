using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Anvil.Integration.Formats;

/// <summary>How an image file stores one pixel (the NumPy names: uint16, int32, float32, …).</summary>
public enum PixelType
{
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
}

/// <summary>Pixel sizes, names and conversion of stored pixels (either byte order) to float32 or float64.</summary>
public static class Pixels
{
    /// <summary>Bytes per pixel.</summary>
    public static int Size(this PixelType type) => type switch
    {
        PixelType.Int8 or PixelType.UInt8 => 1,
        PixelType.Int16 or PixelType.UInt16 => 2,
        PixelType.Int32 or PixelType.UInt32 or PixelType.Float32 => 4,
        _ => 8,
    };

    /// <summary>The NumPy dtype name (uint16, float32, …).</summary>
    public static string Name(this PixelType type) => type.ToString().ToLowerInvariant();

    /// <summary>
    /// Converts <paramref name="destination"/>.Length pixels of <paramref name="type"/> stored in <paramref name="raw"/>
    /// (little-endian unless <paramref name="bigEndian"/>) to <typeparamref name="T"/> (float: rounded as NumPy's astype).
    /// </summary>
    public static void Convert<T>(ReadOnlySpan<byte> raw, PixelType type, bool bigEndian, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = destination.Length;
        if (raw.Length < (long)n * type.Size())
        {
            throw new FormatException($"{raw.Length} bytes hold fewer than {n} {type.Name()} pixels.");
        }

        if (bigEndian && type.Size() > 1)
        {
            var swapped = new byte[n * type.Size()];
            raw[..swapped.Length].CopyTo(swapped);
            Swap(swapped, type.Size());
            raw = swapped;
        }

        switch (type)
        {
            case PixelType.Int8: Widen(MemoryMarshal.Cast<byte, sbyte>(raw), destination); break;
            case PixelType.UInt8: Widen(raw, destination); break;
            case PixelType.Int16: Widen(MemoryMarshal.Cast<byte, short>(raw), destination); break;
            case PixelType.UInt16: Widen(MemoryMarshal.Cast<byte, ushort>(raw), destination); break;
            case PixelType.Int32: Widen(MemoryMarshal.Cast<byte, int>(raw), destination); break;
            case PixelType.UInt32: Widen(MemoryMarshal.Cast<byte, uint>(raw), destination); break;
            case PixelType.Int64: Widen(MemoryMarshal.Cast<byte, long>(raw), destination); break;
            case PixelType.UInt64: Widen(MemoryMarshal.Cast<byte, ulong>(raw), destination); break;
            case PixelType.Float32: Widen(MemoryMarshal.Cast<byte, float>(raw), destination); break;
            default: Widen(MemoryMarshal.Cast<byte, double>(raw), destination); break;
        }
    }

    private static void Widen<TSource, T>(ReadOnlySpan<TSource> source, Span<T> destination)
        where TSource : unmanaged, INumberBase<TSource>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = T.CreateTruncating(source[i]);
        }
    }

    private static void Swap(Span<byte> data, int size)
    {
        switch (size)
        {
            case 2: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(data), MemoryMarshal.Cast<byte, ushort>(data)); break;
            case 4: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(data), MemoryMarshal.Cast<byte, uint>(data)); break;
            default: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(data), MemoryMarshal.Cast<byte, ulong>(data)); break;
        }
    }
}
