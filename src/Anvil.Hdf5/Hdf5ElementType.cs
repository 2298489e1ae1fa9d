namespace Anvil.Hdf5;

/// <summary>The element type of a dataset or attribute as stored in the file.</summary>
public enum Hdf5ElementType
{
    Other,
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
    String,
}

/// <summary>What <see cref="Hdf5File.GetObjectKind"/> finds at a path.</summary>
public enum Hdf5ObjectKind
{
    None,
    Group,
    Dataset,
    Other,
}

/// <summary>
/// Shape and storage of a dataset. <see cref="MaxShape"/> holds -1 for unlimited dimensions; <see cref="ChunkShape"/>
/// is null for contiguous or compact layouts; <see cref="Filters"/> lists the filter pipeline's ids in order and
/// <see cref="FilterParameters"/> each one's client data (<c>cd_values</c>), e.g. bitshuffle's element size and compression.
/// </summary>
public sealed record Hdf5DatasetInfo(
    string Path,
    long[] Shape,
    long[] MaxShape,
    Hdf5ElementType ElementType,
    int ElementSize,
    bool IsLittleEndian,
    long[]? ChunkShape,
    int[] Filters,
    uint[][] FilterParameters)
{
    /// <summary>The number of dimensions (0 for a scalar).</summary>
    public int Rank => Shape.Length;

    /// <summary>The number of elements (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}
