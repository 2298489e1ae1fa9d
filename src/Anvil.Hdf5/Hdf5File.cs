using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>
/// An HDF5 file opened through libhdf5. Objects are addressed by absolute paths ("/processed/result/data"); missing
/// parent groups are created on the way. Every call takes the process-wide HDF5 lock, so one instance may be shared
/// between threads, but calls on it run one at a time.
/// </summary>
public sealed unsafe partial class Hdf5File : IDisposable
{
    private long fileId;

    private Hdf5File(string path, long fileId, bool writable)
    {
        Path = path;
        this.fileId = fileId;
        IsWritable = writable;
    }

    /// <summary>The file's path as given when it was opened.</summary>
    public string Path { get; }

    /// <summary>True when opened with <see cref="OpenReadWrite"/> or <see cref="Create"/>.</summary>
    public bool IsWritable { get; }

    internal long Id
    {
        get
        {
            ObjectDisposedException.ThrowIf(fileId <= 0, this);
            return fileId;
        }
    }

    /// <summary>
    /// Opens a file read-only without taking the file lock, so files still held open by a (non-SWMR) detector writer
    /// can be read; their metadata may then be inconsistent, which surfaces as a retryable <see cref="Hdf5Exception"/>.
    /// With <paramref name="swmr"/> the file must have been written in SWMR mode; datasets are then refreshed on demand.
    /// </summary>
    public static Hdf5File OpenRead(string path, bool swmr = false)
    {
        return Open(path, swmr ? AccRdonly | AccSwmrRead : AccRdonly, writable: false);
    }

    /// <summary>Opens an existing file for reading and writing (e.g. to continue a results file after a restart).</summary>
    public static Hdf5File OpenReadWrite(string path)
    {
        return Open(path, AccRdwr, writable: true);
    }

    /// <summary>
    /// Creates a file, truncating any existing one. <paramref name="latestFormat"/> selects the 1.10 file format, which
    /// <see cref="StartSwmrWrite"/> needs; the default (earliest format) is what h5py and older readers open most easily.
    /// </summary>
    public static Hdf5File Create(string path, bool latestFormat = false)
    {
        lock (Sync)
        {
            using var fapl = new H5Id(NativeMethods.H5Pcreate(FileAccessClass), H5Kind.PropertyList, "H5Pcreate", path);
            Check(NativeMethods.H5Pset_libver_bounds(fapl, latestFormat ? LibverLatest : LibverEarliest, LibverLatest), "H5Pset_libver_bounds", path);
            var id = NativeMethods.H5Fcreate(path, AccTrunc, Default, fapl);
            return new Hdf5File(path, Check(id, "Creating the HDF5 file", path), writable: true);
        }
    }

    private static Hdf5File Open(string path, uint flags, bool writable)
    {
        if (!File.Exists(path))
        {
            throw new Hdf5Exception($"HDF5 file not found: {path}", path, string.Empty);
        }

        lock (Sync)
        {
            using var fapl = new H5Id(CreateUnlockedFileAccess(), H5Kind.PropertyList, "H5Pcreate", path);
            var id = NativeMethods.H5Fopen(path, flags, fapl);
            return new Hdf5File(path, Check(id, "Opening the HDF5 file", path), writable);
        }
    }

    /// <summary>Switches a file created with latestFormat into SWMR-write mode: SWMR readers may then follow it live.</summary>
    public void StartSwmrWrite()
    {
        lock (Sync)
        {
            Check(NativeMethods.H5Fstart_swmr_write(Id), "H5Fstart_swmr_write", Path);
        }
    }

    /// <summary>Writes every buffered change to disk, so readers that open the file now see it.</summary>
    public void Flush()
    {
        lock (Sync)
        {
            Check(NativeMethods.H5Fflush(Id, 1), "H5Fflush", Path);
        }
    }

    /// <summary>
    /// Closes the file, writing what libhdf5 still buffers, and throws an <see cref="Hdf5Exception"/> when that fails (a
    /// full disk, say): a writer that must know its file is whole closes it this way, not by <see cref="Dispose"/>.
    /// </summary>
    public void Close()
    {
        lock (Sync)
        {
            if (fileId > 0)
            {
                // Kept when the close fails, so a later Dispose can try again.
                Check(NativeMethods.H5Fclose(fileId), "Closing the HDF5 file", Path);
                fileId = 0;
            }
        }
    }

    /// <summary>
    /// Empties the file at <paramref name="path"/> on disk without opening it (truncate(2): libhdf5 locks the files it
    /// writes). A writer giving up a file it could not write (a full disk) calls it first, so the space comes back even
    /// while libhdf5 still holds the file open with data it could not flush, and its closes can then finish.
    /// </summary>
    public static void Empty(string path)
    {
        if (NativeMethods.Truncate(path, 0) != 0)
        {
            throw new IOException($"Emptying {path} failed: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>
    /// Makes the written file at <paramref name="path"/> durable (fsync(2)) without taking a lock on it; throws an
    /// <see cref="IOException"/> when the kernel reports that its data could not be written.
    /// </summary>
    public static void SyncToDisk(string path)
    {
        var fd = NativeMethods.Open(path, 0);
        if (fd < 0)
        {
            throw new IOException($"Opening {path} to sync it failed: errno {Marshal.GetLastPInvokeError()}.");
        }

        try
        {
            if (NativeMethods.Fsync(fd) != 0)
            {
                throw new IOException($"Syncing {path} to disk failed: errno {Marshal.GetLastPInvokeError()}.");
            }
        }
        finally
        {
            _ = NativeMethods.Close(fd);
        }
    }

    /// <summary>Closes the file if it is open, ignoring errors (use <see cref="Close"/> to see them).</summary>
    public void Dispose()
    {
        lock (Sync)
        {
            if (fileId > 0)
            {
                _ = NativeMethods.H5Fclose(fileId);
                fileId = 0;
            }
        }
    }

    /// <summary>True when every link on <paramref name="path"/> exists ("/" always does).</summary>
    public bool Exists(string path) => GetObjectKind(path) != Hdf5ObjectKind.None;

    /// <summary>Whether <paramref name="path"/> names a group, a dataset, something else, or nothing.</summary>
    public Hdf5ObjectKind GetObjectKind(string path)
    {
        lock (Sync)
        {
            if (!LinkExists(path))
            {
                return Hdf5ObjectKind.None;
            }

            using var obj = new H5Id(NativeMethods.H5Oopen(Id, path, Default), H5Kind.Object, "H5Oopen", Where(path));
            return NativeMethods.H5Iget_type(obj) switch
            {
                IdGroup => Hdf5ObjectKind.Group,
                IdDataset => Hdf5ObjectKind.Dataset,
                _ => Hdf5ObjectKind.Other,
            };
        }
    }

    /// <summary>Creates a group and any missing parents; an existing group is left as it is.</summary>
    public void CreateGroup(string path)
    {
        lock (Sync)
        {
            if (LinkExists(path))
            {
                return;
            }

            using var group = new H5Id(NativeMethods.H5Gcreate2(Id, path, IntermediateGroups, Default, Default), H5Kind.Group, "Creating a group", Where(path));
        }
    }

    /// <summary>Removes a link (a dataset or group name); the space is not reclaimed until the file is repacked.</summary>
    public void Delete(string path)
    {
        lock (Sync)
        {
            Check(NativeMethods.H5Ldelete(Id, path, Default), "H5Ldelete", Where(path));
        }
    }

    /// <summary>Renames a link (a dataset or a whole group, cheaply: no data moves); the target's parent must exist.</summary>
    public void Move(string from, string to)
    {
        lock (Sync)
        {
            Check(NativeMethods.H5Lmove(Id, from, Id, to, Default, Default), "H5Lmove", Where(from));
        }
    }

    /// <summary>
    /// Adds a second name for an existing dataset or group (an HDF5 hard link: one object, two paths, no data copied), as
    /// NeXus links one dataset into several entries; missing parent groups of <paramref name="linkPath"/> are created.
    /// </summary>
    public void Link(string target, string linkPath)
    {
        var parent = linkPath[..Math.Max(0, linkPath.LastIndexOf('/'))];
        if (parent.Length > 0)
        {
            CreateGroup(parent);
        }

        lock (Sync)
        {
            Check(NativeMethods.H5Lcreate_hard(Id, target, Id, linkPath, Default, Default), "H5Lcreate_hard", Where(linkPath));
        }
    }

    /// <summary>The names of a group's members in name order.</summary>
    public IReadOnlyList<string> ListChildren(string groupPath)
    {
        lock (Sync)
        {
            using var group = new H5Id(NativeMethods.H5Gopen2(Id, groupPath, Default), H5Kind.Group, "Opening a group", Where(groupPath));
            Check(NativeMethods.H5Gget_info(group, out var info), "H5Gget_info", Where(groupPath));
            var names = new List<string>((int)info.LinkCount);
            for (ulong i = 0; i < info.LinkCount; i++)
            {
                var length = (int)NativeMethods.H5Lget_name_by_idx(group, ".", 0, 0, i, null, 0, Default);
                Check(length, "H5Lget_name_by_idx", Where(groupPath));
                var buffer = new byte[length + 1];
                fixed (byte* p = buffer)
                {
                    NativeMethods.H5Lget_name_by_idx(group, ".", 0, 0, i, p, (nuint)buffer.Length, Default);
                }

                names.Add(Utf8(buffer));
            }

            return names;
        }
    }

    internal string Where(string objectPath) => $"{Path}:{objectPath}";

    /// <summary>H5Lexists fails rather than answering false when a parent is missing, so walk the path.</summary>
    private bool LinkExists(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var prefix = string.Empty;
        foreach (var part in parts)
        {
            prefix += "/" + part;
            if (NativeMethods.H5Lexists(Id, prefix, Default) <= 0)
            {
                _ = NativeMethods.H5Eclear2(Default);
                return false;
            }
        }

        return true;
    }

    private static long[] ToLongs(ReadOnlySpan<ulong> dims)
    {
        var result = new long[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            result[i] = dims[i] == Unlimited ? -1 : (long)dims[i];
        }

        return result;
    }

    /// <summary>Reads rank and dims of a dataspace; a scalar has rank 0.</summary>
    internal static (ulong[] Dims, ulong[] MaxDims) Extent(long space, string where)
    {
        var rank = Check(NativeMethods.H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims", where);
        var dims = new ulong[rank];
        var maxDims = new ulong[rank];
        fixed (ulong* d = dims, m = maxDims)
        {
            Check(NativeMethods.H5Sget_simple_extent_dims(space, d, m), "H5Sget_simple_extent_dims", where);
        }

        return (dims, maxDims);
    }

    internal static Hdf5ElementType ElementTypeOf(long type)
    {
        var size = (int)NativeMethods.H5Tget_size(type);
        return NativeMethods.H5Tget_class(type) switch
        {
            ClassString => Hdf5ElementType.String,
            ClassFloat when size == 4 => Hdf5ElementType.Float32,
            ClassFloat when size == 8 => Hdf5ElementType.Float64,
            ClassInteger => (size, NativeMethods.H5Tget_sign(type) == SignNone) switch
            {
                (1, false) => Hdf5ElementType.Int8,
                (1, true) => Hdf5ElementType.UInt8,
                (2, false) => Hdf5ElementType.Int16,
                (2, true) => Hdf5ElementType.UInt16,
                (4, false) => Hdf5ElementType.Int32,
                (4, true) => Hdf5ElementType.UInt32,
                (8, false) => Hdf5ElementType.Int64,
                (8, true) => Hdf5ElementType.UInt64,
                _ => Hdf5ElementType.Other,
            },
            _ => Hdf5ElementType.Other,
        };
    }

    // The client data read per filter (bitshuffle uses 5; a longer list is cut here).
    private const int MaxFilterParameters = 16;

    /// <summary>Describes an open dataset (caller holds the lock).</summary>
    internal static Hdf5DatasetInfo Describe(long dataset, string path, string where)
    {
        using var space = new H5Id(NativeMethods.H5Dget_space(dataset), H5Kind.Space, "H5Dget_space", where);
        using var type = new H5Id(NativeMethods.H5Dget_type(dataset), H5Kind.Type, "H5Dget_type", where);
        using var dcpl = new H5Id(NativeMethods.H5Dget_create_plist(dataset), H5Kind.PropertyList, "H5Dget_create_plist", where);
        var (dims, maxDims) = Extent(space, where);
        long[]? chunk = null;
        if (NativeMethods.H5Pget_layout(dcpl) == LayoutChunked)
        {
            var chunkDims = new ulong[dims.Length];
            fixed (ulong* c = chunkDims)
            {
                Check(NativeMethods.H5Pget_chunk(dcpl, chunkDims.Length, c), "H5Pget_chunk", where);
            }

            chunk = ToLongs(chunkDims);
        }

        var filterCount = Check(NativeMethods.H5Pget_nfilters(dcpl), "H5Pget_nfilters", where);
        var filters = new int[filterCount];
        var parameters = new uint[filterCount][];
        uint* values = stackalloc uint[MaxFilterParameters];
        for (var i = 0; i < filterCount; i++)
        {
            nuint cdCount = MaxFilterParameters;
            filters[i] = Check(NativeMethods.H5Pget_filter2(dcpl, (uint)i, out _, ref cdCount, values, 0, null, out _), "H5Pget_filter2", where);
            parameters[i] = new ReadOnlySpan<uint>(values, (int)Math.Min(cdCount, MaxFilterParameters)).ToArray();
        }

        var elementType = ElementTypeOf(type);
        var size = elementType == Hdf5ElementType.String && NativeMethods.H5Tis_variable_str(type) > 0 ? 0 : (int)NativeMethods.H5Tget_size(type);
        var littleEndian = elementType == Hdf5ElementType.String || NativeMethods.H5Tget_order(type) == OrderLittleEndian;
        return new Hdf5DatasetInfo(path, ToLongs(dims), ToLongs(maxDims), elementType, size, littleEndian, chunk, filters, parameters);
    }

    /// <summary>Shape, element type, chunking and filters of a dataset.</summary>
    public Hdf5DatasetInfo GetDatasetInfo(string path)
    {
        lock (Sync)
        {
            using var dataset = OpenDataset(path);
            return Describe(dataset, path, Where(path));
        }
    }

    internal H5Id OpenDataset(string path) =>
        new(NativeMethods.H5Dopen2(Id, path, Default), H5Kind.Dataset, "Opening a dataset", Where(path));

    /// <summary>
    /// Reads a whole numeric dataset, converting to <typeparamref name="T"/> (e.g. int16 pixels as float). Supported:
    /// float, double, long, ulong, int, uint, short, ushort, sbyte, byte.
    /// </summary>
    public T[] ReadDataset<T>(string path)
        where T : unmanaged
    {
        lock (Sync)
        {
            using var dataset = OpenDataset(path);
            var info = Describe(dataset, path, Where(path));
            RequireNumeric(info);

            // A mask, dark or flat compressed with a filter nothing here applies is named, not left to "can't open plugin".
            Internal.FrameChunkReader.RequireAvailableFilters(info, Where(path));
            var result = new T[checked((int)info.ElementCount)];
            fixed (T* p = result)
            {
                Check(NativeMethods.H5Dread(dataset, NativeType<T>(), Default, Default, Default, p), "H5Dread", Where(path));
            }

            return result;
        }
    }

    /// <summary>Reads a scalar or the first element of a numeric dataset.</summary>
    public T ReadScalar<T>(string path)
        where T : unmanaged
    {
        var values = ReadDataset<T>(path);
        return values.Length > 0 ? values[0] : throw new Hdf5Exception($"Dataset {Where(path)} is empty.", Where(path), string.Empty);
    }

    private void RequireNumeric(Hdf5DatasetInfo info)
    {
        if (info.ElementType is Hdf5ElementType.String or Hdf5ElementType.Other)
        {
            throw new Hdf5Exception($"Dataset {Where(info.Path)} holds {info.ElementType} elements, not numbers.", Where(info.Path), string.Empty);
        }
    }

    /// <summary>Writes a 1-D dataset.</summary>
    public void WriteDataset<T>(string path, T[] data, int deflateLevel = 0)
        where T : unmanaged
    {
        WriteDataset(path, (ReadOnlySpan<T>)data, [data.Length], deflateLevel);
    }

    /// <summary>Writes a 2-D dataset from a row-major array.</summary>
    public void WriteDataset<T>(string path, T[,] data, int deflateLevel = 0)
        where T : unmanaged
    {
        var span = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(data)), data.Length);
        WriteDataset(path, span, [data.GetLength(0), data.GetLength(1)], deflateLevel);
    }

    /// <summary>
    /// Writes a dataset of any rank from row-major data. With <paramref name="deflateLevel"/> &gt; 0 the dataset is
    /// chunked (whole rows, about 1 MiB per chunk) and gzip-compressed.
    /// </summary>
    public void WriteDataset<T>(string path, ReadOnlySpan<T> data, ReadOnlySpan<long> shape, int deflateLevel = 0)
        where T : unmanaged
    {
        var dims = new ulong[shape.Length];
        long count = 1;
        for (var i = 0; i < shape.Length; i++)
        {
            dims[i] = checked((ulong)shape[i]);
            count *= shape[i];
        }

        if (count != data.Length)
        {
            throw new ArgumentException($"Shape [{string.Join(", ", shape.ToArray())}] holds {count} elements but {data.Length} were given.", nameof(data));
        }

        ulong[]? chunk = null;
        if (deflateLevel > 0 && count > 0)
        {
            chunk = (ulong[])dims.Clone();
            var rowElements = Math.Max(1L, count / Math.Max(1L, shape[0]));
            chunk[0] = (ulong)Math.Clamp((1 << 20) / (rowElements * sizeof(T)), 1L, shape[0]);
        }

        lock (Sync)
        {
            using var dataset = CreateDatasetCore(path, NativeType<T>(), dims, dims, chunk, deflateLevel, fill: null);
            fixed (T* p = data)
            {
                Check(NativeMethods.H5Dwrite(dataset, NativeType<T>(), Default, Default, Default, p), "H5Dwrite", Where(path));
            }
        }
    }

    /// <summary>Creates a dataset (caller holds the lock). A null <paramref name="chunk"/> means contiguous.</summary>
    internal H5Id CreateDatasetCore(string path, long type, ulong[] dims, ulong[] maxDims, ulong[]? chunk, int deflateLevel, void* fill)
    {
        var where = Where(path);
        using var dcpl = new H5Id(NativeMethods.H5Pcreate(DatasetCreateClass), H5Kind.PropertyList, "H5Pcreate", where);
        if (chunk is not null)
        {
            fixed (ulong* c = chunk)
            {
                Check(NativeMethods.H5Pset_chunk(dcpl, chunk.Length, c), "H5Pset_chunk", where);
            }

            if (deflateLevel > 0)
            {
                Check(NativeMethods.H5Pset_deflate(dcpl, (uint)deflateLevel), "H5Pset_deflate", where);
            }
        }

        if (fill is not null)
        {
            Check(NativeMethods.H5Pset_fill_value(dcpl, type, fill), "H5Pset_fill_value", where);
        }

        fixed (ulong* d = dims, m = maxDims)
        {
            using var space = new H5Id(NativeMethods.H5Screate_simple(dims.Length, d, m), H5Kind.Space, "H5Screate_simple", where);
            return new H5Id(NativeMethods.H5Dcreate2(Id, path, type, space, IntermediateGroups, dcpl, Default), H5Kind.Dataset, "Creating a dataset", where);
        }
    }

    /// <summary>Creates a growing (rows × <paramref name="columns"/>) dataset, e.g. frames × bins for results.</summary>
    /// <param name="path">Dataset path; missing groups are created.</param>
    /// <param name="columns">Fixed row length.</param>
    /// <param name="chunkRows">Rows per chunk (e.g. 16–64: one chunk of about 0.1–1 MiB).</param>
    /// <param name="deflateLevel">0 for no compression, 1–9 for gzip.</param>
    /// <remarks>Rows never written read back as the fill value: NaN for float and double, 0 for integers.</remarks>
    public ExtendibleDataset2D<T> CreateExtendible2D<T>(string path, int columns, int chunkRows, int deflateLevel)
        where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        var fill = default(T) switch
        {
            float => (T)(object)float.NaN,
            double => (T)(object)double.NaN,
            _ => default,
        };
        lock (Sync)
        {
            var dataset = CreateDatasetCore(path, NativeType<T>(), [0, (ulong)columns], [Unlimited, (ulong)columns], [(ulong)chunkRows, (ulong)columns], deflateLevel, &fill);
            return new ExtendibleDataset2D<T>(this, path, dataset.Value, columns, rows: 0);
        }
    }

    /// <summary>Opens a dataset made by <see cref="CreateExtendible2D{T}"/> to read it or to write more rows.</summary>
    public ExtendibleDataset2D<T> OpenExtendible2D<T>(string path)
        where T : unmanaged
    {
        lock (Sync)
        {
            var dataset = OpenDataset(path);
            try
            {
                var info = Describe(dataset, path, Where(path));
                if (info.Rank != 2)
                {
                    throw new Hdf5Exception($"Dataset {Where(path)} has rank {info.Rank}, not 2.", Where(path), string.Empty);
                }

                RequireNumeric(info);
                return new ExtendibleDataset2D<T>(this, path, dataset.Value, checked((int)info.Shape[1]), info.Shape[0]);
            }
            catch
            {
                dataset.Dispose();
                throw;
            }
        }
    }
}
