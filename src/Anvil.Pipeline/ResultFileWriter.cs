using Anvil.Hdf5;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>One integrated curve of a frame.</summary>
public sealed record CurveRow(ReadOnlyMemory<double> Radial, ReadOnlyMemory<float> Intensity, ReadOnlyMemory<float> Sigma, ReadOnlyMemory<float> Count);

/// <summary>One frame's result as merge receives it. <paramref name="Error"/> non-empty marks a failed frame.</summary>
public sealed record FrameResult(
    long Frame,
    int FileIndex,
    int IndexInFile,
    string M1File,
    string SettingsHash,
    string SettingsJson,
    CurveRow? TwoTheta,
    CurveRow? Requested,
    string Error = "",
    double? Timestamp = null);

/// <summary>What the finished file records about how it was made, and about the acquisition it holds (<paramref name="Detector"/>: the configured detector, if any).</summary>
public sealed record ResultMetadata(string CalibrationFile, string Method, string Unit, int Npt, string Program = "anvil", ResultDetector? Detector = null)
{
    /// <summary>The beamtime (NeXus <c>experiment_identifier</c>); "" = not known.</summary>
    public string Beamtime { get; init; } = string.Empty;

    /// <summary>The acquisition (NeXus <c>entry_identifier</c> and <c>title</c>); "" = the result file's name.</summary>
    public string Acquisition { get; init; } = string.Empty;

    /// <summary>The beamline (<c>NXinstrument/name</c>); "" = not known.</summary>
    public string Beamline { get; init; } = string.Empty;

    /// <summary>The facility (<c>NXsource/name</c>); "" = not known.</summary>
    public string Facility { get; init; } = string.Empty;

    /// <summary>
    /// The frames' times and the detector's metadata (merge shares these with its pressure stage); null = resolved from
    /// the first raw file the frames name, relative to the result's folder, with no configured period.
    /// </summary>
    public FrameTimes? Times { get; init; }

    /// <summary>The metadata of the settings that made the frames DIOPTAS shows.</summary>
    public static ResultMetadata Of(IntegrationSettings settings, string program = "anvil") =>
        new(settings.Poni, settings.Method.Format(), settings.Unit.Format(), settings.Npt, program);
}

/// <summary>
/// Writes the NeXus file DIOPTAS's Batch View opens (docs/science.md §5): <c>/processed/result/data</c>
/// (frames × bins, float32), <c>binning</c> (2θ degrees, evenly spaced), <c>/processed/process</c> with
/// files, file_map, pos_map and a scalar cal_file, plus Anvil's extras (errors, counts, frame and time axes, settings per
/// frame, failed frames, the operator's unit as a second NXdata, the detector's metadata in <c>/processed/instrument</c>)
/// and, next to it, a standard NXazint1d entry <c>/azint1d</c> that links the same datasets (ResultFileWriter.Nexus.cs).
/// Rows go to disk as they arrive and only a small
/// record per frame stays in memory, so memory stays flat for tens of thousands of frames; the file is hidden
/// under a temporary name and renamed when complete, so readers never see half a file. Rows of frames that never
/// arrived read back as NaN.
/// <para>
/// A settings change during the run can change the radial axis (npt, unit, PONI, mask). Frames are grouped by
/// axis into segments, each its own NXdata with every frame's row (NaN for frames of other segments):
/// <c>/processed/result</c> is the segment of the last frame (the operator's latest choice, what DIOPTAS shows);
/// earlier ones stay as <c>/processed/result_2</c>, <c>_3</c>, …; <c>process/settings_hash</c> says which
/// settings produced each frame.
/// </para>
/// </summary>
public sealed partial class ResultFileWriter : IDisposable
{
    private const int ChunkRows = 32;

    // Intensities and their errors are noisy float32 rows that gzip shrinks by only ~13 % (a real 800-frame run: 6.40 →
    // 5.53 MB) at ~40 % of merge's CPU, so they are stored as they are; the counts per bin repeat from frame to frame and
    // shrink ~30-fold, so they keep gzip level 1 (bench/FINDINGS-pipeline.md, third round).
    private const int RowsUncompressed = 0;
    private const int CountsDeflate = 1;
    private readonly string finalPath;
    private readonly string temporaryPath;
    private readonly Hdf5File file;
    private readonly Dictionary<long, FrameRecord> frames = [];
    private readonly Dictionary<string, string> settingsByHash = new(StringComparer.Ordinal);
    private readonly List<Segment> segments = [];
    private bool disposed;
    private bool completed;
    private Exception? writeFailure;

    private ResultFileWriter(string finalPath)
    {
        this.finalPath = Path.GetFullPath(finalPath);
        temporaryPath = Path.Combine(Path.GetDirectoryName(this.finalPath)!, "." + Path.GetFileName(this.finalPath) + ".partial");
        Directory.CreateDirectory(Path.GetDirectoryName(this.finalPath)!);
        file = Hdf5File.Create(temporaryPath);
    }

    /// <summary>The file name the result gets once complete.</summary>
    public string FinalPath => finalPath;

    /// <summary>
    /// The first write that failed (a full disk, say), or null. Once a write failed the file can never be completed:
    /// later rows are not written and <see cref="Complete"/> throws, so a damaged file never gets its final name.
    /// </summary>
    public Exception? WriteFailure => writeFailure;

    /// <summary>Frames received so far (failed ones included).</summary>
    public int FrameCount => frames.Count;

    /// <summary>Radial axes seen so far (more than one after a settings change that moved the axis).</summary>
    public int SegmentCount => segments.Count;

    /// <summary>The settings JSON of the newest integrated frame (those DIOPTAS will show), or null when none was integrated.</summary>
    public string? LatestSettingsJson =>
        frames.Where(f => f.Value.SettingsHash.Length > 0).OrderByDescending(f => f.Key).Select(f => settingsByHash[f.Value.SettingsHash]).FirstOrDefault();

    /// <summary>Starts a result file that becomes <paramref name="finalPath"/> when <see cref="Complete"/> is called.</summary>
    public static ResultFileWriter Create(string finalPath) => new(finalPath);

    /// <summary>Writes (or rewrites, identically, after a redelivery) one frame's row.</summary>
    public void Write(FrameResult result)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(result.Frame, 1);
        var row = result.Frame - 1;
        Segment? segment = null;
        try
        {
            segment = result.TwoTheta is { } curve && writeFailure is null ? SegmentFor(curve, result.Requested) : null;
        }
        catch (Hdf5Exception ex)
        {
            writeFailure = ex;
        }

        frames[result.Frame] = new FrameRecord(result.FileIndex, result.IndexInFile, result.M1File, result.SettingsHash, result.Error, result.Timestamp);
        if (result.SettingsHash.Length > 0)
        {
            settingsByHash.TryAdd(result.SettingsHash, result.SettingsJson);
        }

        if (segment is null || writeFailure is not null)
        {
            return;
        }

        try
        {
            segment.LastFrame = Math.Max(segment.LastFrame, result.Frame);
            segment.Data.WriteRow(row, result.TwoTheta!.Intensity.Span);
            segment.Errors.WriteRow(row, result.TwoTheta.Sigma.Span);
            segment.Counts.WriteRow(row, result.TwoTheta.Count.Span);
            if (result.Requested is { } requested && segment.RequestedData is not null)
            {
                segment.RequestedData.WriteRow(row, requested.Intensity.Span);
                segment.RequestedErrors!.WriteRow(row, requested.Sigma.Span);
            }
        }
        catch (Hdf5Exception ex)
        {
            writeFailure = ex;
        }
    }

    /// <summary>
    /// Writes the metadata for frames 1..<paramref name="lastFrame"/>, closes the file and renames it to its
    /// final name (or, if that exists — an earlier result is never overwritten — a numbered variant). Returns the path.
    /// <paramref name="metadata"/> describes the settings of the frames DIOPTAS shows (<c>/processed/result</c>).
    /// <paramref name="addGroups"/> (file, frames) adds groups of its own before the file is closed (merge's
    /// <c>/processed/pressure</c>, <see cref="OnlinePressure"/>).
    /// </summary>
    public string Complete(long lastFrame, ResultMetadata metadata, Action<Hdf5File, int>? addGroups = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (writeFailure is not null)
        {
            throw new IOException($"{temporaryPath} cannot be completed: a write failed ({writeFailure.Message})", writeFailure);
        }

        var n = (int)Math.Max(lastFrame, frames.Count == 0 ? 0 : frames.Keys.Max());
        if (segments.Count == 0)
        {
            // Every frame failed: still a loadable file, all rows NaN.
            segments.Add(new Segment(file, "/processed/result_1", new double[metadata.Npt], null, null));
        }

        var shown = segments.MaxBy(s => s.LastFrame)!;
        var times = TimesOf(metadata);
        var time = Enumerable.Range(1, n).Select(f => times.TimeOf(f)).ToArray();
        foreach (var segment in segments)
        {
            segment.Finish(n, metadata.Unit, time, times.TimeSource);
        }

        file.SetAttribute("/", "NX_class", "NXroot");
        file.SetAttribute("/", "default", "processed");
        file.SetAttribute("/", "creator", metadata.Program);
        file.SetAttribute("/", "file_time", DateTimeOffset.UtcNow.ToString("O"));
        file.SetAttribute("/processed", "NX_class", "NXentry");
        file.SetAttribute("/processed", "default", "result");
        file.WriteString("/processed/program", metadata.Program);
        file.WriteString("/processed/version", typeof(ResultFileWriter).Assembly.GetName().Version?.ToString() ?? "0");
        file.WriteString("/processed/date", DateTimeOffset.UtcNow.ToString("O"));

        // The segment of the last frame becomes /processed/result; the others are numbered from 2 in order of appearance.
        file.Move(shown.Group, "/processed/result");
        if (shown.HasRequested)
        {
            file.Move(shown.Group + "_requested", "/processed/result_requested");
        }

        var number = 2;
        foreach (var other in segments.Where(s => s != shown))
        {
            file.Move(other.Group, $"/processed/result_{number}");
            if (other.HasRequested)
            {
                file.Move(other.Group + "_requested", $"/processed/result_{number}_requested");
            }

            number++;
        }

        WriteProcess(n, metadata);
        WriteAcquisition(metadata, times, shown.HasRequested);
        addGroups?.Invoke(file, n);

        // Every buffered byte must reach the disk before the file gets its final name: a close that fails (a full
        // disk) throws here, and Dispose then deletes the partial file.
        file.Flush();
        file.Close();
        Hdf5File.SyncToDisk(temporaryPath);

        disposed = true;
        var target = finalPath;
        for (var k = 2; File.Exists(target); k++)
        {
            target = Path.Combine(Path.GetDirectoryName(finalPath)!, $"{Path.GetFileNameWithoutExtension(finalPath)}_{k}.nxs");
        }

        File.Move(temporaryPath, target);
        completed = true;
        return target;
    }

    /// <summary>Releases the file; unless it was completed, the partial file is deleted.</summary>
    public void Dispose()
    {
        if (completed)
        {
            return;
        }

        // A write that failed (a full disk) can leave libhdf5 holding the file open with data it could not flush. Emptying
        // the partial file first gives the space back, so the closes below can finish and release the descriptor, and
        // the next attempt finds the room it needs.
        if (File.Exists(temporaryPath))
        {
            Hdf5File.Empty(temporaryPath);
        }

        disposed = true;
        foreach (var segment in segments)
        {
            segment.Dispose();
        }

        file.Dispose();
        File.Delete(temporaryPath);
    }

    private Segment SegmentFor(CurveRow twoTheta, CurveRow? requested)
    {
        foreach (var segment in segments)
        {
            if (segment.Matches(twoTheta, requested))
            {
                return segment;
            }
        }

        // Written under a working name; Complete gives each segment its final name.
        var created = new Segment(file, $"/processed/segment_{segments.Count + 1}", twoTheta.Radial.ToArray(), requested?.Radial.ToArray(), requested?.Intensity.Length);
        segments.Add(created);
        return created;
    }

    private void WriteProcess(int n, ResultMetadata metadata)
    {
        const string process = "/processed/process";
        file.CreateGroup(process);
        file.SetAttribute(process, "NX_class", "NXprocess");

        // DIOPTAS: files = the m1 chunk files (it derives m2/m3), file_map = cumulative frame counts from 0,
        // pos_map = [file index, frame in file] per frame; cal_file must be a scalar string.
        var known = frames.Values.Where(f => f.M1File.Length > 0).ToArray();
        var fileCount = known.Length == 0 ? 0 : known.Max(f => f.FileIndex) + 1;
        var files = new string[fileCount];
        var perFile = new long[fileCount];
        foreach (var f in known)
        {
            files[f.FileIndex] = f.M1File;
            perFile[f.FileIndex] = Math.Max(perFile[f.FileIndex], f.IndexInFile + 1L);
        }

        var fileMap = new long[fileCount + 1];
        for (var i = 0; i < fileCount; i++)
        {
            fileMap[i + 1] = fileMap[i] + perFile[i];
        }

        var posMap = new long[n, 2];
        var hashes = new string[n];
        for (var row = 0; row < n; row++)
        {
            if (frames.TryGetValue(row + 1, out var f))
            {
                posMap[row, 0] = f.FileIndex;
                posMap[row, 1] = f.IndexInFile;
                hashes[row] = f.SettingsHash;
            }
            else
            {
                posMap[row, 0] = -1;
                posMap[row, 1] = -1;
                hashes[row] = string.Empty;
            }
        }

        file.WriteStrings(process + "/files", files.Select(f => f ?? string.Empty).ToArray());
        file.WriteDataset(process + "/file_map", fileMap);
        file.WriteDataset(process + "/pos_map", posMap);
        file.WriteString(process + "/cal_file", metadata.CalibrationFile);
        file.WriteString(process + "/int_method", metadata.Method);
        file.WriteString(process + "/int_unit", metadata.Unit);
        file.WriteDataset(process + "/num_points", new long[] { metadata.Npt });
        metadata.Detector?.Write(file, process + "/detector");

        // Which settings produced which frames; failed and missing frames, visibly.
        file.WriteStrings(process + "/settings_hash", hashes);
        foreach (var (hash, json) in settingsByHash)
        {
            file.WriteString($"{process}/settings/{hash}", json);
        }

        var failed = frames.Where(f => f.Value.Error.Length > 0).OrderBy(f => f.Key).ToArray();
        var missing = Enumerable.Range(1, n).Where(f => !frames.ContainsKey(f)).Select(f => (long)f).ToArray();
        file.WriteDataset(process + "/failed_frames", failed.Select(f => f.Key).ToArray());
        file.WriteStrings(process + "/failed_reasons", failed.Select(f => f.Value.Error).ToArray());
        file.WriteDataset(process + "/missing_frames", missing);
    }

    // What stays in memory per frame: no curves.
    private sealed record FrameRecord(int FileIndex, int IndexInFile, string M1File, string SettingsHash, string Error, double? Timestamp);

    // The frames that share one radial axis: an NXdata group written row by row.
    private sealed class Segment : IDisposable
    {
        private readonly Hdf5File file;
        private readonly double[] binning;
        private readonly double[]? requestedRadial;
        private bool finished;

        public Segment(Hdf5File file, string group, double[] binning, double[]? requestedRadial, int? requestedNpt)
        {
            this.file = file;
            this.binning = binning;
            this.requestedRadial = requestedRadial;
            Group = group;
            Data = file.CreateExtendible2D<float>(group + "/data", binning.Length, ChunkRows, RowsUncompressed);
            Errors = file.CreateExtendible2D<float>(group + "/errors", binning.Length, ChunkRows, RowsUncompressed);
            Counts = file.CreateExtendible2D<float>(group + "/count", binning.Length, ChunkRows, CountsDeflate);
            if (requestedNpt is { } npt)
            {
                RequestedData = file.CreateExtendible2D<float>(group + "_requested/data", npt, ChunkRows, RowsUncompressed);
                RequestedErrors = file.CreateExtendible2D<float>(group + "_requested/errors", npt, ChunkRows, RowsUncompressed);
            }
        }

        public string Group { get; }

        public long LastFrame { get; set; }

        public bool HasRequested => RequestedData is not null;

        public ExtendibleDataset2D<float> Data { get; }

        public ExtendibleDataset2D<float> Errors { get; }

        public ExtendibleDataset2D<float> Counts { get; }

        public ExtendibleDataset2D<float>? RequestedData { get; }

        public ExtendibleDataset2D<float>? RequestedErrors { get; }

        public bool Matches(CurveRow twoTheta, CurveRow? requested) =>
            twoTheta.Radial.Span.SequenceEqual(binning)
            && (requested is null ? requestedRadial is null : requestedRadial is not null && requested.Radial.Span.SequenceEqual(requestedRadial));

        // Pads every dataset to n rows (NaN), closes them and writes the axes and NeXus attributes.
        public void Finish(int n, string requestedUnit, double[] time, string timeSource)
        {
            foreach (var dataset in new[] { Data, Errors, Counts, RequestedData, RequestedErrors })
            {
                if (dataset is not null && dataset.Rows < n)
                {
                    dataset.WriteRow(n - 1, Enumerable.Repeat(float.NaN, dataset.Columns).ToArray());
                }
            }

            Close();
            file.SetAttribute(Group, "NX_class", "NXdata");
            file.SetAttribute(Group, "signal", "data");
            file.SetAttribute(Group, "axes", [".", "binning"]);
            file.WriteDataset(Group + "/binning", binning);
            foreach (var unitAttribute in new[] { "unit", "units" })
            {
                file.SetAttribute(Group + "/binning", unitAttribute, "deg");
            }

            file.SetAttribute(Group + "/binning", "long_name", "2θ (°)");
            file.WriteDataset(Group + "/frame", Enumerable.Range(1, n).Select(f => (long)f).ToArray());
            file.SetAttribute(Group + "/frame", "long_name", "frame (the detector's sequence_number)");

            // The time axis (FrameClock's rule, via FrameTimes): an auxiliary axis along the frames, with its source.
            file.WriteDataset(Group + "/time", time);
            file.SetAttribute(Group + "/time", "units", "s");
            file.SetAttribute(Group + "/time", "long_name", "time since the first frame (s)");
            file.SetAttribute(Group + "/time", "source", timeSource);
            file.SetAttribute(Group, "frame_indices", 0L);
            file.SetAttribute(Group, "time_indices", 0L);
            if (requestedRadial is not null)
            {
                var requested = Group + "_requested";
                file.SetAttribute(requested, "NX_class", "NXdata");
                file.SetAttribute(requested, "signal", "data");
                file.SetAttribute(requested, "axes", [".", "radial"]);
                file.WriteDataset(requested + "/radial", requestedRadial);

                // units as NeXus spells them (1/nm, angstrom, …); unit as pyFAI and the settings name it (q_nm^-1, d_A, …).
                var known = RadialUnits.TryParse(requestedUnit, out var parsed);
                file.SetAttribute(requested + "/radial", "units", known ? parsed.NexusUnits() : requestedUnit);
                file.SetAttribute(requested + "/radial", "unit", requestedUnit);
                if (known)
                {
                    file.SetAttribute(requested + "/radial", "long_name", parsed.LongName());
                }
            }
        }

        // Closes the datasets, throwing when their cached chunks cannot be written (Dispose then tries again).
        private void Close()
        {
            foreach (var dataset in new[] { Data, Errors, Counts, RequestedData, RequestedErrors })
            {
                dataset?.Close();
            }

            finished = true;
        }

        public void Dispose()
        {
            if (finished)
            {
                return;
            }

            finished = true;
            Data.Dispose();
            Errors.Dispose();
            Counts.Dispose();
            RequestedData?.Dispose();
            RequestedErrors?.Dispose();
        }
    }
}
