using System.Buffers;
using System.Runtime.InteropServices;
using Anvil.Hdf5.Internal;
using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>
/// A stack of 2-D images in any HDF5/NeXus file (the offline CLI's input): a (frames, rows, cols) dataset, or one
/// (rows, cols) image as a stack of one. Frames of any integer or float type are read as float32. One-frame chunks
/// (gzip, shuffle, bitshuffle-LZ4) take the same raw-chunk fast path as <see cref="LambdaModuleFile"/>; everything else
/// goes through H5Dread.
/// </summary>
public sealed unsafe class Hdf5ImageStack : IDisposable
{
    private readonly Hdf5File file;
    private readonly FrameChunkReader? reader;
    private long dataset;

    private Hdf5ImageStack(Hdf5File file, string datasetPath, long dataset, Hdf5DatasetInfo info, FrameChunkReader? reader)
    {
        this.file = file;
        this.dataset = dataset;
        this.reader = reader;
        DatasetPath = datasetPath;
        ElementType = info.ElementType;
        FrameCount = info.Rank == 3 ? info.Shape[0] : 1;
        Rows = checked((int)info.Shape[info.Rank - 2]);
        Cols = checked((int)info.Shape[info.Rank - 1]);
    }

    public string Path => file.Path;

    /// <summary>The dataset the frames come from.</summary>
    public string DatasetPath { get; }

    public long FrameCount { get; }

    public int Rows { get; }

    public int Cols { get; }

    /// <summary>The stored element type (converted to float32 on read).</summary>
    public Hdf5ElementType ElementType { get; }

    /// <summary>True when frames are read as raw chunks and decoded in .NET.</summary>
    public bool UsesChunkFastPath => reader?.FastPath == true;

    /// <summary>
    /// Opens the image stack of <paramref name="path"/>: <paramref name="datasetPath"/> when given, else the NeXus
    /// default (root @default → entry @default → NXdata @signal, or the first NXentry's NXdata with a signal), else
    /// /entry/data/data, else a Lambda module's /entry/instrument/detector/data, else the first 3-D dataset.
    /// </summary>
    public static Hdf5ImageStack Open(string path, string? datasetPath = null)
    {
        var file = Hdf5File.OpenRead(path);
        long dataset = 0;
        try
        {
            var chosen = datasetPath ?? FindImageDataset(file)
                ?? throw new Hdf5Exception($"{path} holds no image stack: no NeXus signal, no /entry/data/data and no 3-D dataset.", path, string.Empty);
            lock (Sync)
            {
                dataset = file.OpenDataset(chosen).Value;
                var info = Hdf5File.Describe(dataset, chosen, file.Where(chosen));
                if (info.Rank is not (2 or 3) || info.ElementType is Hdf5ElementType.String or Hdf5ElementType.Other)
                {
                    throw new Hdf5Exception($"{file.Where(chosen)} is a {info.Rank}-D {info.ElementType} dataset, not a stack of numeric images.", file.Where(chosen), string.Empty);
                }

                FrameChunkReader? reader = null;
                if (info.Rank == 3)
                {
                    reader = FrameChunkReader.Create(dataset, file.Where(chosen), info);
                }
                else
                {
                    FrameChunkReader.RequireAvailableFilters(info, file.Where(chosen));
                }

                return new Hdf5ImageStack(file, chosen, dataset, info, reader);
            }
        }
        catch
        {
            lock (Sync)
            {
                if (dataset > 0)
                {
                    _ = NativeMethods.H5Dclose(dataset);
                }
            }

            file.Dispose();
            throw;
        }
    }

    /// <summary>Finds the image dataset by the rules of <see cref="Open"/>, or null.</summary>
    public static string? FindImageDataset(Hdf5File file)
    {
        return NexusSignal(file) ?? FirstImage(file, "/entry/data/data", LambdaModuleFile.DataPath) ?? FirstThreeDimensional(file, "/");
    }

    /// <summary>Reads frame <paramref name="index"/> as Rows × Cols row-major float32 values.</summary>
    public void ReadFrame(long index, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(dataset <= 0, this);
        if ((ulong)index >= (ulong)FrameCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Path}:{DatasetPath} has {FrameCount} frames.");
        }

        var pixels = Rows * Cols;
        if (destination.Length < pixels)
        {
            throw new ArgumentException($"A frame holds {pixels} pixels; the destination only {destination.Length}.", nameof(destination));
        }

        destination = destination[..pixels];
        if (reader is null)
        {
            lock (Sync)
            {
                fixed (float* p = destination)
                {
                    Check(NativeMethods.H5Dread(dataset, NativeFloat, Default, Default, Default, p), "H5Dread", file.Where(DatasetPath));
                }
            }

            return;
        }

        var raw = ArrayPool<byte>.Shared.Rent(reader.FrameBytes);
        try
        {
            if (reader.TryReadRaw(index, raw.AsSpan(0, reader.FrameBytes)))
            {
                Convert(raw.AsSpan(0, reader.FrameBytes), destination);
                return;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }

        fixed (float* p = destination)
        {
            reader.ReadWithH5Dread(index, NativeFloat, p);
        }
    }

    public void Dispose()
    {
        lock (Sync)
        {
            if (dataset > 0)
            {
                _ = NativeMethods.H5Dclose(dataset);
                dataset = 0;
            }
        }

        file.Dispose();
    }

    private void Convert(ReadOnlySpan<byte> raw, Span<float> destination)
    {
        switch (ElementType)
        {
            case Hdf5ElementType.Int8: Widen(MemoryMarshal.Cast<byte, sbyte>(raw), destination); break;
            case Hdf5ElementType.UInt8: Widen(raw, destination); break;
            case Hdf5ElementType.Int16: Widen(MemoryMarshal.Cast<byte, short>(raw), destination); break;
            case Hdf5ElementType.UInt16: Widen(MemoryMarshal.Cast<byte, ushort>(raw), destination); break;
            case Hdf5ElementType.Int32: Widen(MemoryMarshal.Cast<byte, int>(raw), destination); break;
            case Hdf5ElementType.UInt32: Widen(MemoryMarshal.Cast<byte, uint>(raw), destination); break;
            case Hdf5ElementType.Int64: Widen(MemoryMarshal.Cast<byte, long>(raw), destination); break;
            case Hdf5ElementType.UInt64: Widen(MemoryMarshal.Cast<byte, ulong>(raw), destination); break;
            case Hdf5ElementType.Float32: MemoryMarshal.Cast<byte, float>(raw).CopyTo(destination); break;
            case Hdf5ElementType.Float64: Widen(MemoryMarshal.Cast<byte, double>(raw), destination); break;
            default: throw new Hdf5Exception($"{file.Where(DatasetPath)}: cannot convert {ElementType} to float.", file.Where(DatasetPath), string.Empty);
        }
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<float> destination)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = float.CreateTruncating(source[i]);
        }
    }

    private static string? NexusSignal(Hdf5File file)
    {
        var entries = new List<string>();
        var defaultEntry = file.TryGetAttributeString("/", "default");
        if (defaultEntry is not null)
        {
            entries.Add("/" + defaultEntry.Trim('/'));
        }

        entries.AddRange(GroupsOfClass(file, "/", "NXentry"));
        foreach (var entry in entries.Where(e => file.GetObjectKind(e) == Hdf5ObjectKind.Group))
        {
            var candidates = new List<string>();
            var defaultData = file.TryGetAttributeString(entry, "default");
            if (defaultData is not null)
            {
                candidates.Add($"{entry}/{defaultData}");
            }

            candidates.AddRange(GroupsOfClass(file, entry, "NXdata"));
            foreach (var data in candidates.Where(d => file.GetObjectKind(d) == Hdf5ObjectKind.Group))
            {
                var signal = file.TryGetAttributeString(data, "signal");
                var found = signal is null ? null : FirstImage(file, $"{data}/{signal}");
                if (found is not null)
                {
                    return found;
                }
            }
        }

        return null;
    }

    private static IEnumerable<string> GroupsOfClass(Hdf5File file, string parent, string nxClass)
    {
        var prefix = parent == "/" ? "/" : parent + "/";
        return file.ListChildren(parent)
            .Select(name => prefix + name)
            .Where(path => file.GetObjectKind(path) == Hdf5ObjectKind.Group && file.TryGetAttributeString(path, "NX_class") == nxClass);
    }

    /// <summary>The first path that is a 2-D or 3-D numeric dataset.</summary>
    private static string? FirstImage(Hdf5File file, params string[] paths)
    {
        foreach (var path in paths)
        {
            if (file.GetObjectKind(path) == Hdf5ObjectKind.Dataset)
            {
                var info = file.GetDatasetInfo(path);
                if (info.Rank is 2 or 3 && info.ElementType is not (Hdf5ElementType.String or Hdf5ElementType.Other))
                {
                    return path;
                }
            }
        }

        return null;
    }

    private static string? FirstThreeDimensional(Hdf5File file, string group)
    {
        var prefix = group == "/" ? "/" : group + "/";
        foreach (var path in file.ListChildren(group).Select(name => prefix + name))
        {
            var kind = file.GetObjectKind(path);
            if (kind == Hdf5ObjectKind.Dataset)
            {
                var info = file.GetDatasetInfo(path);
                if (info.Rank == 3 && info.ElementType is not (Hdf5ElementType.String or Hdf5ElementType.Other))
                {
                    return path;
                }
            }
            else if (kind == Hdf5ObjectKind.Group && FirstThreeDimensional(file, path) is { } found)
            {
                return found;
            }
        }

        return null;
    }
}
