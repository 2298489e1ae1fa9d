using System.Buffers;
using System.Runtime.InteropServices;
using Anvil.Hdf5.Internal;
using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>
/// One Lambda module file (<c>&lt;scan&gt;_&lt;NNNNN&gt;_m{1,2,3}_part&lt;PPPPP&gt;.nxs</c>): int16 frames under
/// /entry/instrument/detector, one gzip chunk per frame, the module's offset in translation/distance and 1-based
/// sequence numbers that continue across parts. Frames decode on the calling thread, so several threads may read
/// (from this or other files) at once. Opened without the file lock: a file still being written may fail with a
/// retryable <see cref="Hdf5Exception"/>, and <see cref="FrameCount"/> only counts frames whose sequence number is stored.
/// </summary>
public sealed unsafe class LambdaModuleFile : IDisposable
{
    public const string DetectorPath = "/entry/instrument/detector";
    public const string DataPath = DetectorPath + "/data";
    public const string SequenceNumberPath = DetectorPath + "/sequence_number";
    public const string TranslationPath = DetectorPath + "/translation/distance";
    public const string DescriptionPath = DetectorPath + "/description";

    private readonly Hdf5File file;
    private readonly FrameChunkReader reader;
    private long dataset;

    private LambdaModuleFile(Hdf5File file, long dataset, FrameChunkReader reader, Hdf5DatasetInfo info)
    {
        this.file = file;
        this.dataset = dataset;
        this.reader = reader;
        ElementType = info.ElementType;
        SequenceNumbers = file.ReadDataset<int>(SequenceNumberPath);
        FrameCount = (int)Math.Min(info.Shape[0], SequenceNumbers.Length);
        var translation = file.ReadDataset<float>(TranslationPath);
        if (translation.Length < 2)
        {
            throw new Hdf5Exception($"{file.Where(TranslationPath)} holds {translation.Length} values, expected (x, y, z).", file.Where(TranslationPath), string.Empty);
        }

        TranslationX = translation[0];
        TranslationY = translation[1];
        TranslationZ = translation.Length > 2 ? translation[2] : 0f;
        Description = file.Exists(DescriptionPath) ? file.ReadString(DescriptionPath) : string.Empty;
    }

    public string Path => file.Path;

    /// <summary>Rows of one frame (516 for a Lambda 2M module).</summary>
    public int Rows => reader.Rows;

    /// <summary>Columns of one frame (1554 for a Lambda 2M module, gap strip included).</summary>
    public int Cols => reader.Cols;

    /// <summary>Frames that have both pixels and a sequence number.</summary>
    public int FrameCount { get; }

    /// <summary>Module offset in pixels along columns (translation/distance[0]).</summary>
    public float TranslationX { get; }

    /// <summary>Module offset in pixels along rows (translation/distance[1]).</summary>
    public float TranslationY { get; }

    public float TranslationZ { get; }

    /// <summary>The detector's 1-based frame sequence numbers; they continue across part files.</summary>
    public int[] SequenceNumbers { get; }

    /// <summary>detector/description ("Lambda" for Lambda files), or empty when absent.</summary>
    public string Description { get; }

    /// <summary>The stored pixel type (int16 for Lambda; other integer types are converted by libhdf5 and may clip).</summary>
    public Hdf5ElementType ElementType { get; }

    /// <summary>True when frames are read as raw chunks and inflated in .NET (the usual case for Lambda files).</summary>
    public bool UsesChunkFastPath => reader.FastPath && ElementType == Hdf5ElementType.Int16;

    /// <summary>Opens a module file; throws <see cref="Hdf5Exception"/> (missing, corrupt, locked, no Lambda layout).</summary>
    public static LambdaModuleFile Open(string path)
    {
        var file = Hdf5File.OpenRead(path);
        long dataset = 0;
        try
        {
            Hdf5DatasetInfo info;
            FrameChunkReader reader;
            lock (Sync)
            {
                dataset = file.OpenDataset(DataPath).Value;
                info = Hdf5File.Describe(dataset, DataPath, file.Where(DataPath));
                reader = FrameChunkReader.Create(dataset, file.Where(DataPath), info);
            }

            return new LambdaModuleFile(file, dataset, reader, info);
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

    /// <summary>Reads frame <paramref name="index"/> (0-based) as Rows × Cols row-major pixels.</summary>
    public void ReadFrame(int index, Span<short> destination)
    {
        CheckFrame(index, destination.Length);
        if (!UsesChunkFastPath || !reader.TryReadRaw(index, MemoryMarshal.AsBytes(destination[..(Rows * Cols)])))
        {
            ReadFrameWithH5Dread(index, destination);
        }
    }

    /// <summary>
    /// Reads frame <paramref name="index"/> into a larger row-major canvas of <paramref name="canvasCols"/> columns,
    /// with the module's first pixel at (<paramref name="rowOffset"/>, <paramref name="colOffset"/>); the rest of the
    /// canvas is left as it is.
    /// </summary>
    public void ReadFrame(int index, Span<short> canvas, int canvasCols, int rowOffset, int colOffset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(colOffset);
        if (colOffset + Cols > canvasCols || (long)(rowOffset + Rows) * canvasCols > canvas.Length)
        {
            throw new ArgumentException($"A {Rows} × {Cols} module at ({rowOffset}, {colOffset}) does not fit a canvas of {canvas.Length} pixels with {canvasCols} columns.", nameof(canvas));
        }

        var pixels = Rows * Cols;
        var frame = ArrayPool<short>.Shared.Rent(pixels);
        try
        {
            ReadFrame(index, frame.AsSpan(0, pixels));
            for (var r = 0; r < Rows; r++)
            {
                frame.AsSpan(r * Cols, Cols).CopyTo(canvas.Slice(((rowOffset + r) * canvasCols) + colOffset, Cols));
            }
        }
        finally
        {
            ArrayPool<short>.Shared.Return(frame);
        }
    }

    /// <summary>Reads a frame through libhdf5's own pipeline (H5Dread): the reference the fast path is tested against.</summary>
    internal void ReadFrameWithH5Dread(int index, Span<short> destination)
    {
        CheckFrame(index, destination.Length);
        fixed (short* p = destination)
        {
            reader.ReadWithH5Dread(index, NativeInt16, p);
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

    private void CheckFrame(int index, int destinationLength)
    {
        ObjectDisposedException.ThrowIf(dataset <= 0, this);
        if ((uint)index >= (uint)FrameCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Path} has {FrameCount} frames.");
        }

        if (destinationLength < Rows * Cols)
        {
            throw new ArgumentException($"A frame holds {Rows * Cols} pixels; the destination only {destinationLength}.", nameof(destinationLength));
        }
    }
}
