namespace Anvil.Hdf5.Native;

/// <summary>What kind of HDF5 id an <see cref="H5Id"/> holds, i.e. which close function frees it.</summary>
internal enum H5Kind
{
    Object,
    Dataset,
    Group,
    Space,
    Type,
    Attribute,
    PropertyList,
}

/// <summary>
/// A short-lived HDF5 id closed by <c>using</c>. Create it only inside <see cref="Hdf5Library.Sync"/>; the constructor
/// throws <see cref="Hdf5Exception"/> with the error stack when the id is invalid.
/// </summary>
internal readonly struct H5Id : IDisposable
{
    private readonly H5Kind kind;

    public H5Id(long value, H5Kind kind, string what, string? path)
    {
        Value = Hdf5Library.Check(value, what, path);
        this.kind = kind;
    }

    public long Value { get; }

    public static implicit operator long(H5Id id) => id.Value;

    public long ToInt64() => Value;

    public void Dispose()
    {
        if (Value <= 0)
        {
            return;
        }

        _ = kind switch
        {
            H5Kind.Dataset => NativeMethods.H5Dclose(Value),
            H5Kind.Group => NativeMethods.H5Gclose(Value),
            H5Kind.Space => NativeMethods.H5Sclose(Value),
            H5Kind.Type => NativeMethods.H5Tclose(Value),
            H5Kind.Attribute => NativeMethods.H5Aclose(Value),
            H5Kind.PropertyList => NativeMethods.H5Pclose(Value),
            _ => NativeMethods.H5Oclose(Value),
        };
    }
}
