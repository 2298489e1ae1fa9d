using System.Runtime.InteropServices;

namespace Anvil.Hdf5.Native;

/// <summary>
/// The libhdf5 1.10 C API entry points Anvil uses. "hdf5" is a logical name that <see cref="Hdf5Library"/> maps to
/// Debian's <c>libhdf5_serial.so.103</c>. Every call must go through <see cref="Hdf5Library"/> first, which loads and
/// opens the library. hid_t is 64-bit, herr_t and htri_t are int, hsize_t is ulong.
/// </summary>
internal static unsafe partial class NativeMethods
{
    private const string Lib = "hdf5";

    // The C library: truncate(2) and fsync(2) on a path, without the advisory lock .NET takes when it opens a file (libhdf5
    // locks the files it writes, and may hold one a little longer than the file's own handle).
    [LibraryImport("libc.so.6", EntryPoint = "truncate", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Truncate(string path, long length);

    [LibraryImport("libc.so.6", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(int fd);

    [LibraryImport("libc.so.6", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    // Library and error stack.
    [LibraryImport(Lib)] internal static partial int H5open();
    [LibraryImport(Lib)] internal static partial int H5Eset_auto2(long estackId, nint func, nint clientData);
    [LibraryImport(Lib)] internal static partial int H5Ewalk2(long estackId, int direction, delegate* unmanaged<uint, H5EError2*, nint, int> func, nint clientData);
    [LibraryImport(Lib)] internal static partial int H5Eclear2(long estackId);

    // Files.
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Fcreate(string name, uint flags, long fcpl, long fapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Fopen(string name, uint flags, long fapl);
    [LibraryImport(Lib)] internal static partial int H5Fclose(long fileId);
    [LibraryImport(Lib)] internal static partial int H5Fflush(long objectId, int scope);
    [LibraryImport(Lib)] internal static partial int H5Fstart_swmr_write(long fileId);

    // Groups, links, objects.
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Gcreate2(long loc, string name, long lcpl, long gcpl, long gapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Gopen2(long loc, string name, long gapl);
    [LibraryImport(Lib)] internal static partial int H5Gclose(long groupId);
    [LibraryImport(Lib)] internal static partial int H5Gget_info(long groupId, out H5GInfo info);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Lexists(long loc, string name, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial nint H5Lget_name_by_idx(long loc, string groupName, int indexType, int order, ulong n, byte* name, nuint size, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Ldelete(long loc, string name, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Lcreate_hard(long curLoc, string curName, long dstLoc, string dstName, long lcpl, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Lmove(long srcLoc, string srcName, long dstLoc, string dstName, long lcpl, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Oopen(long loc, string name, long lapl);
    [LibraryImport(Lib)] internal static partial int H5Oclose(long objectId);
    [LibraryImport(Lib)] internal static partial int H5Iget_type(long id);

    // Datasets.
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Dcreate2(long loc, string name, long type, long space, long lcpl, long dcpl, long dapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Dopen2(long loc, string name, long dapl);
    [LibraryImport(Lib)] internal static partial int H5Dclose(long datasetId);
    [LibraryImport(Lib)] internal static partial long H5Dget_space(long datasetId);
    [LibraryImport(Lib)] internal static partial long H5Dget_type(long datasetId);
    [LibraryImport(Lib)] internal static partial long H5Dget_create_plist(long datasetId);
    [LibraryImport(Lib)] internal static partial int H5Dread(long datasetId, long memType, long memSpace, long fileSpace, long xfer, void* buffer);
    [LibraryImport(Lib)] internal static partial int H5Dwrite(long datasetId, long memType, long memSpace, long fileSpace, long xfer, void* buffer);
    [LibraryImport(Lib)] internal static partial int H5Dset_extent(long datasetId, ulong* dims);
    [LibraryImport(Lib)] internal static partial int H5Drefresh(long datasetId);
    [LibraryImport(Lib)] internal static partial int H5Dget_chunk_storage_size(long datasetId, ulong* offset, out ulong bytes);
    [LibraryImport(Lib)] internal static partial int H5Dread_chunk(long datasetId, long dxpl, ulong* offset, out uint filterMask, void* buffer);
    [LibraryImport(Lib)] internal static partial int H5Dwrite_chunk(long datasetId, long dxpl, uint filterMask, ulong* offset, nuint size, void* buffer);
    [LibraryImport(Lib)] internal static partial int H5Dvlen_reclaim(long type, long space, long xfer, void* buffer);

    // Dataspaces.
    [LibraryImport(Lib)] internal static partial long H5Screate(int type);
    [LibraryImport(Lib)] internal static partial long H5Screate_simple(int rank, ulong* dims, ulong* maxDims);
    [LibraryImport(Lib)] internal static partial int H5Sclose(long spaceId);
    [LibraryImport(Lib)] internal static partial int H5Sget_simple_extent_ndims(long spaceId);
    [LibraryImport(Lib)] internal static partial int H5Sget_simple_extent_dims(long spaceId, ulong* dims, ulong* maxDims);
    [LibraryImport(Lib)] internal static partial int H5Sselect_hyperslab(long spaceId, int op, ulong* start, ulong* stride, ulong* count, ulong* block);

    // Datatypes.
    [LibraryImport(Lib)] internal static partial long H5Tcopy(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tclose(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tset_size(long typeId, nuint size);
    [LibraryImport(Lib)] internal static partial nuint H5Tget_size(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tset_cset(long typeId, int cset);
    [LibraryImport(Lib)] internal static partial int H5Tget_cset(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tget_class(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tget_sign(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tget_order(long typeId);
    [LibraryImport(Lib)] internal static partial int H5Tis_variable_str(long typeId);

    // Property lists and filters.
    [LibraryImport(Lib)] internal static partial long H5Pcreate(long classId);
    [LibraryImport(Lib)] internal static partial int H5Pclose(long plistId);
    [LibraryImport(Lib)] internal static partial int H5Pset_chunk(long plistId, int rank, ulong* dims);
    [LibraryImport(Lib)] internal static partial int H5Pget_chunk(long plistId, int maxRank, ulong* dims);
    [LibraryImport(Lib)] internal static partial int H5Pget_layout(long plistId);
    [LibraryImport(Lib)] internal static partial int H5Pset_deflate(long plistId, uint level);
    [LibraryImport(Lib)] internal static partial int H5Pget_nfilters(long plistId);
    [LibraryImport(Lib)] internal static partial int H5Pget_filter2(long plistId, uint index, out uint flags, ref nuint cdCount, uint* cdValues, nuint nameLength, byte* name, out uint config);
    [LibraryImport(Lib)] internal static partial int H5Pset_fill_value(long plistId, long type, void* value);
    [LibraryImport(Lib)] internal static partial int H5Pset_create_intermediate_group(long plistId, uint create);
    [LibraryImport(Lib)] internal static partial int H5Pset_libver_bounds(long plistId, int low, int high);
    [LibraryImport(Lib)] internal static partial int H5Pset_file_locking(long plistId, [MarshalAs(UnmanagedType.U1)] bool useLocking, [MarshalAs(UnmanagedType.U1)] bool ignoreWhenDisabled);
    [LibraryImport(Lib)] internal static partial int H5Zfilter_avail(int filterId);

    // Attributes.
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Acreate_by_name(long loc, string objectName, string attributeName, long type, long space, long acpl, long aapl, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Aopen_by_name(long loc, string objectName, string attributeName, long aapl, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Aexists_by_name(long loc, string objectName, string attributeName, long lapl);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Adelete_by_name(long loc, string objectName, string attributeName, long lapl);
    [LibraryImport(Lib)] internal static partial int H5Aclose(long attributeId);
    [LibraryImport(Lib)] internal static partial long H5Aget_space(long attributeId);
    [LibraryImport(Lib)] internal static partial long H5Aget_type(long attributeId);
    [LibraryImport(Lib)] internal static partial int H5Aread(long attributeId, long memType, void* buffer);
    [LibraryImport(Lib)] internal static partial int H5Awrite(long attributeId, long memType, void* buffer);
}

/// <summary>H5E_error2_t: one entry of the error stack.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct H5EError2
{
    public long ClassId;
    public long MajorId;
    public long MinorId;
    public uint Line;
    public byte* FunctionName;
    public byte* FileName;
    public byte* Description;
}

/// <summary>H5G_info_t.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct H5GInfo
{
    public int StorageType;
    public ulong LinkCount;
    public long MaxCreationOrder;
    public byte Mounted;
}
