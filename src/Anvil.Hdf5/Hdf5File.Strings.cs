using System.Runtime.InteropServices;
using System.Text;
using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>Strings and attributes, stored the way h5py stores a Python str: variable-length UTF-8.</summary>
public sealed unsafe partial class Hdf5File
{
    /// <summary>Writes a scalar variable-length UTF-8 string dataset (what h5py reads back as one str, e.g. DIOPTAS's cal_file).</summary>
    public void WriteString(string path, string value)
    {
        lock (Sync)
        {
            using var space = new H5Id(NativeMethods.H5Screate(ScalarSpace), H5Kind.Space, "H5Screate", Where(path));
            WriteStringsCore(path, [value], space, CsetUtf8, chunk: null);
        }
    }

    /// <summary>Writes a 1-D variable-length UTF-8 string dataset (e.g. DIOPTAS's processed/process/files).</summary>
    public void WriteStrings(string path, IReadOnlyList<string> values)
    {
        lock (Sync)
        {
            ulong[] dims = [(ulong)values.Count];
            fixed (ulong* d = dims)
            {
                using var space = new H5Id(NativeMethods.H5Screate_simple(1, d, d), H5Kind.Space, "H5Screate_simple", Where(path));
                WriteStringsCore(path, values, space, CsetUtf8, chunk: null);
            }
        }
    }

    /// <summary>Writes a string dataset over a given space (caller holds the lock); chunked when <paramref name="chunk"/> is set.</summary>
    internal void WriteStringsCore(string path, IReadOnlyList<string> values, long space, int cset, ulong[]? chunk)
    {
        var where = Where(path);
        using var type = VariableStringType(cset, where);
        using var dcpl = new H5Id(NativeMethods.H5Pcreate(DatasetCreateClass), H5Kind.PropertyList, "H5Pcreate", where);
        if (chunk is not null)
        {
            fixed (ulong* c = chunk)
            {
                Check(NativeMethods.H5Pset_chunk(dcpl, chunk.Length, c), "H5Pset_chunk", where);
            }
        }

        using var dataset = new H5Id(NativeMethods.H5Dcreate2(Id, path, type, space, IntermediateGroups, dcpl, Default), H5Kind.Dataset, "Creating a string dataset", where);
        var pointers = ToUtf8(values);
        try
        {
            fixed (nint* p = pointers)
            {
                Check(NativeMethods.H5Dwrite(dataset, type, Default, Default, Default, p), "H5Dwrite", where);
            }
        }
        finally
        {
            Free(pointers);
        }
    }

    /// <summary>Reads a string dataset (variable- or fixed-length, any rank) as a flat array.</summary>
    public string[] ReadStrings(string path)
    {
        lock (Sync)
        {
            using var dataset = OpenDataset(path);
            return ReadStringsCore(dataset, attribute: false, Where(path));
        }
    }

    /// <summary>Reads a scalar string dataset, or the first element of a string array (Lambda stores (1,) arrays).</summary>
    public string ReadString(string path)
    {
        var values = ReadStrings(path);
        return values.Length > 0 ? values[0] : throw new Hdf5Exception($"String dataset {Where(path)} is empty.", Where(path), string.Empty);
    }

    /// <summary>Sets (replaces) a scalar string attribute.</summary>
    public void SetAttribute(string path, string name, string value)
    {
        lock (Sync)
        {
            using var space = new H5Id(NativeMethods.H5Screate(ScalarSpace), H5Kind.Space, "H5Screate", Where(path));
            WriteStringAttribute(path, name, [value], space, CsetUtf8);
        }
    }

    /// <summary>Sets (replaces) a 1-D string-array attribute, e.g. NXdata's axes = [".", "binning"].</summary>
    public void SetAttribute(string path, string name, IReadOnlyList<string> values)
    {
        lock (Sync)
        {
            ulong[] dims = [(ulong)values.Count];
            fixed (ulong* d = dims)
            {
                using var space = new H5Id(NativeMethods.H5Screate_simple(1, d, d), H5Kind.Space, "H5Screate_simple", Where(path));
                WriteStringAttribute(path, name, values, space, CsetUtf8);
            }
        }
    }

    /// <summary>Sets (replaces) a scalar float64 attribute.</summary>
    public void SetAttribute(string path, string name, double value) => SetNumericAttribute(path, name, new ReadOnlySpan<double>(in value), scalar: true);

    /// <summary>Sets (replaces) a scalar int64 attribute.</summary>
    public void SetAttribute(string path, string name, long value) => SetNumericAttribute(path, name, new ReadOnlySpan<long>(in value), scalar: true);

    /// <summary>Sets (replaces) a 1-D numeric attribute.</summary>
    public void SetAttribute<T>(string path, string name, ReadOnlySpan<T> values)
        where T : unmanaged => SetNumericAttribute(path, name, values, scalar: false);

    /// <summary>True when the object at <paramref name="path"/> has attribute <paramref name="name"/>.</summary>
    public bool HasAttribute(string path, string name)
    {
        lock (Sync)
        {
            return Check(NativeMethods.H5Aexists_by_name(Id, path, name, Default), "H5Aexists_by_name", Where(path)) > 0;
        }
    }

    /// <summary>Reads a string attribute (scalar, or the first element of an array).</summary>
    public string GetAttributeString(string path, string name)
    {
        var values = GetAttributeStrings(path, name);
        return values.Length > 0 ? values[0] : throw new Hdf5Exception($"Attribute {name} of {Where(path)} is empty.", Where(path), string.Empty);
    }

    /// <summary>Reads a string attribute, or returns null when the object or attribute is missing or not a string.</summary>
    public string? TryGetAttributeString(string path, string name)
    {
        if (!Exists(path) || !HasAttribute(path, name))
        {
            return null;
        }

        lock (Sync)
        {
            using var attribute = new H5Id(NativeMethods.H5Aopen_by_name(Id, path, name, Default, Default), H5Kind.Attribute, "H5Aopen_by_name", Where(path));
            using var type = new H5Id(NativeMethods.H5Aget_type(attribute), H5Kind.Type, "H5Aget_type", Where(path));
            if (NativeMethods.H5Tget_class(type) != ClassString)
            {
                return null;
            }

            var values = ReadStringsCore(attribute, attribute: true, Where(path));
            return values.Length > 0 ? values[0] : null;
        }
    }

    /// <summary>Reads all elements of a string attribute.</summary>
    public string[] GetAttributeStrings(string path, string name)
    {
        lock (Sync)
        {
            using var attribute = new H5Id(NativeMethods.H5Aopen_by_name(Id, path, name, Default, Default), H5Kind.Attribute, $"Opening attribute {name}", Where(path));
            return ReadStringsCore(attribute, attribute: true, Where(path));
        }
    }

    /// <summary>Reads a numeric attribute's elements, converted to <typeparamref name="T"/>.</summary>
    public T[] GetAttribute<T>(string path, string name)
        where T : unmanaged
    {
        lock (Sync)
        {
            var where = Where(path);
            using var attribute = new H5Id(NativeMethods.H5Aopen_by_name(Id, path, name, Default, Default), H5Kind.Attribute, $"Opening attribute {name}", where);
            using var space = new H5Id(NativeMethods.H5Aget_space(attribute), H5Kind.Space, "H5Aget_space", where);
            var (dims, _) = Extent(space, where);
            var result = new T[Count(dims)];
            fixed (T* p = result)
            {
                Check(NativeMethods.H5Aread(attribute, NativeType<T>(), p), $"Reading attribute {name}", where);
            }

            return result;
        }
    }

    /// <summary>Reads a numeric attribute as a double (scalar or first element).</summary>
    public double GetAttributeDouble(string path, string name) => First(GetAttribute<double>(path, name), path, name);

    /// <summary>Reads a numeric attribute as a long (scalar or first element).</summary>
    public long GetAttributeLong(string path, string name) => First(GetAttribute<long>(path, name), path, name);

    private T First<T>(T[] values, string path, string name) =>
        values.Length > 0 ? values[0] : throw new Hdf5Exception($"Attribute {name} of {Where(path)} is empty.", Where(path), string.Empty);

    private void SetNumericAttribute<T>(string path, string name, ReadOnlySpan<T> values, bool scalar)
        where T : unmanaged
    {
        lock (Sync)
        {
            var where = Where(path);
            ulong[] dims = [(ulong)values.Length];
            fixed (ulong* d = dims)
            {
                using var space = new H5Id(scalar ? NativeMethods.H5Screate(ScalarSpace) : NativeMethods.H5Screate_simple(1, d, d), H5Kind.Space, "H5Screate", where);
                using var attribute = ReplaceAttribute(path, name, NativeType<T>(), space);
                fixed (T* p = values)
                {
                    Check(NativeMethods.H5Awrite(attribute, NativeType<T>(), p), $"Writing attribute {name}", where);
                }
            }
        }
    }

    /// <summary>Writes a string attribute (caller holds the lock); <paramref name="cset"/> is ASCII or UTF-8.</summary>
    internal void WriteStringAttribute(string path, string name, IReadOnlyList<string> values, long space, int cset)
    {
        var where = Where(path);
        using var type = VariableStringType(cset, where);
        using var attribute = ReplaceAttribute(path, name, type, space);
        var pointers = ToUtf8(values);
        try
        {
            fixed (nint* p = pointers)
            {
                Check(NativeMethods.H5Awrite(attribute, type, p), $"Writing attribute {name}", where);
            }
        }
        finally
        {
            Free(pointers);
        }
    }

    private H5Id ReplaceAttribute(string path, string name, long type, long space)
    {
        var where = Where(path);
        if (Check(NativeMethods.H5Aexists_by_name(Id, path, name, Default), "H5Aexists_by_name", where) > 0)
        {
            Check(NativeMethods.H5Adelete_by_name(Id, path, name, Default), "H5Adelete_by_name", where);
        }

        return new H5Id(NativeMethods.H5Acreate_by_name(Id, path, name, type, space, Default, Default, Default), H5Kind.Attribute, $"Creating attribute {name}", where);
    }

    internal static H5Id VariableStringType(int cset, string where)
    {
        var type = new H5Id(NativeMethods.H5Tcopy(CString), H5Kind.Type, "H5Tcopy", where);
        Check(NativeMethods.H5Tset_size(type, Variable), "H5Tset_size", where);
        Check(NativeMethods.H5Tset_cset(type, cset), "H5Tset_cset", where);
        return type;
    }

    /// <summary>Reads every element of a string dataset or attribute (caller holds the lock).</summary>
    internal static string[] ReadStringsCore(long obj, bool attribute, string where)
    {
        using var type = new H5Id(attribute ? NativeMethods.H5Aget_type(obj) : NativeMethods.H5Dget_type(obj), H5Kind.Type, "Getting the datatype", where);
        using var space = new H5Id(attribute ? NativeMethods.H5Aget_space(obj) : NativeMethods.H5Dget_space(obj), H5Kind.Space, "Getting the dataspace", where);
        if (NativeMethods.H5Tget_class(type) != ClassString)
        {
            throw new Hdf5Exception($"{where} does not hold strings.", where, string.Empty);
        }

        var (dims, _) = Extent(space, where);
        var count = Count(dims);
        var cset = NativeMethods.H5Tget_cset(type);
        var result = new string[count];
        if (NativeMethods.H5Tis_variable_str(type) > 0)
        {
            using var memoryType = VariableStringType(cset, where);
            var pointers = new nint[count];
            fixed (nint* p = pointers)
            {
                Check(attribute ? NativeMethods.H5Aread(obj, memoryType, p) : NativeMethods.H5Dread(obj, memoryType, Default, Default, Default, p), "Reading strings", where);
                try
                {
                    for (var i = 0; i < count; i++)
                    {
                        result[i] = Marshal.PtrToStringUTF8(pointers[i]) ?? string.Empty;
                    }
                }
                finally
                {
                    _ = NativeMethods.H5Dvlen_reclaim(memoryType, space, Default, p);
                }
            }

            return result;
        }

        var size = (int)NativeMethods.H5Tget_size(type);
        using var fixedType = new H5Id(NativeMethods.H5Tcopy(CString), H5Kind.Type, "H5Tcopy", where);
        Check(NativeMethods.H5Tset_size(fixedType, (nuint)size), "H5Tset_size", where);
        Check(NativeMethods.H5Tset_cset(fixedType, cset), "H5Tset_cset", where);
        var bytes = new byte[count * size];
        fixed (byte* p = bytes)
        {
            Check(attribute ? NativeMethods.H5Aread(obj, fixedType, p) : NativeMethods.H5Dread(obj, fixedType, Default, Default, Default, p), "Reading strings", where);
        }

        for (var i = 0; i < count; i++)
        {
            // Fixed-length strings are NUL-terminated, NUL-padded or space-padded.
            var element = bytes.AsSpan(i * size, size);
            var end = element.IndexOf((byte)0);
            result[i] = Encoding.UTF8.GetString(end < 0 ? element : element[..end]).TrimEnd(' ');
        }

        return result;
    }

    private static int Count(ulong[] dims)
    {
        ulong count = 1;
        foreach (var d in dims)
        {
            count *= d;
        }

        return checked((int)count);
    }

    private static nint[] ToUtf8(IReadOnlyList<string> values)
    {
        var pointers = new nint[values.Count];
        for (var i = 0; i < pointers.Length; i++)
        {
            pointers[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
        }

        return pointers;
    }

    private static void Free(nint[] pointers)
    {
        foreach (var p in pointers)
        {
            Marshal.FreeCoTaskMem(p);
        }
    }
}
