using Anvil.Hdf5;

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
    string Error = "");

/// <summary>What the finished file records about how it was made.</summary>
public sealed record ResultMetadata(string CalibrationFile, string Method, string Unit, int Npt, string Program = "anvil");

/// <summary>
/// Writes the NeXus file DIOPTAS's Batch View opens (science-and-formats.md §5): <c>/processed/result/data</c>
/// (frames × bins, float32), <c>binning</c> (2θ degrees, evenly spaced), <c>/processed/process</c> with
/// files, file_map, pos_map and a scalar cal_file, plus Anvil's extras (errors, counts, frame axis, settings per
/// frame, failed frames, the operator's unit as a second NXdata). Rows go to disk as they arrive (memory stays
/// flat for tens of thousands of frames) in a hidden temporary file that is renamed when complete, so readers
/// never see half a file. Rows of frames that never arrived read back as NaN.
/// </summary>
public sealed class ResultFileWriter : IDisposable
{
    private const int ChunkRows = 32;
    private const int Deflate = 1;
    private readonly string finalPath;
    private readonly string temporaryPath;
    private readonly Hdf5File file;
    private readonly Dictionary<long, FrameResult> frames = [];
    private ExtendibleDataset2D<float>? data;
    private ExtendibleDataset2D<float>? errors;
    private ExtendibleDataset2D<float>? counts;
    private ExtendibleDataset2D<float>? requestedData;
    private ExtendibleDataset2D<float>? requestedErrors;
    private double[]? binning;
    private double[]? requestedRadial;
    private bool disposed;

    private ResultFileWriter(string finalPath)
    {
        this.finalPath = Path.GetFullPath(finalPath);
        temporaryPath = Path.Combine(Path.GetDirectoryName(this.finalPath)!, "." + Path.GetFileName(this.finalPath) + ".partial");
        Directory.CreateDirectory(Path.GetDirectoryName(this.finalPath)!);
        file = Hdf5File.Create(temporaryPath);
    }

    /// <summary>The file name the result gets once complete.</summary>
    public string FinalPath => finalPath;

    /// <summary>Frames received so far (failed ones included).</summary>
    public int FrameCount => frames.Count;

    /// <summary>Starts a result file that becomes <paramref name="finalPath"/> when <see cref="Complete"/> is called.</summary>
    public static ResultFileWriter Create(string finalPath) => new(finalPath);

    /// <summary>Writes (or rewrites, identically, after a redelivery) one frame's row.</summary>
    public void Write(FrameResult result)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(result.Frame, 1);
        frames[result.Frame] = result;
        var row = result.Frame - 1;
        if (result.TwoTheta is { } curve)
        {
            if (data is null)
            {
                var npt = curve.Intensity.Length;
                data = file.CreateExtendible2D<float>("/processed/result/data", npt, ChunkRows, Deflate);
                errors = file.CreateExtendible2D<float>("/processed/result/errors", npt, ChunkRows, Deflate);
                counts = file.CreateExtendible2D<float>("/processed/result/count", npt, ChunkRows, Deflate);
                binning = curve.Radial.ToArray();
            }

            data.WriteRow(row, curve.Intensity.Span);
            errors!.WriteRow(row, curve.Sigma.Span);
            counts!.WriteRow(row, curve.Count.Span);
        }

        if (result.Requested is { } requested)
        {
            if (requestedData is null)
            {
                var npt = requested.Intensity.Length;
                requestedData = file.CreateExtendible2D<float>("/processed/result_requested/data", npt, ChunkRows, Deflate);
                requestedErrors = file.CreateExtendible2D<float>("/processed/result_requested/errors", npt, ChunkRows, Deflate);
                requestedRadial = requested.Radial.ToArray();
            }

            requestedData.WriteRow(row, requested.Intensity.Span);
            requestedErrors!.WriteRow(row, requested.Sigma.Span);
        }
    }

    /// <summary>
    /// Writes the metadata for frames 1..<paramref name="lastFrame"/>, closes the file and renames it to its
    /// final name (or, if that exists — an earlier result is never overwritten — a numbered variant). Returns the path.
    /// </summary>
    public string Complete(long lastFrame, ResultMetadata metadata)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var n = (int)Math.Max(lastFrame, frames.Count == 0 ? 0 : frames.Keys.Max());
        var npt = binning?.Length ?? metadata.Npt;
        if (data is null)
        {
            // Every frame failed: still a loadable file, all rows NaN.
            data = file.CreateExtendible2D<float>("/processed/result/data", npt, ChunkRows, Deflate);
            binning = new double[npt];
        }

        if (data.Rows < n)
        {
            data.WriteRow(n - 1, Enumerable.Repeat(float.NaN, npt).ToArray());
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

        const string result = "/processed/result";
        file.SetAttribute(result, "NX_class", "NXdata");
        file.SetAttribute(result, "signal", "data");
        file.SetAttribute(result, "axes", [".", "binning"]);
        file.WriteDataset(result + "/binning", binning!);
        foreach (var unitAttribute in new[] { "unit", "units" })
        {
            file.SetAttribute(result + "/binning", unitAttribute, "deg");
        }

        file.SetAttribute(result + "/binning", "long_name", "2θ (°)");
        file.WriteDataset(result + "/frame", Enumerable.Range(1, n).Select(f => (long)f).ToArray());
        if (requestedRadial is not null)
        {
            const string requested = "/processed/result_requested";
            file.SetAttribute(requested, "NX_class", "NXdata");
            file.SetAttribute(requested, "signal", "data");
            file.SetAttribute(requested, "axes", [".", "radial"]);
            file.WriteDataset(requested + "/radial", requestedRadial);
            foreach (var unitAttribute in new[] { "unit", "units" })
            {
                file.SetAttribute(requested + "/radial", unitAttribute, metadata.Unit);
            }
        }

        WriteProcess(n, metadata);
        Close();
        var target = finalPath;
        for (var k = 2; File.Exists(target); k++)
        {
            target = Path.Combine(Path.GetDirectoryName(finalPath)!, $"{Path.GetFileNameWithoutExtension(finalPath)}_{k}.nxs");
        }

        File.Move(temporaryPath, target);
        return target;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            Close();
            File.Delete(temporaryPath);
        }
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

        // Which settings produced which frames; failed and missing frames, visibly.
        file.WriteStrings(process + "/settings_hash", hashes);
        foreach (var (hash, json) in frames.Values.Where(f => f.SettingsHash.Length > 0).Select(f => (f.SettingsHash, f.SettingsJson)).Distinct())
        {
            file.WriteString($"{process}/settings/{hash}", json);
        }

        var failed = frames.Values.Where(f => f.Error.Length > 0).OrderBy(f => f.Frame).ToArray();
        var missing = Enumerable.Range(1, n).Where(f => !frames.ContainsKey(f)).Select(f => (long)f).ToArray();
        file.WriteDataset(process + "/failed_frames", failed.Select(f => f.Frame).ToArray());
        file.WriteStrings(process + "/failed_reasons", failed.Select(f => f.Error).ToArray());
        file.WriteDataset(process + "/missing_frames", missing);
    }

    private void Close()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        data?.Dispose();
        errors?.Dispose();
        counts?.Dispose();
        requestedData?.Dispose();
        requestedErrors?.Dispose();
        file.Dispose();
    }
}
