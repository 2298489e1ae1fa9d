using Anvil.Hdf5;
using Anvil.Integration;

namespace Anvil.Viewer;

/// <summary>A file that is not a readable Anvil/DIOPTAS result (truncated, corrupt, another layout).</summary>
public sealed class ResultFileException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The acquisition list's view of a result file.</summary>
public sealed record ResultSummary(string Acquisition, long Frames, long Bins, int Failed, int Missing, string SettingsJson);

/// <summary>
/// A finished result file as the viewer needs it, read once and held in memory (the file is opened read-only and
/// closed again; nothing is ever written to it): <c>/processed/result/data</c> (frames × bins),
/// <c>binning</c> (2θ degrees), <c>frame</c>, and from <c>/processed/process</c> the failed and missing frames,
/// the calibration file (for the wavelength) and the settings of the frames shown.
/// </summary>
public sealed class ResultFile
{
    private const string Result = "/processed/result";
    private const string Process = "/processed/process";

    private ResultFile(string path, RadialAxis axis, FrameMatrix matrix)
    {
        Path = path;
        Axis = axis;
        Matrix = matrix;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The acquisition: the file name without <c>.nxs</c>.</summary>
    public string Acquisition => System.IO.Path.GetFileNameWithoutExtension(Path);

    /// <summary>The 2θ axis and wavelength.</summary>
    public RadialAxis Axis { get; }

    /// <summary>Frames × bins (row r = frame r + 1).</summary>
    public FrameMatrix Matrix { get; }

    /// <summary>Frame numbers of the rows (<c>result/frame</c>).</summary>
    public IReadOnlyList<long> FrameNumbers { get; private init; } = [];

    /// <summary>Frames that failed, with their reasons.</summary>
    public IReadOnlyList<(long Frame, string Reason)> Failed { get; private init; } = [];

    /// <summary>Frames that never arrived.</summary>
    public IReadOnlyList<long> Missing { get; private init; } = [];

    /// <summary><c>process/cal_file</c> as written.</summary>
    public string CalibrationFile { get; private init; } = string.Empty;

    /// <summary><c>process/int_method</c>.</summary>
    public string Method { get; private init; } = string.Empty;

    /// <summary><c>process/int_unit</c>: the unit the operator asked for.</summary>
    public string Unit { get; private init; } = string.Empty;

    /// <summary><c>process/num_points</c>.</summary>
    public long Npt { get; private init; }

    /// <summary>The settings JSON of the newest integrated frame, or empty.</summary>
    public string SettingsJson { get; private init; } = string.Empty;

    /// <summary>Frames (rows).</summary>
    public int Frames => Matrix.Rows;

    /// <summary><c>process/files</c>: the module-1 chunk files (DIOPTAS derives the other modules).</summary>
    public IReadOnlyList<string> Files { get; private init; } = [];

    /// <summary><c>process/pos_map</c>, flat: [file index, frame in file] per row.</summary>
    public IReadOnlyList<long> PositionMap { get; private init; } = [];

    /// <summary>The module-1 chunk file and frame index of row <paramref name="row"/>, or null when unknown.</summary>
    public (string M1File, int Index)? SourceOf(int row)
    {
        if (row < 0 || (2 * row) + 1 >= PositionMap.Count)
        {
            return null;
        }

        var file = PositionMap[2 * row];
        return file >= 0 && file < Files.Count && Files[(int)file].Length > 0 ? (Files[(int)file], (int)PositionMap[(2 * row) + 1]) : null;
    }

    /// <summary>Reads <paramref name="path"/>; relative calibration paths are tried under <paramref name="dataRoot"/>, then beside the file.</summary>
    public static ResultFile Open(string path, string? dataRoot = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            using var file = Hdf5File.OpenRead(path);
            foreach (var required in new[] { Result + "/data", Result + "/binning" })
            {
                if (!file.Exists(required))
                {
                    throw new ResultFileException($"{System.IO.Path.GetFileName(path)} is not a result file: it has no {required}.");
                }
            }

            var info = file.GetDatasetInfo(Result + "/data");
            var binning = file.ReadDataset<double>(Result + "/binning");
            if (info.Rank != 2 || info.Shape[1] != binning.Length || binning.Length == 0)
            {
                throw new ResultFileException($"{System.IO.Path.GetFileName(path)}: {Result}/data has shape [{string.Join(", ", info.Shape)}], which does not match {binning.Length} bins.");
            }

            if (info.Shape[0] * info.Shape[1] > Array.MaxLength)
            {
                throw new ResultFileException($"{System.IO.Path.GetFileName(path)}: {info.Shape[0]} × {info.Shape[1]} values are more than one array holds.");
            }

            var data = file.ReadDataset<float>(Result + "/data");
            var frames = file.Exists(Result + "/frame") ? file.ReadDataset<long>(Result + "/frame") : Enumerable.Range(1, (int)info.Shape[0]).Select(f => (long)f).ToArray();
            var calFile = file.Exists(Process + "/cal_file") ? file.ReadString(Process + "/cal_file") : string.Empty;
            var (wavelength, source) = Wavelength(calFile, dataRoot, path);
            var failedFrames = file.Exists(Process + "/failed_frames") ? file.ReadDataset<long>(Process + "/failed_frames") : [];
            var failedReasons = file.Exists(Process + "/failed_reasons") ? file.ReadStrings(Process + "/failed_reasons") : [];
            var matrix = FrameMatrix.FromDense(data, binning.Length);
            matrix.BuildCoarse();
            return new ResultFile(System.IO.Path.GetFullPath(path), new RadialAxis(binning, wavelength, source), matrix)
            {
                FrameNumbers = frames,
                Failed = failedFrames.Select((f, i) => (f, i < failedReasons.Length ? failedReasons[i] : string.Empty)).ToArray(),
                Missing = file.Exists(Process + "/missing_frames") ? file.ReadDataset<long>(Process + "/missing_frames") : [],
                CalibrationFile = calFile,
                Method = file.Exists(Process + "/int_method") ? file.ReadString(Process + "/int_method") : string.Empty,
                Unit = file.Exists(Process + "/int_unit") ? file.ReadString(Process + "/int_unit") : string.Empty,
                Npt = file.Exists(Process + "/num_points") ? file.ReadDataset<long>(Process + "/num_points").FirstOrDefault() : binning.Length,
                SettingsJson = LatestSettings(file),
                Files = file.Exists(Process + "/files") ? file.ReadStrings(Process + "/files") : [],
                PositionMap = file.Exists(Process + "/pos_map") ? file.ReadDataset<long>(Process + "/pos_map") : [],
            };
        }
        catch (Hdf5Exception ex)
        {
            throw new ResultFileException($"{System.IO.Path.GetFileName(path)} cannot be read as HDF5/NeXus: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// What the acquisition list shows, without reading the data: frames, failed and missing frames, the settings.
    /// </summary>
    public static ResultSummary ReadSummary(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            using var file = Hdf5File.OpenRead(path);
            if (!file.Exists(Result + "/data"))
            {
                throw new ResultFileException($"{System.IO.Path.GetFileName(path)} is not a result file: it has no {Result}/data.");
            }

            var info = file.GetDatasetInfo(Result + "/data");
            return new ResultSummary(
                System.IO.Path.GetFileNameWithoutExtension(path),
                info.Rank == 2 ? info.Shape[0] : 0,
                info.Rank == 2 ? info.Shape[1] : 0,
                file.Exists(Process + "/failed_frames") ? file.ReadDataset<long>(Process + "/failed_frames").Length : 0,
                file.Exists(Process + "/missing_frames") ? file.ReadDataset<long>(Process + "/missing_frames").Length : 0,
                LatestSettings(file));
        }
        catch (Hdf5Exception ex)
        {
            throw new ResultFileException($"{System.IO.Path.GetFileName(path)} cannot be read as HDF5/NeXus: {ex.Message}", ex);
        }
    }

    /// <summary>Row index of frame <paramref name="frame"/>, or -1.</summary>
    public int RowOf(long frame)
    {
        var guess = (int)Math.Clamp(frame - 1, 0, int.MaxValue);
        if (guess < FrameNumbers.Count && FrameNumbers[guess] == frame)
        {
            return guess;
        }

        for (var i = 0; i < FrameNumbers.Count; i++)
        {
            if (FrameNumbers[i] == frame)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>λ in Å from the PONI named by <paramref name="calFile"/>, or null with the reason.</summary>
    public static (double? Angstrom, string Source) Wavelength(string calFile, string? dataRoot, string? besideFile)
    {
        if (string.IsNullOrWhiteSpace(calFile))
        {
            return (null, "the result names no calibration file");
        }

        var candidates = new List<string>();
        if (System.IO.Path.IsPathRooted(calFile))
        {
            candidates.Add(calFile);
        }
        else
        {
            if (!string.IsNullOrEmpty(dataRoot))
            {
                candidates.Add(System.IO.Path.Combine(dataRoot, calFile));
            }

            if (besideFile is not null)
            {
                candidates.Add(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(besideFile))!, calFile));
            }

            candidates.Add(System.IO.Path.GetFullPath(calFile));
        }

        foreach (var candidate in candidates.Where(File.Exists))
        {
            try
            {
                var geometry = PoniFile.Load(candidate);
                return geometry.Wavelength > 0 ? (geometry.Wavelength * 1e10, candidate) : (null, $"{candidate} has no wavelength");
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
            {
                return (null, $"{candidate} does not load: {ex.Message}");
            }
        }

        return (null, $"calibration file {calFile} not found");
    }

    private static string LatestSettings(Hdf5File file)
    {
        if (!file.Exists(Process + "/settings_hash"))
        {
            return string.Empty;
        }

        var hash = file.ReadStrings(Process + "/settings_hash").LastOrDefault(h => h.Length > 0);
        var path = $"{Process}/settings/{hash}";
        return hash is not null && file.Exists(path) ? file.ReadString(path) : string.Empty;
    }
}
