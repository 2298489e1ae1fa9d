using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Anvil.Hdf5.Internal;

/// <summary>
/// HDF5's shuffle filter, undone: the source holds byte k of every element together (plane k, <c>count</c> bytes);
/// trailing bytes that fill no element stay put. Also the last step of bitshuffle, whose bit transpose yields such
/// planes. SSE2 interleaves 16 elements at a time for 2- and 4-byte elements; other sizes and CPUs go byte by byte.
/// </summary>
internal static class ByteShuffle
{
    public static void Unshuffle(ReadOnlySpan<byte> source, Span<byte> destination, int elementSize)
    {
        var count = source.Length / elementSize;
        var done = 0;
        if (Sse2.IsSupported && elementSize == 2)
        {
            done = Interleave2(source, destination, count);
        }
        else if (Sse2.IsSupported && elementSize == 4)
        {
            done = Interleave4(source, destination, count);
        }

        for (var b = 0; b < elementSize; b++)
        {
            var plane = source.Slice(b * count, count);
            for (var i = done; i < count; i++)
            {
                destination[(i * elementSize) + b] = plane[i];
            }
        }

        var tail = count * elementSize;
        source[tail..].CopyTo(destination[tail..]);
    }

    // Elements [0, returned) written; the caller finishes the rest.
    private static int Interleave2(ReadOnlySpan<byte> source, Span<byte> destination, int count)
    {
        ref var input = ref MemoryMarshal.GetReference(source);
        ref var output = ref MemoryMarshal.GetReference(destination);
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            var p0 = Vector128.LoadUnsafe(ref input, (nuint)i);
            var p1 = Vector128.LoadUnsafe(ref input, (nuint)(count + i));
            Sse2.UnpackLow(p0, p1).StoreUnsafe(ref output, (nuint)(2 * i));
            Sse2.UnpackHigh(p0, p1).StoreUnsafe(ref output, (nuint)((2 * i) + 16));
        }

        return i;
    }

    private static int Interleave4(ReadOnlySpan<byte> source, Span<byte> destination, int count)
    {
        ref var input = ref MemoryMarshal.GetReference(source);
        ref var output = ref MemoryMarshal.GetReference(destination);
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            var p0 = Vector128.LoadUnsafe(ref input, (nuint)i);
            var p1 = Vector128.LoadUnsafe(ref input, (nuint)(count + i));
            var p2 = Vector128.LoadUnsafe(ref input, (nuint)((2 * count) + i));
            var p3 = Vector128.LoadUnsafe(ref input, (nuint)((3 * count) + i));
            var low01 = Sse2.UnpackLow(p0, p1).AsUInt16();
            var high01 = Sse2.UnpackHigh(p0, p1).AsUInt16();
            var low23 = Sse2.UnpackLow(p2, p3).AsUInt16();
            var high23 = Sse2.UnpackHigh(p2, p3).AsUInt16();
            Store(Sse2.UnpackLow(low01, low23), ref output, 4 * i);
            Store(Sse2.UnpackHigh(low01, low23), ref output, (4 * i) + 16);
            Store(Sse2.UnpackLow(high01, high23), ref output, (4 * i) + 32);
            Store(Sse2.UnpackHigh(high01, high23), ref output, (4 * i) + 48);
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector128<ushort> value, ref byte output, int offset) => value.AsByte().StoreUnsafe(ref output, (nuint)offset);
}
