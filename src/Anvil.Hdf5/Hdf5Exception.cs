namespace Anvil.Hdf5;

/// <summary>
/// An HDF5 call failed. <see cref="Path"/> names the file (and object) involved and <see cref="Hdf5Error"/> holds the
/// library's error stack. A file still being written by a detector can fail transiently this way: callers may retry.
/// </summary>
public class Hdf5Exception : IOException
{
    public Hdf5Exception()
    {
        Hdf5Error = string.Empty;
    }

    public Hdf5Exception(string message)
        : base(message)
    {
        Hdf5Error = string.Empty;
    }

    public Hdf5Exception(string message, Exception innerException)
        : base(message, innerException)
    {
        Hdf5Error = string.Empty;
    }

    public Hdf5Exception(string message, string? path, string hdf5Error)
        : base(message)
    {
        Path = path;
        Hdf5Error = hdf5Error;
    }

    /// <summary>The file, or file and object, the failed call was about.</summary>
    public string? Path { get; }

    /// <summary>The HDF5 error stack's text, innermost (most specific) call first; empty when Anvil itself detected the failure.</summary>
    public string Hdf5Error { get; }
}

/// <summary>A dataset uses an HDF5 filter neither Anvil nor the installed libhdf5 decodes (e.g. 32001 Blosc without its plugin, bitshuffle with Zstandard). Retrying will not help.</summary>
public sealed class Hdf5UnsupportedFilterException : Hdf5Exception
{
    public Hdf5UnsupportedFilterException()
    {
    }

    public Hdf5UnsupportedFilterException(string message)
        : base(message)
    {
    }

    public Hdf5UnsupportedFilterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public Hdf5UnsupportedFilterException(string message, string? path, int filterId)
        : base(message, path, string.Empty)
    {
        FilterId = filterId;
    }

    /// <summary>The registered HDF5 filter id (1 deflate, 2 shuffle, 32001 blosc, 32004 LZ4, 32008 bitshuffle, …).</summary>
    public int FilterId { get; }
}
