using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>One chunk of a chunked dataset as it is stored: after the dataset's filters (deflated, say), at its offset.</summary>
/// <param name="Offset">The chunk's first element in each dimension (a frame stack's frame k: k, 0, 0).</param>
/// <param name="Bytes">The stored bytes.</param>
/// <param name="FilterMask">The filters of the dataset's pipeline skipped for this chunk (bit i: filter i); usually 0.</param>
public sealed record StoredChunk(ulong[] Offset, byte[] Bytes, uint FilterMask);

/// <summary>
/// Chunks copied as stored, without decoding and encoding them again: how a frame stack of real detector frames is built
/// from other files' frames in the time a file copy takes (the shared test and benchmark acquisitions).
/// </summary>
public sealed unsafe partial class Hdf5File
{
    /// <summary>Reads the chunk of a chunked dataset that starts at <paramref name="offset"/>, as stored.</summary>
    public StoredChunk ReadStoredChunk(string path, ReadOnlySpan<ulong> offset)
    {
        lock (Sync)
        {
            using var dataset = OpenDataset(path);
            var where = Where(path);
            fixed (ulong* o = offset)
            {
                Check(NativeMethods.H5Dget_chunk_storage_size(dataset, o, out var size), "H5Dget_chunk_storage_size", where);
                if (size == 0)
                {
                    throw new Hdf5Exception($"{where} has no chunk stored at ({string.Join(", ", offset.ToArray())}).", where, string.Empty);
                }

                var bytes = new byte[checked((int)size)];
                fixed (byte* b = bytes)
                {
                    Check(NativeMethods.H5Dread_chunk(dataset, Default, o, out var mask, b), "H5Dread_chunk", where);
                    return new StoredChunk(offset.ToArray(), bytes, mask);
                }
            }
        }
    }

    /// <summary>
    /// Sets a chunked dataset's extent to <paramref name="extent"/> (within its maximum) and writes <paramref name="chunks"/>
    /// as stored, each at its offset. The chunks must have gone through the same filters as this dataset's (as
    /// <see cref="ReadStoredChunk"/> of a dataset with the same layout returns them): nothing is checked or decoded here.
    /// </summary>
    public void WriteStoredChunks(string path, ReadOnlySpan<ulong> extent, IEnumerable<StoredChunk> chunks)
    {
        lock (Sync)
        {
            using var dataset = OpenDataset(path);
            var where = Where(path);
            fixed (ulong* e = extent)
            {
                Check(NativeMethods.H5Dset_extent(dataset, e), "H5Dset_extent", where);
            }

            foreach (var chunk in chunks)
            {
                if (chunk.Offset.Length != extent.Length)
                {
                    throw new ArgumentException($"a chunk offset of rank {chunk.Offset.Length} for {where}, of rank {extent.Length}", nameof(chunks));
                }

                fixed (ulong* o = chunk.Offset)
                fixed (byte* b = chunk.Bytes)
                {
                    Check(NativeMethods.H5Dwrite_chunk(dataset, Default, chunk.FilterMask, o, (nuint)chunk.Bytes.Length, b), "H5Dwrite_chunk", where);
                }
            }
        }
    }
}
