using System.Globalization;
using System.Numerics;
using Anvil.Hdf5;

namespace Anvil.Integration.Formats;

/// <summary>The image file formats of single-image detectors that Anvil reads.</summary>
public enum ImageFormat
{
    /// <summary>TIFF (PerkinElmer, Pilatus, fabio): every page a frame.</summary>
    Tiff,

    /// <summary>CBF with byte-offset compression (Pilatus, fabio).</summary>
    Cbf,

    /// <summary>ESRF Data Format, one or more frames (fabio, ESRF beamlines).</summary>
    Edf,

    /// <summary>HDF5: an Eiger/NeXus master file whose entry/data/data_NNNNNN link to data files, or any image stack.</summary>
    Hdf5,
}

/// <summary>
/// One image file of a single-image detector as it was written (a PerkinElmer or Pilatus TIFF, a Pilatus CBF, an EDF,
/// an Eiger master with its data files): its shape, pixel type, frames, the time of each frame and what it says
/// about the detector and exposure. <see cref="ReadFrame{T}"/> converts any stored type to float32 or float64 (pyFAI
/// integrates float32). Errors are <see cref="FormatException"/> (or <see cref="Hdf5Exception"/>) whose message starts
/// with the file's path and says what is wrong: an unsupported compression names it, a damaged CBF its checksum.
/// Thread-safe for reads.
/// </summary>
public sealed class DetectorImageFile : IDisposable
{
    private readonly byte[] bytes;
    private readonly IReadOnlyList<TiffPage> tiff = [];
    private readonly CbfImage? cbf;
    private readonly IReadOnlyList<EdfFrame> edf = [];
    private readonly Hdf5ImageStack[] stacks = [];
    private readonly long[] stackStarts = [];

    private DetectorImageFile(string path, ImageFormat format, byte[] bytes)
    {
        Path = path;
        Format = format;
        this.bytes = bytes;
    }

    private DetectorImageFile(string path, byte[] bytes, IReadOnlyList<TiffPage> pages)
        : this(path, ImageFormat.Tiff, bytes)
    {
        tiff = pages;
        var first = pages[0];
        (Rows, Cols, PixelType, FrameCount) = (first.Rows, first.Cols, first.Type, pages.Count);
        var header = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in (first.Description ?? string.Empty).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                header[line[..eq].Trim()] = line[(eq + 1)..].Trim();
            }
        }

        // A Pilatus TIFF carries the CBF mini-header ("# Exposure_time 0.099 s" lines) as its description.
        var pilatus = PilatusHeader.Parse((first.Description ?? string.Empty).Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('#')).Select(l => l.TrimStart('#').Trim()).Where(l => l.Length > 0));
        AddTag(header, "DateTime", first.DateTime);
        AddTag(header, "Software", first.Software);
        Metadata = Combine(header, pilatus.Metadata);
        var stamps = pages.Select(p => FrameTime.Normalize(p.DateTime) ?? pilatus.Timestamp).ToArray();
        Frames = Times(stamps, relative: null);
    }

    private DetectorImageFile(string path, byte[] bytes, CbfImage image)
        : this(path, ImageFormat.Cbf, bytes)
    {
        cbf = image;
        (Rows, Cols, PixelType, FrameCount) = (image.Rows, image.Cols, image.Type, 1);
        var pilatus = PilatusHeader.Parse(image.MiniHeader);
        Metadata = pilatus.Metadata;
        Frames = [new FrameTime(pilatus.Timestamp, null)];
    }

    private DetectorImageFile(string path, byte[] bytes, IReadOnlyList<EdfFrame> frames)
        : this(path, ImageFormat.Edf, bytes)
    {
        edf = frames;
        var first = frames[0];
        (Rows, Cols, PixelType, FrameCount) = (first.Rows, first.Cols, first.Type, frames.Count);
        for (var k = 1; k < frames.Count; k++)
        {
            if (frames[k].Rows != Rows || frames[k].Cols != Cols)
            {
                throw new FormatException($"EDF frame {k + 1} is {frames[k].Rows}×{frames[k].Cols}, frame 1 {Rows}×{Cols}: the frames of one file must share a shape.");
            }
        }

        Metadata = Combine(first.Header, new ImageMetadata());
        var stamps = frames.Select(f => FrameTime.Normalize(ImageMetadata.Find(f.Header, "Date", "date"))).ToArray();
        var relative = frames.Select(f => ImageMetadata.Number(ImageMetadata.Find(f.Header, "time_of_frame"))).ToArray();
        Frames = Times(stamps, relative.All(r => r is not null) ? relative : null);
    }

    private DetectorImageFile(string path, Hdf5ImageStack[] stacks, ImageMetadata metadata, string? start)
        : this(path, ImageFormat.Hdf5, [])
    {
        this.stacks = stacks;
        stackStarts = new long[stacks.Length];
        long frames = 0;
        for (var k = 0; k < stacks.Length; k++)
        {
            stackStarts[k] = frames;
            frames += stacks[k].FrameCount;
            if (stacks[k].Rows != stacks[0].Rows || stacks[k].Cols != stacks[0].Cols)
            {
                throw new FormatException($"{stacks[k].DatasetPath} holds {stacks[k].Rows}×{stacks[k].Cols} frames, {stacks[0].DatasetPath} {stacks[0].Rows}×{stacks[0].Cols}: the data files of one master must share a shape.");
            }
        }

        (Rows, Cols, FrameCount) = (stacks[0].Rows, stacks[0].Cols, checked((int)frames));
        PixelType = stacks[0].ElementType switch
        {
            Hdf5ElementType.Int8 => PixelType.Int8,
            Hdf5ElementType.UInt8 => PixelType.UInt8,
            Hdf5ElementType.Int16 => PixelType.Int16,
            Hdf5ElementType.UInt16 => PixelType.UInt16,
            Hdf5ElementType.Int32 => PixelType.Int32,
            Hdf5ElementType.UInt32 => PixelType.UInt32,
            Hdf5ElementType.Int64 => PixelType.Int64,
            Hdf5ElementType.UInt64 => PixelType.UInt64,
            Hdf5ElementType.Float64 => PixelType.Float64,
            _ => PixelType.Float32,
        };
        Metadata = metadata;
        Frames = Enumerable.Range(0, FrameCount)
            .Select(k => new FrameTime(k == 0 ? start : null, metadata.FramePeriod is { } period ? k * period : null))
            .ToArray();
    }

    /// <summary>The file (for an Eiger master, the master; its data files are found through its links).</summary>
    public string Path { get; }

    public ImageFormat Format { get; }

    public int Rows { get; }

    public int Cols { get; }

    /// <summary>Frames in the file (TIFF pages, EDF frames, Eiger images over all data files).</summary>
    public int FrameCount { get; }

    /// <summary>How the file stores a pixel.</summary>
    public PixelType PixelType { get; }

    /// <summary>Exposure, frame period, detector and the raw header (first frame).</summary>
    public ImageMetadata Metadata { get; } = new();

    /// <summary>Each frame's time as the file records it.</summary>
    public IReadOnlyList<FrameTime> Frames { get; } = [];

    /// <summary>
    /// Frame <paramref name="index"/>'s time in seconds since the Unix epoch, as the file records it: the first frame's
    /// date plus the frame's time within the file when both are recorded, else the frame's own date; null when the
    /// file records neither. A date without an offset counts as UTC (only differences between frames are used).
    /// </summary>
    public double? UnixTimeOf(int index)
    {
        if (index < 0 || index >= Frames.Count)
        {
            return null;
        }

        var frame = Frames[index];
        if (frame.Time is { } within && Frames[0].ToDateTimeOffset() is { } start)
        {
            return (start - DateTimeOffset.UnixEpoch).TotalSeconds + within;
        }

        return frame.ToDateTimeOffset() is { } own ? (own - DateTimeOffset.UnixEpoch).TotalSeconds : null;
    }

    /// <summary>
    /// Whether <paramref name="path"/> names an image file of a single-image detector, by its extension: <c>.tif</c>,
    /// <c>.tiff</c>, <c>.cbf</c>, <c>.edf</c>, or an HDF5 file (<c>.h5</c>, <c>.hdf5</c>) — not a Lambda <c>.nxs</c> chunk.
    /// </summary>
    public static bool IsImagePath(string path) =>
        System.IO.Path.GetExtension(path).ToLowerInvariant() is ".tif" or ".tiff" or ".cbf" or ".edf" or ".h5" or ".hdf5";

    /// <summary>Opens <paramref name="path"/> by its extension (see <see cref="IsImagePath"/>).</summary>
    public static DetectorImageFile Open(string path)
    {
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".h5" or ".hdf5")
        {
            return OpenHdf5(path);
        }

        var bytes = File.ReadAllBytes(path);
        try
        {
            return extension switch
            {
                ".tif" or ".tiff" => new DetectorImageFile(path, bytes, TiffReader.ReadPages(bytes)),
                ".cbf" => new DetectorImageFile(path, bytes, CbfReader.Parse(bytes)),
                ".edf" => new DetectorImageFile(path, bytes, EdfReader.ReadFrames(bytes)),
                _ => throw new FormatException($"unknown image format '{extension}': use .tif/.tiff, .cbf, .edf or an HDF5 (.h5) master file."),
            };
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{path}: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            throw new FormatException($"{path}: damaged {extension} file ({ex.Message}).", ex);
        }
    }

    /// <summary>Reads frame <paramref name="index"/> (0-based) as Rows × Cols row-major values.</summary>
    public void ReadFrame<T>(int index, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if ((uint)index >= (uint)FrameCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Path} holds {FrameCount} frames.");
        }

        if (destination.Length < Rows * Cols)
        {
            throw new ArgumentException($"A frame holds {Rows * Cols} pixels; the destination only {destination.Length}.", nameof(destination));
        }

        try
        {
            switch (Format)
            {
                case ImageFormat.Tiff: TiffReader.Decode(bytes, tiff[index], destination); break;
                case ImageFormat.Cbf: CbfReader.Decode(bytes, cbf!, destination); break;
                case ImageFormat.Edf: EdfReader.Decode(bytes, edf[index], destination); break;
                default: ReadHdf5(index, destination); break;
            }
        }
        catch (FormatException ex) when (!ex.Message.StartsWith(Path, StringComparison.Ordinal))
        {
            throw new FormatException($"{Path}: {ex.Message}", ex);
        }
    }

    public void Dispose()
    {
        foreach (var stack in stacks)
        {
            stack.Dispose();
        }
    }

    private void ReadHdf5<T>(int index, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = Array.FindLastIndex(stackStarts, s => s <= index);
        if (typeof(T) == typeof(float))
        {
            stacks[k].ReadFrame(index - stackStarts[k], System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(destination));
            return;
        }

        var frame = new float[Rows * Cols];
        stacks[k].ReadFrame(index - stackStarts[k], frame);
        for (var i = 0; i < frame.Length; i++)
        {
            destination[i] = T.CreateTruncating(frame[i]);
        }
    }

    // An Eiger master's entry/data/data_NNNNNN (external links, resolved by libhdf5 next to the master), in order;
    // any other HDF5 file is read as its image stack (NeXus signal, /entry/data/data, …).
    private static DetectorImageFile OpenHdf5(string path)
    {
        string[] links;
        ImageMetadata metadata;
        string? start;
        using (var master = Hdf5File.OpenRead(path))
        {
            links = master.Exists("/entry/data")
                ? master.ListChildren("/entry/data").Where(n => n.StartsWith("data_", StringComparison.Ordinal) && n[5..].All(char.IsAsciiDigit)).Order(StringComparer.Ordinal).Select(n => "/entry/data/" + n).ToArray()
                : [];
            (metadata, start) = EigerMetadata(master);
        }

        var stacks = new List<Hdf5ImageStack>();
        try
        {
            if (links.Length == 0)
            {
                stacks.Add(Hdf5ImageStack.Open(path));
            }

            // Bitshuffle-LZ4 (32008, the Eiger default), gzip and shuffle are decoded by Anvil.Hdf5's frame reader; any
            // other filter without a libhdf5 plugin fails here with Hdf5UnsupportedFilterException naming file, link and filter.
            foreach (var link in links)
            {
                stacks.Add(Hdf5ImageStack.Open(path, link));
            }

            return new DetectorImageFile(path, [.. stacks], metadata, start);
        }
        catch
        {
            stacks.ForEach(s => s.Dispose());
            throw;
        }
    }

    private static (ImageMetadata, string?) EigerMetadata(Hdf5File master)
    {
        const string Detector = "/entry/instrument/detector";
        var header = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        double? Number(string path)
        {
            if (master.GetObjectKind(path) != Hdf5ObjectKind.Dataset)
            {
                return null;
            }

            var value = master.ReadDataset<double>(path).FirstOrDefault();
            header[path] = value.ToString("R", CultureInfo.InvariantCulture);
            return value;
        }

        string? Text(string path)
        {
            if (master.GetObjectKind(path) != Hdf5ObjectKind.Dataset)
            {
                return null;
            }

            var value = master.ReadString(path).Trim();
            header[path] = value;
            return value;
        }

        var metadata = new ImageMetadata
        {
            ExposureTime = Number($"{Detector}/count_time"),
            FramePeriod = Number($"{Detector}/frame_time"),
            Detector = Text($"{Detector}/description"),
            Sensor = Text($"{Detector}/sensor_material"),
            ThresholdEnergy = Number($"{Detector}/threshold_energy"),
            Wavelength = Number("/entry/instrument/beam/incident_wavelength"),
            Header = header,
        };
        return (metadata, FrameTime.Normalize(Text($"{Detector}/detectorSpecific/data_collection_date")));
    }

    private static void AddTag(Dictionary<string, string> header, string key, string? value)
    {
        if (value is not null)
        {
            header.TryAdd(key, value);
        }
    }

    // TIFF description and EDF header keys as fabio, PerkinElmer software and ESRF beamlines write them.
    private static ImageMetadata Combine(IReadOnlyDictionary<string, string> header, ImageMetadata pilatus)
    {
        var exposure = ImageMetadata.Number(ImageMetadata.Find(header, "ExposureTime", "exposure_time", "count_time", "acq_expo_time", "Exposure"));
        var latency = ImageMetadata.Number(ImageMetadata.Find(header, "acq_latency_time"));
        return pilatus with
        {
            ExposureTime = pilatus.ExposureTime ?? exposure,
            FramePeriod = pilatus.FramePeriod ?? ImageMetadata.Number(ImageMetadata.Find(header, "FramePeriod", "frame_time", "Exposure_period"))
                ?? (latency is not null && exposure is not null ? exposure + latency : null),
            Detector = pilatus.Detector ?? ImageMetadata.Find(header, "Detector", "detector", "Model"),
            Header = pilatus.Header.Count > 0 ? pilatus.Header.Concat(header.Where(h => !pilatus.Header.ContainsKey(h.Key))).ToDictionary(StringComparer.OrdinalIgnoreCase) : header,
        };
    }

    // Seconds from the first frame: as the file says, else from timestamps when they differ.
    private static FrameTime[] Times(string?[] stamps, double?[]? relative)
    {
        var parsed = stamps.Select(s => new FrameTime(s, null).ToDateTimeOffset()).ToArray();
        var fromStamps = stamps.Length > 1 && parsed.All(p => p is not null) && parsed.Distinct().Count() > 1;
        return stamps.Select((s, k) => new FrameTime(s, relative?[k] ?? (fromStamps ? (parsed[k]!.Value - parsed[0]!.Value).TotalSeconds : null))).ToArray();
    }
}

/// <summary>The Pilatus mini-header (CBF <c>_array_data.header_contents</c>, Pilatus TIFF description): "Exposure_time 0.099 s" lines.</summary>
internal static class PilatusHeader
{
    public static (ImageMetadata Metadata, string? Timestamp) Parse(IEnumerable<string> lines)
    {
        var header = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? timestamp = null, sensor = null;
        foreach (var line in lines)
        {
            if (FrameTime.Normalize(line) is { } stamp)
            {
                timestamp ??= stamp;
                continue;
            }

            if (line.Contains(" sensor, thickness", StringComparison.OrdinalIgnoreCase))
            {
                sensor = line[..line.IndexOf(" sensor", StringComparison.OrdinalIgnoreCase)].Trim();
                header["Sensor"] = line;
                continue;
            }

            var split = line.IndexOfAny([' ', ':']);
            if (split > 0)
            {
                header[line[..split]] = line[(split + 1)..].TrimStart(':', ' ');
            }
        }

        if (header.Count == 0)
        {
            return (new ImageMetadata(), timestamp);
        }

        return (new ImageMetadata
        {
            ExposureTime = ImageMetadata.Number(ImageMetadata.Find(header, "Exposure_time")),
            FramePeriod = ImageMetadata.Number(ImageMetadata.Find(header, "Exposure_period")),
            Detector = ImageMetadata.Find(header, "Detector"),
            Sensor = sensor,
            ThresholdEnergy = ImageMetadata.Number(ImageMetadata.Find(header, "Threshold_setting")),
            Wavelength = ImageMetadata.Number(ImageMetadata.Find(header, "Wavelength")),
            Header = header,
        }, timestamp);
    }
}
