using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Anvil.Hdf5.Native;

/// <summary>
/// Loads Debian's libhdf5 once, opens it, silences its error printer and reads the ids of the predefined types and
/// property-list classes (in C these are macros over exported globals that only hold valid ids after H5open).
/// <see cref="Sync"/> serialises every HDF5 call of this assembly: the library has one global lock anyway, and holding
/// ours over a short call sequence keeps the thread's error stack ours until we have read it. Decoding (inflate,
/// conversions) happens outside it.
/// </summary>
internal static unsafe class Hdf5Library
{
    /// <summary>The versioned name: Debian ships no plain libhdf5.so without the -dev package.</summary>
    public const string NativeName = "libhdf5_serial.so.103";

    public const long Default = 0; // H5P_DEFAULT, H5S_ALL, H5E_DEFAULT
    public const uint AccRdonly = 0x0000;
    public const uint AccRdwr = 0x0001;
    public const uint AccTrunc = 0x0002;
    public const uint AccSwmrWrite = 0x0020;
    public const uint AccSwmrRead = 0x0040;
    public const ulong Unlimited = ulong.MaxValue;
    public static readonly nuint Variable = nuint.MaxValue;
    public const int ScalarSpace = 0;
    public const int SelectSet = 0;
    public const int ClassInteger = 0;
    public const int ClassFloat = 1;
    public const int ClassString = 3;
    public const int SignNone = 0;
    public const int OrderLittleEndian = 0;
    public const int CsetAscii = 0;
    public const int CsetUtf8 = 1;
    public const int LayoutChunked = 2;
    public const int FilterDeflate = 1;
    public const int FilterShuffle = 2;
    public const int IdGroup = 2;
    public const int IdDataset = 5;
    public const int LibverEarliest = 0;
    public const int LibverLatest = 2;

    private static nint handle;

    static Hdf5Library()
    {
        NativeLibrary.SetDllImportResolver(typeof(Hdf5Library).Assembly, Resolve);
        handle = NativeLibrary.Load(NativeName);
        if (NativeMethods.H5open() < 0)
        {
            throw new Hdf5Exception("H5open failed: libhdf5 could not initialise.", path: null, hdf5Error: string.Empty);
        }

        // Errors are reported through exceptions with the stack's text; the default printer would write to stderr.
        _ = NativeMethods.H5Eset_auto2(Default, 0, 0);
        NativeInt8 = Global("H5T_NATIVE_SCHAR_g");
        NativeUInt8 = Global("H5T_NATIVE_UCHAR_g");
        NativeInt16 = Global("H5T_NATIVE_SHORT_g");
        NativeUInt16 = Global("H5T_NATIVE_USHORT_g");
        NativeInt32 = Global("H5T_NATIVE_INT_g");
        NativeUInt32 = Global("H5T_NATIVE_UINT_g");
        NativeInt64 = Global("H5T_NATIVE_LLONG_g");
        NativeUInt64 = Global("H5T_NATIVE_ULLONG_g");
        NativeFloat = Global("H5T_NATIVE_FLOAT_g");
        NativeDouble = Global("H5T_NATIVE_DOUBLE_g");
        CString = Global("H5T_C_S1_g");
        FileAccessClass = Global("H5P_CLS_FILE_ACCESS_ID_g");
        DatasetCreateClass = Global("H5P_CLS_DATASET_CREATE_ID_g");
        LinkCreateClass = Global("H5P_CLS_LINK_CREATE_ID_g");
        IntermediateGroups = NativeMethods.H5Pcreate(LinkCreateClass);
        _ = NativeMethods.H5Pset_create_intermediate_group(IntermediateGroups, 1);
    }

    /// <summary>The one lock around every sequence of HDF5 calls in this process.</summary>
    public static Lock Sync { get; } = new();

    public static long NativeInt8 { get; }
    public static long NativeUInt8 { get; }
    public static long NativeInt16 { get; }
    public static long NativeUInt16 { get; }
    public static long NativeInt32 { get; }
    public static long NativeUInt32 { get; }
    public static long NativeInt64 { get; }
    public static long NativeUInt64 { get; }
    public static long NativeFloat { get; }
    public static long NativeDouble { get; }
    public static long CString { get; }
    public static long FileAccessClass { get; }
    public static long DatasetCreateClass { get; }

    /// <summary>A link-creation list that creates missing parent groups, so paths like "/a/b/c" just work.</summary>
    public static long IntermediateGroups { get; }

    private static long LinkCreateClass { get; }

    /// <summary>The native type id for an unmanaged element type.</summary>
    public static long NativeType<T>()
        where T : unmanaged
    {
        return default(T) switch
        {
            float => NativeFloat,
            double => NativeDouble,
            long => NativeInt64,
            ulong => NativeUInt64,
            int => NativeInt32,
            uint => NativeUInt32,
            short => NativeInt16,
            ushort => NativeUInt16,
            sbyte => NativeInt8,
            byte => NativeUInt8,
            _ => throw new NotSupportedException($"No HDF5 native type for {typeof(T).Name}."),
        };
    }

    /// <summary>Throws <see cref="Hdf5Exception"/> with the error stack's text when an id-returning call failed.</summary>
    public static long Check(long id, string what, string? path)
    {
        if (id < 0)
        {
            throw Failure(what, path);
        }

        return id;
    }

    /// <summary>Throws <see cref="Hdf5Exception"/> when an herr_t/htri_t-returning call failed.</summary>
    public static int Check(int status, string what, string? path)
    {
        if (status < 0)
        {
            throw Failure(what, path);
        }

        return status;
    }

    /// <summary>Builds the exception for the call that just failed on this thread, then clears the error stack.</summary>
    public static Hdf5Exception Failure(string what, string? path)
    {
        var text = ErrorStackText();
        var where = path is null ? string.Empty : $" ({path})";
        return new Hdf5Exception($"{what} failed{where}: {text}", path, text);
    }

    /// <summary>A file-access list that never takes the file lock: files may still be open in a detector writer.</summary>
    public static long CreateUnlockedFileAccess()
    {
        var fapl = Check(NativeMethods.H5Pcreate(FileAccessClass), "H5Pcreate(file access)", null);
        Check(NativeMethods.H5Pset_file_locking(fapl, useLocking: false, ignoreWhenDisabled: true), "H5Pset_file_locking", null);
        return fapl;
    }

    private static string ErrorStackText()
    {
        var lines = new List<string>();
        var gc = GCHandle.Alloc(lines);
        try
        {
            _ = NativeMethods.H5Ewalk2(Default, 0, &CollectError, GCHandle.ToIntPtr(gc));
        }
        finally
        {
            gc.Free();
            _ = NativeMethods.H5Eclear2(Default);
        }

        return lines.Count == 0 ? "no HDF5 error message" : string.Join("; ", lines);
    }

    [UnmanagedCallersOnly]
    private static int CollectError(uint n, H5EError2* error, nint clientData)
    {
        var lines = (List<string>)GCHandle.FromIntPtr(clientData).Target!;
        var function = Marshal.PtrToStringUTF8((nint)error->FunctionName) ?? "?";
        var description = Marshal.PtrToStringUTF8((nint)error->Description) ?? string.Empty;
        lines.Add($"{function}(): {description}");
        return 0;
    }

    private static long Global(string name) => Marshal.ReadInt64(NativeLibrary.GetExport(handle, name));

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        return libraryName == "hdf5" ? handle : 0;
    }

    /// <summary>Reads a NUL-terminated name into a string (for link names).</summary>
    public static string Utf8(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}
