using System.Collections.Concurrent;
using Anvil.Pipeline;
using Anvil.Viewer;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Catalog;

/// <summary>What the page shows of one acquisition: where its rows come from and how far it is.</summary>
public sealed record AcquisitionView(
    string Name,
    string State,
    string Source,
    RadialAxis? Axis,
    FrameMatrix? Matrix,
    IReadOnlyList<long> FrameNumbers,
    IReadOnlyList<(long Frame, string Reason)> Failed,
    long FramesDone,
    long? FramesExpected,
    string SettingsJson,
    string? ResultPath,
    long Version)
{
    /// <summary>The module-1 chunk file and frame index a frame was integrated from, when known.</summary>
    public Func<long, (string M1File, int Index)?> SourceOf { get; init; } = _ => null;
}

/// <summary>One line of the acquisition list.</summary>
public sealed record AcquisitionSummary(
    string Name,
    string State,
    long FramesDone,
    long? FramesExpected,
    int Failed,
    int Missing,
    string SettingsJson,
    string? ResultFile,
    string? Error,
    DateTime UpdatedUtc);

/// <summary>
/// Every acquisition the console knows: those the broker is streaming (rows arriving as profiles) and every result
/// file in the output folder (read read-only, the newest few kept in memory). A finished file wins over the live
/// rows of the same acquisition, since it is what merge made final.
/// </summary>
public sealed class AcquisitionCatalog(PipelineOptions pipeline, IOptions<ConsoleOptions> options)
{
    private readonly ConcurrentDictionary<string, LiveAcquisition> live = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DateTime Stamp, long Length, ResultSummary? Summary, string? Error)> summaries = new(StringComparer.Ordinal);
    private readonly Lock filesGate = new();
    private readonly LinkedList<(string Path, DateTime Stamp, long Length, Lazy<ResultFile> File)> files = new();
    private readonly ConcurrentDictionary<string, (double?, string)> wavelengths = new(StringComparer.Ordinal);

    /// <summary>The output folder, absolute.</summary>
    public string OutputDir { get; } = Path.GetFullPath(pipeline.OutputDir);

    /// <summary>The data root, absolute (relative PONI paths are taken from here).</summary>
    public string DataRoot { get; } = Path.GetFullPath(pipeline.DataRoot);

    /// <summary>Forgets the live rows of <paramref name="name"/> once its result file is what the page shows.</summary>
    public void DropLive(string name) => live.TryRemove(name, out _);

    /// <summary>The live record of <paramref name="name"/>, made on first use.</summary>
    public LiveAcquisition Live(string name) => live.GetOrAdd(name, n => new LiveAcquisition(n));

    /// <summary>λ (Å) of a PONI path as the pipeline names it (absolute or under the data root).</summary>
    public (double? Angstrom, string Source) Wavelength(string poni) =>
        wavelengths.GetOrAdd(poni, p => ResultFile.Wavelength(p, DataRoot, null));

    /// <summary>The result file of <paramref name="name"/>, if the output folder has one.</summary>
    public string? ResultPath(string name)
    {
        if (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.StartsWith('.'))
        {
            return null;
        }

        var path = Path.Combine(OutputDir, name + ".nxs");
        return File.Exists(path) ? path : null;
    }

    /// <summary>Every acquisition, newest first.</summary>
    public IReadOnlyList<AcquisitionSummary> List()
    {
        var result = new Dictionary<string, AcquisitionSummary>(StringComparer.Ordinal);
        foreach (var acquisition in live.Values)
        {
            result[acquisition.Name] = new AcquisitionSummary(acquisition.Name, LiveState(acquisition), acquisition.Matrix?.Filled ?? 0,
                acquisition.FramesFinal ? acquisition.FramesPublished : null, acquisition.Failed.Count, 0, acquisition.SettingsJson, null, null, acquisition.UpdatedUtc);
        }

        if (Directory.Exists(OutputDir))
        {
            foreach (var path in Directory.EnumerateFiles(OutputDir, "*.nxs").Where(p => !Path.GetFileName(p).StartsWith('.')))
            {
                var info = new FileInfo(path);
                var (summary, error) = Summary(info);
                var name = Path.GetFileNameWithoutExtension(path);
                result[name] = summary is null
                    ? new AcquisitionSummary(name, "unreadable", 0, null, 0, 0, string.Empty, path, error, info.LastWriteTimeUtc)
                    : new AcquisitionSummary(name, "finished", summary.Frames - summary.Failed - summary.Missing, summary.Frames, summary.Failed,
                        summary.Missing, summary.SettingsJson, path, null, info.LastWriteTimeUtc);
            }
        }

        return result.Values.OrderByDescending(a => a.UpdatedUtc).ToArray();
    }

    /// <summary>
    /// The rows and axis of <paramref name="name"/>: its result file when there is one, else the live rows.
    /// Null when the console knows no such acquisition; <see cref="ResultFileException"/> when its file is unreadable.
    /// </summary>
    public AcquisitionView? View(string name)
    {
        if (ResultPath(name) is { } path)
        {
            var file = Load(path);
            var failed = file.Failed;
            return new AcquisitionView(name, "finished", "file", file.Axis, file.Matrix, file.FrameNumbers, failed,
                file.Frames - failed.Count - file.Missing.Count, file.Frames, file.SettingsJson, path, File.GetLastWriteTimeUtc(path).Ticks)
            {
                SourceOf = frame => file.RowOf(frame) is var row and >= 0 ? file.SourceOf(row) : null,
            };
        }

        if (live.TryGetValue(name, out var acquisition))
        {
            var matrix = acquisition.Matrix;
            return new AcquisitionView(name, LiveState(acquisition), "broker", acquisition.Axis, matrix,
                Enumerable.Range(1, matrix?.Rows ?? 0).Select(f => (long)f).ToArray(), acquisition.Failed, matrix?.Filled ?? 0,
                acquisition.FramesFinal ? acquisition.FramesPublished : null, acquisition.SettingsJson, null, acquisition.Version)
            {
                SourceOf = acquisition.SourceOf,
            };
        }

        return null;
    }

    /// <summary>
    /// A path as the pipeline records it (absolute, or relative to the data root), made absolute; relative paths
    /// that do not exist under the data root are tried beside <paramref name="besideFile"/>.
    /// </summary>
    public string Resolve(string path, string? besideFile = null)
    {
        if (Path.IsPathRooted(path))
        {
            return path;
        }

        var underRoot = Path.Combine(DataRoot, path);
        return File.Exists(underRoot) || besideFile is null ? underRoot : Path.Combine(Path.GetDirectoryName(besideFile)!, path);
    }

    private static string LiveState(LiveAcquisition a) => a.ProfilesComplete ? "merging" : "running";

    private (ResultSummary? Summary, string? Error) Summary(FileInfo info)
    {
        if (summaries.TryGetValue(info.FullName, out var cached) && cached.Stamp == info.LastWriteTimeUtc && cached.Length == info.Length)
        {
            return (cached.Summary, cached.Error);
        }

        (ResultSummary?, string?) read;
        try
        {
            read = (ResultFile.ReadSummary(info.FullName), null);
        }
        catch (ResultFileException ex)
        {
            read = (null, ex.Message);
        }

        summaries[info.FullName] = (info.LastWriteTimeUtc, info.Length, read.Item1, read.Item2);
        return read;
    }

    // The newest few files stay in memory; a file replaced on disk (same name, new stamp) is read again.
    private ResultFile Load(string path)
    {
        var info = new FileInfo(path);
        Lazy<ResultFile> lazy;
        lock (filesGate)
        {
            var node = files.First;
            while (node is not null && !(node.Value.Path == path && node.Value.Stamp == info.LastWriteTimeUtc && node.Value.Length == info.Length))
            {
                node = node.Next;
            }

            if (node is null)
            {
                node = files.AddFirst((path, info.LastWriteTimeUtc, info.Length, new Lazy<ResultFile>(() => ResultFile.Open(path, DataRoot))));
                while (files.Count > Math.Max(1, options.Value.CachedFiles))
                {
                    files.RemoveLast();
                }
            }
            else if (node != files.First)
            {
                files.Remove(node);
                files.AddFirst(node);
            }

            lazy = node.Value.File;
        }

        try
        {
            return lazy.Value;
        }
        catch (ResultFileException)
        {
            lock (filesGate)
            {
                // Not cached: a file being replaced may read fine next time.
                var bad = files.First;
                while (bad is not null && bad.Value.File != lazy)
                {
                    bad = bad.Next;
                }

                if (bad is not null)
                {
                    files.Remove(bad);
                }
            }

            throw;
        }
    }
}
