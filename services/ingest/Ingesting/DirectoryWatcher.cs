using Anvil.Ingest.Service.Options;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Microsoft.Extensions.Options;

namespace Anvil.Ingest.Service.Ingesting;

/// <summary>
/// Watch mode (Ingest:Watch): scans a directory for Lambda chunk files, announces each once its size has
/// stopped changing, and finishes an acquisition when it has been idle for Ingest:FinishAfterIdle with every
/// module of every part present. Scanning (rather than inotify) also works on GPFS/NFS mounts.
/// </summary>
public sealed partial class DirectoryWatcher(ChunkAnnouncer announcer, IOptions<IngestOptions> options, PipelineOptions pipeline,
    TimeProvider time, ILogger<DirectoryWatcher> logger) : BackgroundService
{
    private readonly Dictionary<string, long> pendingSizes = new(StringComparer.Ordinal);
    private readonly HashSet<string> announcedFiles = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (HashSet<(int Module, int Part)> Seen, DateTimeOffset LastNew)> acquisitions = new(StringComparer.Ordinal);

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

        foreach (var file in Directory.EnumerateFiles(directory, "*.nxs"))
        {
            if (announcedFiles.Contains(file) || !ChunkFileName.TryParse(Path.GetFileName(file), out var acquisition, out var module, out var part))
            {
                continue;
            }

            var size = new FileInfo(file).Length;
            if (!pendingSizes.TryGetValue(file, out var previous) || previous != size || size == 0)
            {
                pendingSizes[file] = size;
                continue;
            }

            await announcer.AnnounceAsync(new AnnounceChunkRequest
            {
                Acquisition = acquisition,
                Module = (uint)module,
                Modules = (uint)options.Value.Modules,
                Part = (uint)part,
                Path = file,
            }, cancellationToken);
            pendingSizes.Remove(file);
            announcedFiles.Add(file);
            var seen = acquisitions.TryGetValue(acquisition, out var state) ? state.Seen : [];
            seen.Add((module, part));
            acquisitions[acquisition] = (seen, time.GetUtcNow());
        }

        foreach (var (acquisition, state) in acquisitions.ToArray())
        {
            var parts = state.Seen.Max(s => s.Part) + 1;
            var complete = state.Seen.Count == parts * options.Value.Modules;
            if (complete && time.GetUtcNow() - state.LastNew >= options.Value.FinishAfterIdle)
            {
                await announcer.FinishAsync(new FinishAcquisitionRequest { Acquisition = acquisition, Parts = (uint)parts }, cancellationToken);
                acquisitions.Remove(acquisition);
            }
        }
    }

    [LoggerMessage(2101, LogLevel.Information, "Watching {Directory} for Lambda chunk files")]
    private static partial void LogWatching(ILogger logger, string directory);

    [LoggerMessage(2102, LogLevel.Warning, "Scan of {Directory} failed; retrying at the next scan")]
    private static partial void LogScanFailed(ILogger logger, Exception exception, string directory);
}
