using Anvil.Ingest.Service.Options;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Microsoft.Extensions.Options;

namespace Anvil.Ingest.Service.Ingesting;

/// <summary>
/// Watch mode (Ingest:Watch): scans a directory for Lambda chunk files, announces each once its size has
/// stopped changing, and finishes an acquisition when it has been idle for Ingest:FinishAfterIdle with every
/// module of every part present. Scanning (rather than inotify) also works on GPFS/NFS mounts.
/// With detectors configured, a file belongs to the detector whose <c>Pattern</c> matches its path below the watched
/// folder (<see cref="DetectorOptions.Pattern"/>; the folder is then scanned with its subfolders); a file no pattern
/// matches is left alone.
/// </summary>
public sealed partial class DirectoryWatcher(ChunkAnnouncer announcer, IOptions<IngestOptions> options, PipelineOptions pipeline, DetectorSet detectors,
    TimeProvider time, ILogger<DirectoryWatcher> logger) : BackgroundService
{
    private readonly Dictionary<string, long> pendingSizes = new(StringComparer.Ordinal);
    private readonly HashSet<string> announcedFiles = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Acquisition, string Detector), (HashSet<(int Module, int Part)> Seen, DateTimeOffset LastNew, int Modules)> acquisitions = [];

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

        var files = detectors.Configured
            ? Directory.EnumerateFiles(directory, "*.nxs", SearchOption.AllDirectories)
            : Directory.EnumerateFiles(directory, "*.nxs");
        foreach (var file in files)
        {
            if (announcedFiles.Contains(file) || !ChunkFileName.TryParse(Path.GetFileName(file), out var acquisition, out var module, out var part))
            {
                continue;
            }

            var detector = DetectorOf(directory, file);
            if (detectors.Configured && detector is null)
            {
                continue;
            }

            var size = new FileInfo(file).Length;
            if (!pendingSizes.TryGetValue(file, out var previous) || previous != size || size == 0)
            {
                pendingSizes[file] = size;
                continue;
            }

            var modules = detector?.Kind.Modules ?? options.Value.Modules;
            await announcer.AnnounceAsync(new AnnounceChunkRequest
            {
                Acquisition = acquisition,
                Detector = detector?.Name ?? string.Empty,
                Module = (uint)module,
                Modules = (uint)modules,
                Part = (uint)part,
                Path = file,
            }, cancellationToken);
            pendingSizes.Remove(file);
            announcedFiles.Add(file);
            var key = (acquisition, detector?.Name ?? string.Empty);
            var seen = acquisitions.TryGetValue(key, out var state) ? state.Seen : [];
            seen.Add((module, part));
            acquisitions[key] = (seen, time.GetUtcNow(), modules);
        }

        foreach (var (key, state) in acquisitions.ToArray())
        {
            var parts = state.Seen.Max(s => s.Part) + 1;
            var complete = state.Seen.Count == parts * state.Modules;
            if (complete && time.GetUtcNow() - state.LastNew >= options.Value.FinishAfterIdle)
            {
                await announcer.FinishAsync(new FinishAcquisitionRequest { Acquisition = key.Acquisition, Detector = key.Detector, Parts = (uint)parts }, cancellationToken);
                acquisitions.Remove(key);
            }
        }
    }

    // The detector whose pattern matches the file's path below the watched folder ('/'-separated); the first in name order.
    private Detector? DetectorOf(string directory, string file)
    {
        var relative = Path.GetRelativePath(directory, file).Replace(Path.DirectorySeparatorChar, '/');
        return detectors.Detectors.FirstOrDefault(d => d.Pattern is { } pattern
            && System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(pattern, relative, ignoreCase: false));
    }

    [LoggerMessage(2101, LogLevel.Information, "Watching {Directory} for Lambda chunk files")]
    private static partial void LogWatching(ILogger logger, string directory);

    [LoggerMessage(2102, LogLevel.Warning, "Scan of {Directory} failed; retrying at the next scan")]
    private static partial void LogScanFailed(ILogger logger, Exception exception, string directory);
}
