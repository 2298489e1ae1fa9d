using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>
/// A growing rows × <see cref="Columns"/> dataset (unlimited rows, chunked), e.g. integrated patterns frames × bins.
/// Rows may be written in any order: writing past the end extends the dataset, and rows in between hold the fill value
/// (NaN for float/double) until written. Made by <see cref="Hdf5File.CreateExtendible2D{T}"/> or reopened with
/// <see cref="Hdf5File.OpenExtendible2D{T}"/>; disposing closes the dataset, not the file.
/// </summary>
public sealed unsafe class ExtendibleDataset2D<T> : IDisposable
    where T : unmanaged
{
    private readonly Hdf5File file;
    private long datasetId;

    internal ExtendibleDataset2D(Hdf5File file, string path, long datasetId, int columns, long rows)
    {
        this.file = file;
        this.datasetId = datasetId;
        Path = path;
        Columns = columns;
        Rows = rows;
    }

    public string Path { get; }

    public int Columns { get; }

    /// <summary>The current number of rows: one past the highest row written so far.</summary>
    public long Rows { get; private set; }

    /// <summary>Writes one row, extending the dataset when <paramref name="row"/> &gt;= <see cref="Rows"/>.</summary>
    public void WriteRow(long row, ReadOnlySpan<T> values)
    {
        if (values.Length != Columns)
        {
            throw new ArgumentException($"A row of {Path} holds {Columns} values, not {values.Length}.", nameof(values));
        }

        WriteRows(row, values);
    }

    /// <summary>Writes consecutive rows starting at <paramref name="firstRow"/> from row-major values.</summary>
    public void WriteRows(long firstRow, ReadOnlySpan<T> values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        if (values.Length == 0 || values.Length % Columns != 0)
        {
            throw new ArgumentException($"{values.Length} values are not whole rows of {Columns}.", nameof(values));
        }

        var rowCount = values.Length / Columns;
        lock (Sync)
        {
            var id = Id;
            var where = file.Where(Path);
            var end = firstRow + rowCount;
            if (end > Rows)
            {
                ulong[] newDims = [(ulong)end, (ulong)Columns];
                fixed (ulong* d = newDims)
                {
                    Check(NativeMethods.H5Dset_extent(id, d), "H5Dset_extent", where);
                }

                Rows = end;
            }

            ulong[] start = [(ulong)firstRow, 0];
            ulong[] count = [(ulong)rowCount, (ulong)Columns];
            using var fileSpace = new H5Id(NativeMethods.H5Dget_space(id), H5Kind.Space, "H5Dget_space", where);
            fixed (ulong* s = start, c = count)
            fixed (T* p = values)
            {
                Check(NativeMethods.H5Sselect_hyperslab(fileSpace, SelectSet, s, null, c, null), "H5Sselect_hyperslab", where);
                using var memorySpace = new H5Id(NativeMethods.H5Screate_simple(2, c, null), H5Kind.Space, "H5Screate_simple", where);
                Check(NativeMethods.H5Dwrite(id, NativeType<T>(), memorySpace, fileSpace, Default, p), "H5Dwrite", where);
            }
        }
    }

    /// <summary>Reads one row back (fill values if it was never written).</summary>
    public void ReadRow(long row, Span<T> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        if (destination.Length < Columns)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values, a row {Columns}.", nameof(destination));
        }

        lock (Sync)
        {
            var id = Id;
            var where = file.Where(Path);
            if (row >= Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(row), row, $"{Path} has {Rows} rows.");
            }

            ulong[] start = [(ulong)row, 0];
            ulong[] count = [1, (ulong)Columns];
            using var fileSpace = new H5Id(NativeMethods.H5Dget_space(id), H5Kind.Space, "H5Dget_space", where);
            fixed (ulong* s = start, c = count)
            fixed (T* p = destination)
            {
                Check(NativeMethods.H5Sselect_hyperslab(fileSpace, SelectSet, s, null, c, null), "H5Sselect_hyperslab", where);
                using var memorySpace = new H5Id(NativeMethods.H5Screate_simple(2, c, null), H5Kind.Space, "H5Screate_simple", where);
                Check(NativeMethods.H5Dread(id, NativeType<T>(), memorySpace, fileSpace, Default, p), "H5Dread", where);
            }
        }
    }

    /// <summary>Re-reads <see cref="Rows"/> from the file: a SWMR reader calls this to see rows a writer has added since.</summary>
    public long Refresh()
    {
        lock (Sync)
        {
            var where = file.Where(Path);
            Check(NativeMethods.H5Drefresh(Id), "H5Drefresh", where);
            using var space = new H5Id(NativeMethods.H5Dget_space(Id), H5Kind.Space, "H5Dget_space", where);
            Rows = (long)Hdf5File.Extent(space, where).Dims[0];
            return Rows;
        }
    }

    /// <summary>Closes the dataset, writing its cached chunks, and throws an <see cref="Hdf5Exception"/> when that fails.</summary>
    public void Close()
    {
        lock (Sync)
        {
            if (datasetId > 0)
            {
                // Kept when the close fails, so a later Dispose can try again (once there is room, say).
                var where = file.Where(Path);
                Check(NativeMethods.H5Dclose(datasetId), "Closing the dataset", where);
                datasetId = 0;
            }
        }
    }

    /// <summary>Closes the dataset if it is open, ignoring errors (use <see cref="Close"/> to see them).</summary>
    public void Dispose()
    {
        lock (Sync)
        {
            if (datasetId > 0)
            {
                _ = NativeMethods.H5Dclose(datasetId);
                datasetId = 0;
            }
        }
    }

    private long Id
    {
        get
        {
            ObjectDisposedException.ThrowIf(datasetId <= 0, this);
            return datasetId;
        }
    }
}
