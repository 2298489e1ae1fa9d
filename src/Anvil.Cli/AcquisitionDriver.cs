using System.Diagnostics;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;

namespace Anvil.Cli;

/// <summary>What a driver did: the acquisitions it announced, their frames, and when the last frame was on disk.</summary>
public sealed record DriverResult(IReadOnlyList<string> Acquisitions, int Frames, DateTime FirstAnnouncedUtc, DateTime LastWrittenUtc);

/// <summary>
/// Plays the detector: either writes a simulated Lambda 2M acquisition and announces each module file as it
/// is closed (`anvil simulate`), or announces existing Lambda files as if they had just been written (`anvil replay`).
/// </summary>
public static class AcquisitionDriver
{
    /// <summary>
    /// Writes and announces a simulated acquisition below <paramref name="dataRoot"/>. Every frame is drawn and written
    /// first, into a staging folder beside the files (drawing a frame costs about as much CPU as the chain spends on it,
    /// so drawing while the chain runs would measure the simulator); then each chunk part's module files are moved into
    /// place and announced as the detector closes them, at <see cref="SimulationOptions.FrameRate"/> (0: at once). The
    /// result's times are those of the announcements, so the rates printed are the chain's own.
    /// </summary>
    public static async Task<DriverResult> SimulateAsync(Ingest.IngestClient ingest, string dataRoot, Geometry geometry,
        SimulationOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var staging = Path.Combine(dataRoot, $".staging-{options.Acquisition}");
        var chunks = new List<ChunkWritten>();
        var drawing = Stopwatch.StartNew();
        await new LambdaSimulator(geometry, options with { FrameRate = 0 }).RunAsync(staging, (chunk, _) =>
        {
            chunks.Add(chunk);
            return Task.CompletedTask;
        }, cancellationToken);
        log.WriteLine($"simulated {options.Frames} frames of {options.Acquisition} in {drawing.Elapsed.TotalSeconds:0.00} s ({options.Frames / drawing.Elapsed.TotalSeconds:0} frames/s drawn and written before the clock starts)");
        var truth = options.Acquisition + "_truth.json";
        File.Move(Path.Combine(staging, truth), Path.Combine(dataRoot, truth), overwrite: true);

        var first = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var frames = 0;
        foreach (var part in chunks.GroupBy(c => c.Part).OrderBy(p => p.Key))
        {
            frames += part.First().Frames;
            if (options.FrameRate > 0 && TimeSpan.FromSeconds(frames / options.FrameRate) - clock.Elapsed is { } due && due > TimeSpan.Zero)
            {
                // The part is closed once its last frame is taken.
                await Task.Delay(due, cancellationToken);
            }

            foreach (var chunk in part)
            {
                var path = Path.Combine(dataRoot, Path.GetFileName(chunk.Path));
                File.Move(chunk.Path, path, overwrite: true);
                await ingest.AnnounceChunkAsync(new AnnounceChunkRequest
                {
                    Acquisition = chunk.Acquisition,
                    Module = (uint)chunk.Module,
                    Modules = (uint)chunk.Modules,
                    Part = (uint)chunk.Part,
                    Path = path,
                    Frames = (uint)chunk.Frames,
                }, cancellationToken: cancellationToken);
            }
        }

        var lastWritten = DateTime.UtcNow;
        Directory.Delete(staging, recursive: true);
        var parts = chunks.Count == 0 ? 0 : chunks.Max(c => c.Part) + 1;
        await ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = options.Acquisition, Parts = (uint)parts }, cancellationToken: cancellationToken);
        return new DriverResult([options.Acquisition], options.Frames, first, lastWritten);
    }

    /// <summary>The acquisitions a replay of <paramref name="directory"/> announces, in order.</summary>
    public static IReadOnlyList<string> ReplayAcquisitions(string directory) =>
        [.. ReplayChunks(directory).Select(c => c.Acquisition).Distinct()];

    /// <summary>The Lambda chunk files of a folder, by acquisition, part and module.</summary>
    private static (string Path, string Acquisition, int Module, int Part)[] ReplayChunks(string directory)
    {
        var chunks = Directory.EnumerateFiles(directory, "*.nxs")
            .Select(path => ChunkFileName.TryParse(Path.GetFileName(path), out var acquisition, out var module, out var part)
                ? (Path: path, Acquisition: acquisition, Module: module, Part: part)
                : default)
            .Where(c => c.Path is not null)
            .OrderBy(c => c.Acquisition, StringComparer.Ordinal).ThenBy(c => c.Part).ThenBy(c => c.Module)
            .ToArray();
        return chunks.Length > 0 ? chunks : throw new FileNotFoundException($"no Lambda chunk files (<scan>_m<k>_part<NNNNN>.nxs) in {directory}");
    }

    /// <summary>Announces every Lambda chunk file in <paramref name="directory"/>, part by part, then finishes each acquisition.</summary>
    public static async Task<DriverResult> ReplayAsync(Ingest.IngestClient ingest, string directory, TextWriter log, CancellationToken cancellationToken)
    {
        var chunks = ReplayChunks(directory);

        var first = DateTime.UtcNow;
        var frames = 0;
        foreach (var acquisition in chunks.GroupBy(c => c.Acquisition))
        {
            var modules = acquisition.Max(c => c.Module);
            // A part's frame count comes from the first of its module files that opens: a corrupt module file is
            // still announced (with its siblings' count), so stitch fails that chunk's frames visibly.
            var counts = acquisition.GroupBy(c => c.Part).ToDictionary(p => p.Key, p => p.Select(c => FrameCountOrNull(c.Path)).FirstOrDefault(n => n is not null) ?? 0);
            frames += counts.Values.Sum();
            foreach (var chunk in acquisition)
            {
                var count = counts[chunk.Part];

                await ingest.AnnounceChunkAsync(new AnnounceChunkRequest
                {
                    Acquisition = chunk.Acquisition,
                    Module = (uint)chunk.Module,
                    Modules = (uint)modules,
                    Part = (uint)chunk.Part,
                    Path = Path.GetFullPath(chunk.Path),
                    Frames = (uint)count,
                }, cancellationToken: cancellationToken);
            }

            await ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest
            {
                Acquisition = acquisition.Key,
                Parts = (uint)(acquisition.Max(c => c.Part) + 1),
            }, cancellationToken: cancellationToken);
            log.WriteLine($"replayed {acquisition.Key}: {acquisition.Count()} module files");
        }

        return new DriverResult(chunks.Select(c => c.Acquisition).Distinct().ToArray(), frames, first, first);
    }

    private static int? FrameCountOrNull(string path)
    {
        try
        {
            using var file = LambdaModuleFile.Open(path);
            return file.FrameCount;
        }
        catch (Hdf5Exception)
        {
            return null;
        }
    }
}
