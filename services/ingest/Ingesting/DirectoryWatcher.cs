using Anvil.Ingest.Service.Options;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Microsoft.Extensions.Options;

namespace Anvil.Ingest.Service.Ingesting;

/// <summary>
/// Watch mode (Ingest:Watch): scans a directory for Lambda chunk files and for single-image detector files
/// (<see cref="ImageFileName"/>: <c>&lt;acquisition&gt;_&lt;NNNNN&gt;.tif|.cbf|.edf</c>, <c>&lt;acquisition&gt;_master.h5</c>),
/// announces each once its size has stopped changing, and finishes an acquisition when it has been idle for
/// Ingest:FinishAfterIdle with every module of every part present. An image is a chunk of one module; its part is its
/// number less the lowest number of its acquisition's images in the folder when the first was announced (so
/// <c>pe_00001.tif</c> is frame 1 of acquisition <c>pe</c>). With detectors configured (Pipeline:Detectors), the whole
/// tree below the folder is scanned and each file goes to the detector whose <c>Pattern</c> its path matches
/// (<see cref="DetectorOptions.Pattern"/>); a file no pattern matches is left alone (logged once). Scanning (rather than inotify)
/// also works on GPFS/NFS mounts.
/// </summary>
public sealed partial class DirectoryWatcher(ChunkAnnouncer announcer, IOptions<IngestOptions> options, PipelineOptions pipeline,
    DetectorSet detectors, TimeProvider time, ILogger<DirectoryWatcher> logger) : BackgroundService
{
    private readonly Dictionary<string, long> pendingSizes = new(StringComparer.Ordinal);
    private readonly HashSet<string> announcedFiles = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> firstImageNumbers = new(StringComparer.Ordinal);

    // By stream (the acquisition, or A_D for detector D's data of acquisition A).
    private readonly Dictionary<string, (string Acquisition, string Detector, HashSet<(int Module, int Part)> Seen, int Modules, DateTimeOffset LastNew)> acquisitions = new(StringComparer.Ordinal);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Watch is not { Length: > 0 } watch)
        {
            return;
        }

        var root = new DataRoot(pipeline.DataRoot);
        var directory = root.ToFull(root.ToRelative(watch));
        LogWatching(logger, directory);
        using var timer = new PeriodicTimer(options.Value.ScanInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ScanAsync(directory, stoppingToken);
            }
            catch (Exception ex) when (ex is IOException or global::Grpc.Core.RpcException or ArgumentException)
            {
                LogScanFailed(logger, ex, directory);
            }
        }
    }

    private async Task ScanAsync(string directory, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        // With detectors configured their patterns may name subfolders (pe1/*.tif): then the whole tree is scanned.
        var files = Directory.EnumerateFiles(directory, "*", detectors.Configured ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Order(StringComparer.Ordinal)
            .Select(file => (File: file, Detector: Attribute(directory, file)))
            .Where(f => f.Detector is not null)
            .ToArray();
        var lowest = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (file, detector) in files)
        {
            if (ImageFileName.TryParse(Path.GetFileName(file), out var acquisition, out var number))
            {
                var stream = StreamOf(acquisition, detector!);
                lowest[stream] = Math.Min(number, lowest.GetValueOrDefault(stream, long.MaxValue));
            }
        }

        foreach (var (file, detector) in files)
        {
            if (announcedFiles.Contains(file) || Chunk(file, detector!, lowest) is not { } request)
            {
                continue;
            }

            var size = new FileInfo(file).Length;
            if (!pendingSizes.TryGetValue(file, out var previous) || previous != size || size == 0)
            {
                pendingSizes[file] = size;
                continue;
            }

            pendingSizes.Remove(file);
            announcedFiles.Add(file);
            if (request.Part < 0)
            {
                LogBelowFirst(logger, file, request.Request.Acquisition);
                continue;
            }

            await announcer.AnnounceAsync(request.Request, cancellationToken);
            var key = StreamOf(request.Request.Acquisition, detector!);
            var seen = acquisitions.TryGetValue(key, out var state) ? state.Seen : [];
            seen.Add(((int)request.Request.Module, (int)request.Part));
            acquisitions[key] = (request.Request.Acquisition, detector!, seen, (int)request.Request.Modules, time.GetUtcNow());
        }

        foreach (var (key, state) in acquisitions.ToArray())
        {
            var parts = state.Seen.Max(s => s.Part) + 1;
            var complete = state.Seen.Count == parts * state.Modules;
            if (complete && time.GetUtcNow() - state.LastNew >= options.Value.FinishAfterIdle)
            {
                await announcer.FinishAsync(new FinishAcquisitionRequest { Acquisition = state.Acquisition, Detector = state.Detector, Parts = (uint)parts }, cancellationToken);
                acquisitions.Remove(key);
            }
        }
    }

    // The detector a file belongs to: "" without detectors; with them, the first (in name order) whose Pattern its path
    // below the watched folder matches ('/'-separated; '*' and '?' as FileSystemName's simple expressions); null = none,
    // and the file is left alone (said once).
    private string? Attribute(string directory, string file)
    {
        if (!detectors.Configured)
        {
            return string.Empty;
        }

        var relative = Path.GetRelativePath(directory, file).Replace(Path.DirectorySeparatorChar, '/');
        if (detectors.Detectors.FirstOrDefault(d => d.Pattern is { } pattern
            && System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(pattern, relative, ignoreCase: false)) is { } detector)
        {
            return detector.Name;
        }

        if ((ChunkFileName.TryParse(Path.GetFileName(file), out _, out _, out _) || ImageFileName.TryParse(Path.GetFileName(file), out _, out _)) && announcedFiles.Add(file))
        {
            LogNoDetector(logger, relative, detectors.Names);
        }

        return null;
    }

    private static string StreamOf(string acquisition, string detector) => detector.Length == 0 ? acquisition : DetectorSet.StreamName(acquisition, detector);

    // The chunk a file is: a Lambda module file (its name says acquisition, module and part), or a single image
    // (module 1 of 1, part = its number less the acquisition's first); null for any other file.
    private (AnnounceChunkRequest Request, long Part)? Chunk(string file, string detector, Dictionary<string, long> lowest)
    {
        var name = Path.GetFileName(file);
        if (ChunkFileName.TryParse(name, out var acquisition, out var module, out var part))
        {
            var modules = detectors.Find(detector)?.Kind.Modules ?? options.Value.Modules;
            return (new AnnounceChunkRequest { Acquisition = acquisition, Detector = detector, Module = (uint)module, Modules = (uint)modules, Part = (uint)part, Path = file }, part);
        }

        if (!ImageFileName.TryParse(name, out acquisition, out var number))
        {
            return null;
        }

        var stream = StreamOf(acquisition, detector);
        if (!firstImageNumbers.TryGetValue(stream, out var first))
        {
            first = lowest[stream];
        }

        var imagePart = number - first;
        if (imagePart is >= 0 and < uint.MaxValue)
        {
            firstImageNumbers[stream] = first;
        }

        return (new AnnounceChunkRequest { Acquisition = acquisition, Detector = detector, Module = 1, Modules = 1, Part = (uint)Math.Clamp(imagePart, 0, uint.MaxValue - 1), Path = file }, imagePart);
    }

    [LoggerMessage(2101, LogLevel.Information, "Watching {Directory} for Lambda chunk files and detector image sequences")]
    private static partial void LogWatching(ILogger logger, string directory);

    [LoggerMessage(2102, LogLevel.Warning, "Scan of {Directory} failed; retrying at the next scan")]
    private static partial void LogScanFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(2104, LogLevel.Warning, "{File} in the watched folder matches no detector's Pattern ({Detectors}): it is left out")]
    private static partial void LogNoDetector(ILogger logger, string file, string detectors);

    [LoggerMessage(2103, LogLevel.Warning, "Image {File} is numbered below the first image of acquisition {Acquisition}, which is already being announced: it is left out")]
    private static partial void LogBelowFirst(ILogger logger, string file, string acquisition);
}
