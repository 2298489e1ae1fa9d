using System.IO.Compression;
using System.Runtime.InteropServices;
using Anvil.Hdf5.Native;
using static Anvil.Hdf5.Native.Hdf5Library;

namespace Anvil.Hdf5;

/// <summary>Settings of a simulated Lambda module file; the defaults are those of the P02.2 fixtures.</summary>
public sealed record LambdaWriterOptions
{
    public static LambdaWriterOptions Default { get; } = new();

    /// <summary>gzip level of the frame chunks (the detector writes 2); 0 stores frames uncompressed.</summary>
    public int CompressionLevel { get; init; } = 2;

    /// <summary>
    /// zlib level the chunks are actually encoded at, when it should differ from <see cref="CompressionLevel"/> (the
    /// level the file's filter records). Every level decodes the same way, so a simulator can encode faster (1)
    /// and still write the detector's exact layout.
    /// </summary>
    public int? EncodeLevel { get; init; }

    /// <summary>detector/count_time in milliseconds.</summary>
    public double CountTimeMilliseconds { get; init; } = 100;

    /// <summary>collection/frame_numbers: the number of frames requested for the whole scan.</summary>
    public int FramesRequested { get; init; }

    /// <summary>x_pixel_size and y_pixel_size, stored in micrometres like the detector does.</summary>
    public double PixelSizeMicrometers { get; init; } = 55;

    public string Description { get; init; } = "Lambda";

    /// <summary>detector/sensor_material.</summary>
    public string SensorMaterial { get; init; } = "GaAs";

    /// <summary>detector/sensor_thickness (µm; the detector writes no unit).</summary>
    public double SensorThickness { get; init; } = 300;

    /// <summary>detector/threshold_energy in eV.</summary>
    public float ThresholdEnergyEv { get; init; } = 6000;

    /// <summary>detector/collection/beam_energy in eV (what the detector is told, not the beam's measured energy).</summary>
    public double BeamEnergyEv { get; init; } = 12000;

    /// <summary>detector/collection/delay_time in milliseconds between frames.</summary>
    public double DelayTimeMilliseconds { get; init; }

    /// <summary>detector/acquisition_mode (ContinuousReadWrite: read out during the next exposure).</summary>
    public string AcquisitionMode { get; init; } = "ContinuousReadWrite";

    public uint SaturationValue { get; init; } = 4095;
}

/// <summary>
/// Writes a Lambda module file with the detector's own layout (NXentry/NXinstrument/NXdetector; int16 frames in
/// (1, rows, cols) gzip chunks with unlimited frames; sequence_number, translation/distance, description,
/// collection/error_code …), so that <see cref="LambdaModuleFile"/>, h5py and DIOPTAS read it like a real one.
/// Frames are compressed with .NET's zlib outside the HDF5 lock and stored with <c>H5Dwrite_chunk</c>.
/// </summary>
public sealed unsafe class LambdaModuleWriter : IDisposable
{
    private readonly Hdf5File file;
    private readonly int compressionLevel;
    private readonly int encodeLevel;
    private readonly MemoryStream compressed;
    private long data;
    private long sequenceNumbers;
    private long errorCodes;

    private LambdaModuleWriter(Hdf5File file, int rows, int cols, int compressionLevel, int encodeLevel)
    {
        this.file = file;
        Rows = rows;
        Cols = cols;
        this.compressionLevel = compressionLevel;
        this.encodeLevel = compressionLevel > 0 ? Math.Clamp(encodeLevel, 1, 9) : 0;
        compressed = new MemoryStream((rows * cols * sizeof(short)) + 1024);
    }

    public string Path => file.Path;

    public int Rows { get; }

    public int Cols { get; }

    /// <summary>Frames appended so far.</summary>
    public int FrameCount { get; private set; }

    /// <summary>Creates (truncates) a module file for frames of <paramref name="rows"/> × <paramref name="cols"/> pixels.</summary>
    /// <param name="path">Target file, e.g. scan_00001_m2_part00000.nxs.</param>
    /// <param name="rows">Rows per frame (516 for a Lambda 2M module).</param>
    /// <param name="cols">Columns per frame (1554 for a Lambda 2M module).</param>
    /// <param name="translationX">Module offset along columns in pixels (translation/distance[0]).</param>
    /// <param name="translationY">Module offset along rows in pixels (translation/distance[1]).</param>
    /// <param name="options">Compression and metadata; <see cref="LambdaWriterOptions.Default"/> when null.</param>
    public static LambdaModuleWriter Create(string path, int rows, int cols, float translationX, float translationY, LambdaWriterOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        options ??= LambdaWriterOptions.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(options.CompressionLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.CompressionLevel, 9);

        var file = Hdf5File.Create(path);
        var writer = new LambdaModuleWriter(file, rows, cols, options.CompressionLevel, options.EncodeLevel ?? options.CompressionLevel);
        try
        {
            writer.WriteLayout(translationX, translationY, options);
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    private void WriteLayout(float translationX, float translationY, LambdaWriterOptions options)
    {
        const string detector = LambdaModuleFile.DetectorPath;
        file.SetAttribute("/", "NX_class", "NXroot");
        file.SetAttribute("/", "file_name", System.IO.Path.GetFullPath(Path));
        file.SetAttribute("/", "file_time", DateTimeOffset.Now.ToString("yyyy-MM-ddTHH:mm:ss.ffffffzzz"));
        foreach (var (group, nxClass) in new[]
                 {
                     ("/entry", "NXentry"), ("/entry/instrument", "NXinstrument"), (detector, "NXdetector"),
                     (detector + "/collection", "NXcollection"), (detector + "/translation", "NXtranslation"),
                 })
        {
            file.CreateGroup(group);
            file.SetAttribute(group, "NX_class", nxClass);
        }

        lock (Sync)
        {
            ulong[] frameDims = [0, (ulong)Rows, (ulong)Cols];
            ulong[] frameMax = [Unlimited, (ulong)Rows, (ulong)Cols];
            ulong[] frameChunk = [1, (ulong)Rows, (ulong)Cols];
            data = file.CreateDatasetCore(LambdaModuleFile.DataPath, NativeInt16, frameDims, frameMax, frameChunk, compressionLevel, null).Value;
            sequenceNumbers = CreateGrowing<int>(LambdaModuleFile.SequenceNumberPath, []).Value;
            errorCodes = CreateGrowing<int>(detector + "/collection/error_code", []).Value;
            CreateGrowing(LambdaModuleFile.TranslationPath, [translationX, translationY, 0f]).Dispose();
            CreateGrowing(detector + "/collection/frame_numbers", [options.FramesRequested]).Dispose();
            CreateGrowing(detector + "/count_time", [options.CountTimeMilliseconds]).Dispose();
            CreateGrowing(detector + "/x_pixel_size", [options.PixelSizeMicrometers]).Dispose();
            CreateGrowing(detector + "/y_pixel_size", [options.PixelSizeMicrometers]).Dispose();
            CreateGrowing(detector + "/saturation_value", [options.SaturationValue]).Dispose();
            CreateGrowingString(LambdaModuleFile.DescriptionPath, options.Description);
            CreateGrowingString(detector + "/layout", $"{Cols}X{Rows}");
            CreateGrowingString(detector + "/sensor_material", options.SensorMaterial);
            CreateGrowing(detector + "/sensor_thickness", [options.SensorThickness]).Dispose();
            CreateGrowing(detector + "/threshold_energy", [options.ThresholdEnergyEv]).Dispose();
            CreateGrowing(detector + "/collection/beam_energy", [options.BeamEnergyEv]).Dispose();
            CreateGrowing(detector + "/collection/delay_time", [options.DelayTimeMilliseconds]).Dispose();
            CreateGrowingString(detector + "/acquisition_mode", options.AcquisitionMode);
        }

        file.SetAttribute(LambdaModuleFile.TranslationPath, "units", "pixel");
        file.SetAttribute(detector + "/count_time", "units", "millisecond");
        file.SetAttribute(detector + "/collection/delay_time", "units", "millisecond");
        file.SetAttribute(detector + "/threshold_energy", "units", "eV");
        file.SetAttribute(detector + "/collection/beam_energy", "units", "eV");
        file.SetAttribute(detector + "/x_pixel_size", "units", "micrometer");
        file.SetAttribute(detector + "/y_pixel_size", "units", "micrometer");
    }

    /// <summary>
    /// Appends one frame (Rows × Cols, row-major) with its detector sequence number (1-based, continuing across parts).
    /// </summary>
    public void AppendFrame(ReadOnlySpan<short> frame, int sequenceNumber)
    {
        ObjectDisposedException.ThrowIf(data <= 0, this);
        if (frame.Length != Rows * Cols)
        {
            throw new ArgumentException($"A frame holds {Rows * Cols} pixels, not {frame.Length}.", nameof(frame));
        }

        var raw = MemoryMarshal.AsBytes(frame);
        ReadOnlySpan<byte> chunk = raw;
        if (compressionLevel > 0)
        {
            compressed.SetLength(0);
            using (var zlib = new ZLibStream(compressed, new ZLibCompressionOptions { CompressionLevel = encodeLevel }, leaveOpen: true))
            {
                zlib.Write(raw);
            }

            chunk = compressed.GetBuffer().AsSpan(0, (int)compressed.Length);
        }

        lock (Sync)
        {
            var index = (ulong)FrameCount;
            var where = file.Where(LambdaModuleFile.DataPath);
            ulong[] dims = [index + 1, (ulong)Rows, (ulong)Cols];
            ulong[] offset = [index, 0, 0];
            fixed (ulong* d = dims, o = offset)
            fixed (byte* c = chunk)
            {
                Check(NativeMethods.H5Dset_extent(data, d), "H5Dset_extent", where);
                Check(NativeMethods.H5Dwrite_chunk(data, Default, 0, o, (nuint)chunk.Length, c), "H5Dwrite_chunk", where);
            }

            AppendValue(sequenceNumbers, index, sequenceNumber, LambdaModuleFile.SequenceNumberPath);
            AppendValue(errorCodes, index, 0, "collection/error_code");
            FrameCount++;
        }
    }

    /// <summary>Writes buffered metadata so a reader opening the file now sees every appended frame.</summary>
    public void Flush() => file.Flush();

    public void Dispose()
    {
        lock (Sync)
        {
            CloseAll(data, sequenceNumbers, errorCodes);
            data = sequenceNumbers = errorCodes = 0;
        }

        file.Dispose();
        compressed.Dispose();
    }

    private static void CloseAll(params ReadOnlySpan<long> datasets)
    {
        foreach (var id in datasets)
        {
            if (id > 0)
            {
                _ = NativeMethods.H5Dclose(id);
            }
        }
    }

    /// <summary>A 1-D dataset with unlimited length and one element per chunk, as the detector writes its scalars.</summary>
    private H5Id CreateGrowing<T>(string path, T[] values)
        where T : unmanaged
    {
        var dataset = file.CreateDatasetCore(path, NativeType<T>(), [(ulong)values.Length], [Unlimited], [1], 0, null);
        try
        {
            fixed (T* p = values)
            {
                if (values.Length > 0)
                {
                    Check(NativeMethods.H5Dwrite(dataset, NativeType<T>(), Default, Default, Default, p), "H5Dwrite", file.Where(path));
                }
            }

            return dataset;
        }
        catch
        {
            dataset.Dispose();
            throw;
        }
    }

    private void CreateGrowingString(string path, string value)
    {
        ulong[] dims = [1];
        ulong[] maxDims = [Unlimited];
        fixed (ulong* d = dims, m = maxDims)
        {
            using var space = new H5Id(NativeMethods.H5Screate_simple(1, d, m), H5Kind.Space, "H5Screate_simple", file.Where(path));
            file.WriteStringsCore(path, [value], space, CsetAscii, chunk: [1]);
        }
    }

    private void AppendValue(long dataset, ulong index, int value, string path)
    {
        var where = file.Where(path);
        ulong[] dims = [index + 1];
        ulong[] start = [index];
        ulong[] count = [1];
        fixed (ulong* d = dims, s = start, n = count)
        {
            Check(NativeMethods.H5Dset_extent(dataset, d), "H5Dset_extent", where);
            using var fileSpace = new H5Id(NativeMethods.H5Dget_space(dataset), H5Kind.Space, "H5Dget_space", where);
            Check(NativeMethods.H5Sselect_hyperslab(fileSpace, SelectSet, s, null, n, null), "H5Sselect_hyperslab", where);
            using var memorySpace = new H5Id(NativeMethods.H5Screate_simple(1, n, null), H5Kind.Space, "H5Screate_simple", where);
            Check(NativeMethods.H5Dwrite(dataset, NativeInt32, memorySpace, fileSpace, Default, &value), "H5Dwrite", where);
        }
    }
}
