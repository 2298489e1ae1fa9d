using System.Buffers;
using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5.Internal;

/// <summary>
/// Reads one frame of a (frames, rows, cols) dataset. Fast path, when every chunk is one whole frame and the filter
/// pipeline holds only deflate, shuffle and bitshuffle (32008, with LZ4 or without compression; see
/// <see cref="Bitshuffle"/>): only <c>H5Dread_chunk</c> of the compressed bytes into a pooled buffer runs under the HDF5
/// lock; inflating (.NET zlib), unshuffling and bitshuffle-LZ4 run outside it, so several threads decode in parallel.
/// Anything else goes through <c>H5Dread</c>, which lets libhdf5 decode and convert. Bitshuffle is decoded only here:
/// libhdf5 on this machine has no plugin for it.
/// </summary>
internal sealed unsafe class FrameChunkReader
{
    private readonly long dataset;
    private readonly string where;
    private readonly int[] filters;
    private readonly uint[][] parameters;
    private readonly int elementSize;

    private FrameChunkReader(long dataset, string where, Hdf5DatasetInfo info)
    {
        this.dataset = dataset;
        this.where = where;
        filters = info.Filters;
        parameters = info.FilterParameters;
        elementSize = info.ElementSize;
        Rows = (int)info.Shape[1];
        Cols = (int)info.Shape[2];
        FastPath = IsFastPathLayout(info);
    }

    public int Rows { get; }

    public int Cols { get; }

    /// <summary>True when frames are read as raw chunks and decoded in .NET.</summary>
    public bool FastPath { get; }

    public int FrameBytes => Rows * Cols * elementSize;

    /// <summary>Builds a reader for an open rank-3 dataset (caller holds the lock and owns the dataset id).</summary>
    public static FrameChunkReader Create(long dataset, string where, Hdf5DatasetInfo info)
    {
        if (info.Rank != 3)
        {
            throw new Hdf5Exception($"{where} has rank {info.Rank}; an image stack needs (frames, rows, cols).", where, string.Empty);
        }

        RequireAvailableFilters(info, where);
        return new FrameChunkReader(dataset, where, info);
    }

    /// <summary>
    /// Names a filter neither Anvil nor libhdf5 can apply here, instead of letting H5Dread fail with "can't open plugin".
    /// Bitshuffle passes when Anvil decodes it itself: parameters it knows, one frame per chunk (see <see cref="Bitshuffle"/>).
    /// </summary>
    public static void RequireAvailableFilters(Hdf5DatasetInfo info, string where)
    {
        for (var i = 0; i < info.Filters.Length; i++)
        {
            var filter = info.Filters[i];
            if (filter is FilterDeflate or FilterShuffle)
            {
                continue;
            }

            string? reason = null;
            if (filter == Bitshuffle.FilterId)
            {
                reason = Bitshuffle.Unsupported(info.FilterParameters[i], info.ElementSize)
                    ?? (IsFastPathLayout(info) ? null : "Anvil decodes bitshuffle only in little-endian frame stacks stored one frame per chunk");
                if (reason is null)
                {
                    continue;
                }
            }

            bool available;
            lock (Sync)
            {
                available = NativeMethods.H5Zfilter_avail(filter) > 0;
                _ = NativeMethods.H5Eclear2(Default);
            }

            if (!available)
            {
                throw new Hdf5UnsupportedFilterException(
                    $"{where} is compressed with HDF5 filter {filter} ({FilterName(filter)}), which is not supported: {reason ?? "Anvil decodes deflate, shuffle and bitshuffle-LZ4"}, and the installed libhdf5 has no plugin for this filter.",
                    where,
                    filter);
            }
        }
    }

    /// <summary>The name of a registered HDF5 filter id, for messages.</summary>
    public static string FilterName(int filter) => filter switch
    {
        3 => "Fletcher32 checksum",
        4 => "szip",
        5 => "N-bit",
        6 => "scale-offset",
        307 => "bzip2",
        32001 => "Blosc",
        32004 => "LZ4",
        32008 => "bitshuffle-LZ4",
        32015 => "Zstandard",
        _ => "unregistered filter",
    };

    private static bool IsFastPathLayout(Hdf5DatasetInfo info)
    {
        var chunk = info.ChunkShape;
        var oneFramePerChunk = info.Rank == 3 && chunk is not null && chunk[0] == 1 && chunk[1] == info.Shape[1] && chunk[2] == info.Shape[2];
        var knownFilters = info.Filters.Select((f, i) => f is FilterDeflate or FilterShuffle
            || (f == Bitshuffle.FilterId && Bitshuffle.Unsupported(info.FilterParameters[i], info.ElementSize) is null)).All(known => known);
        return oneFramePerChunk && knownFilters && info.IsLittleEndian && info.ElementSize is 1 or 2 or 4 or 8;
    }

    /// <summary>
    /// Reads frame <paramref name="frame"/> in the file's element type into <paramref name="destination"/>
    /// (<see cref="FrameBytes"/> bytes). Returns false when the fast path does not apply (layout, or a chunk not yet
    /// stored): the caller then reads with <see cref="ReadWithH5Dread"/>.
    /// </summary>
    public bool TryReadRaw(long frame, Span<byte> destination)
    {
        if (!FastPath)
        {
            return false;
        }

        byte[] chunk;
        int size;
        uint mask;
        var o = stackalloc ulong[] { (ulong)frame, 0, 0 };
        lock (Sync)
        {
            if (NativeMethods.H5Dget_chunk_storage_size(dataset, o, out var stored) < 0 || stored == 0)
            {
                _ = NativeMethods.H5Eclear2(Default);
                return false;
            }

            size = checked((int)stored);
            chunk = ArrayPool<byte>.Shared.Rent(size);
            fixed (byte* c = chunk)
            {
                if (NativeMethods.H5Dread_chunk(dataset, Default, o, out mask, c) < 0)
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                    throw Failure($"H5Dread_chunk of frame {frame}", where);
                }
            }
        }

        try
        {
            Decode(chunk, size, mask, destination[..FrameBytes], frame);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Reads frame <paramref name="frame"/> with H5Dread, converting to <paramref name="memoryType"/>.</summary>
    public void ReadWithH5Dread(long frame, long memoryType, void* destination)
    {
        ulong[] start = [(ulong)frame, 0, 0];
        ulong[] count = [1, (ulong)Rows, (ulong)Cols];
        lock (Sync)
        {
            using var fileSpace = new H5Id(NativeMethods.H5Dget_space(dataset), H5Kind.Space, "H5Dget_space", where);
            fixed (ulong* s = start, c = count)
            {
                Check(NativeMethods.H5Sselect_hyperslab(fileSpace, SelectSet, s, null, c, null), "H5Sselect_hyperslab", where);
                using var memorySpace = new H5Id(NativeMethods.H5Screate_simple(3, c, null), H5Kind.Space, "H5Screate_simple", where);
                Check(NativeMethods.H5Dread(dataset, memoryType, memorySpace, fileSpace, Default, destination), $"H5Dread of frame {frame}", where);
            }
        }
    }

    /// <summary>Undoes the pipeline in reverse order, skipping the filters whose bit is set in the chunk's mask.</summary>
    private void Decode(byte[] chunk, int size, uint mask, Span<byte> destination, long frame)
    {
        Span<int> active = stackalloc int[filters.Length];
        var activeCount = 0;
        for (var i = filters.Length - 1; i >= 0; i--)
        {
            if ((mask & (1u << i)) == 0)
            {
                active[activeCount++] = i;
            }
        }

        active = active[..activeCount];
        if (active.Length == 0)
        {
            RequireLength(size, frame);
            chunk.AsSpan(0, size).CopyTo(destination);
            return;
        }

        byte[]? temporary = active.Length > 1 ? ArrayPool<byte>.Shared.Rent(FrameBytes) : null;
        try
        {
            var source = chunk;
            var sourceLength = size;
            for (var step = 0; step < active.Length; step++)
            {
                var last = step == active.Length - 1;
                var output = last ? destination : temporary.AsSpan(0, FrameBytes);
                var filter = active[step];
                if (filters[filter] == FilterDeflate)
                {
                    Inflate(source, sourceLength, output, frame);
                }
                else if (filters[filter] == Bitshuffle.FilterId)
                {
                    DecodeBitshuffle(source.AsSpan(0, sourceLength), output, parameters[filter], frame);
                }
                else
                {
                    RequireLength(sourceLength, frame);
                    ByteShuffle.Unshuffle(source.AsSpan(0, sourceLength), output, elementSize);
                }

                source = temporary!;
                sourceLength = FrameBytes;
            }
        }
        finally
        {
            if (temporary is not null)
            {
                ArrayPool<byte>.Shared.Return(temporary);
            }
        }
    }

    // libdeflate when it loads (about 1.5× faster than ZLibStream on these chunks), else ZLibStream: Zlib.Default.
    private void Inflate(byte[] source, int length, Span<byte> output, long frame)
    {
        int read;
        try
        {
            read = Zlib.Inflate(source.AsSpan(0, length), output, Zlib.Default);
        }
        catch (InvalidDataException ex)
        {
            throw new Hdf5Exception($"Frame {frame} of {where}: the deflate stream is corrupt ({ex.Message}).", ex);
        }

        if (read != output.Length)
        {
            throw new Hdf5Exception($"Frame {frame} of {where}: the chunk inflated to {read} bytes, expected {output.Length}.", where, string.Empty);
        }
    }

    private void DecodeBitshuffle(ReadOnlySpan<byte> source, Span<byte> output, uint[] filterParameters, long frame)
    {
        try
        {
            Bitshuffle.DecodeChunk(source, output, filterParameters, elementSize);
        }
        catch (InvalidDataException ex)
        {
            throw new Hdf5Exception($"{where}: frame {frame}'s bitshuffle chunk is corrupt: {ex.Message}.", where, string.Empty);
        }
    }

    private void RequireLength(int length, long frame)
    {
        if (length != FrameBytes)
        {
            throw new Hdf5Exception($"Frame {frame} of {where}: an unfiltered chunk holds {length} bytes, expected {FrameBytes}.", where, string.Empty);
        }
    }
}
