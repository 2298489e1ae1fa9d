using System.Diagnostics;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;

namespace Anvil.Cli;

/// <summary>A detector the simulator plays: its configured name ("" = the pipeline has no detectors) and geometry.</summary>
public sealed record SimulatedDetector(string Name, Geometry Geometry);

/// <summary>What a driver did: the acquisitions it announced (with detectors configured, each detector's stream <c>A_D</c>: the result's name), their frames (all detectors'), and when the last frame was on disk.</summary>
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
    public static Task<DriverResult> SimulateAsync(Ingest.IngestClient ingest, string dataRoot, Geometry geometry,
        SimulationOptions options, TextWriter log, CancellationToken cancellationToken) =>
        SimulateAsync(ingest, dataRoot, [new SimulatedDetector(string.Empty, geometry)], options, log, cancellationToken);

    /// <summary>
    /// Several detectors on one acquisition, interleaved: detector k (0-based) of N takes its frames at
    /// <see cref="SimulationOptions.FrameRate"/> each, 1/(N·rate) after detector k − 1 (two Lambdas at 2 kHz, 250 µs apart:
    /// one 4 kHz stream), each with its own geometry and its own frames (its own noise), in its own folder
    /// <c>&lt;data&gt;/&lt;detector&gt;/</c>, announced under its name. Its truth goes to <c>&lt;acquisition&gt;_&lt;detector&gt;_truth.json</c>.
    /// A detector named "" is the unnamed one of a pipeline without detectors (files and truth straight in the data root).
    /// </summary>
    public static async Task<DriverResult> SimulateAsync(Ingest.IngestClient ingest, string dataRoot, IReadOnlyList<SimulatedDetector> detectors,
        SimulationOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var plays = new List<(double Due, int Part, int Detector, ChunkWritten[] Modules)>();
        var stagings = new List<string>();
        var streams = new List<string>();
        var rate = options.FrameRate;
        for (var k = 0; k < detectors.Count; k++)
        {
            var detector = detectors[k];
            var stream = detector.Name.Length > 0 ? DetectorSet.StreamName(options.Acquisition, detector.Name) : options.Acquisition;
            streams.Add(stream);
            var staging = Path.Combine(dataRoot, $".staging-{stream}");
            stagings.Add(staging);
            var chunks = new List<ChunkWritten>();
            var drawing = Stopwatch.StartNew();
            await new LambdaSimulator(detector.Geometry, options with { FrameRate = 0, Seed = options.Seed + k }).RunAsync(staging, (chunk, _) =>
            {
                chunks.Add(chunk);
                return Task.CompletedTask;
            }, cancellationToken);
            log.WriteLine($"simulated {options.Frames} frames of {stream} in {drawing.Elapsed.TotalSeconds:0.00} s ({options.Frames / drawing.Elapsed.TotalSeconds:0} frames/s drawn and written before the clock starts)");
            File.Move(Path.Combine(staging, options.Acquisition + "_truth.json"), Path.Combine(dataRoot, stream + "_truth.json"), overwrite: true);

            var frames = 0;
            foreach (var part in chunks.GroupBy(c => c.Part).OrderBy(p => p.Key))
            {
                // A part is closed once its last frame is taken; detector k takes each frame k/(N·rate) after detector 0.
                frames += part.First().Frames;
                var due = rate > 0 ? (frames / rate) + (k / (detectors.Count * rate)) : 0;
                plays.Add((due, part.Key, k, [.. part]));
            }
        }

        var first = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        foreach (var play in plays.OrderBy(p => p.Due).ThenBy(p => p.Part).ThenBy(p => p.Detector))
        {
            if (rate > 0 && TimeSpan.FromSeconds(play.Due) - clock.Elapsed is { } due && due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancellationToken);
            }

            var detector = detectors[play.Detector];
            var folder = detector.Name.Length > 0 ? Directory.CreateDirectory(Path.Combine(dataRoot, detector.Name)).FullName : dataRoot;
            foreach (var chunk in play.Modules)
            {
                var path = Path.Combine(folder, Path.GetFileName(chunk.Path));
                File.Move(chunk.Path, path, overwrite: true);
                await ingest.AnnounceChunkAsync(new AnnounceChunkRequest
                {
                    Acquisition = chunk.Acquisition,
                    Detector = detector.Name,
                    Module = (uint)chunk.Module,
                    Modules = (uint)chunk.Modules,
                    Part = (uint)chunk.Part,
                    Path = path,
                    Frames = (uint)chunk.Frames,
                }, cancellationToken: cancellationToken);
            }
        }

        var lastWritten = DateTime.UtcNow;
        foreach (var staging in stagings)
        {
            Directory.Delete(staging, recursive: true);
        }

        for (var k = 0; k < detectors.Count; k++)
        {
            var parts = plays.Where(p => p.Detector == k).Select(p => p.Part + 1).DefaultIfEmpty(0).Max();
            await ingest.FinishAcquisitionAsync(new FinishAcquisitionRequest { Acquisition = options.Acquisition, Detector = detectors[k].Name, Parts = (uint)parts }, cancellationToken: cancellationToken);
        }

        return new DriverResult(streams, options.Frames * detectors.Count, first, lastWritten);
    }

    /// <summary>
    /// Announces chunk parts as a detector driver does once their files are closed: every module file of each part, in
    /// order, <paramref name="period"/> apart (zero: at once), for acquisition <paramref name="acquisition"/> (of
    /// <paramref name="detector"/>, with detectors configured). The acquisition is not finished: the caller says when.
    /// </summary>
    public static async Task AnnouncePartsAsync(Ingest.IngestClient ingest, string acquisition, IEnumerable<ChunkPartFiles> parts,
        CancellationToken cancellationToken, TimeSpan period = default, string detector = "")
    {
        var first = true;
        foreach (var part in parts)
        {
            if (!first && period > TimeSpan.Zero)
            {
                await Task.Delay(period, cancellationToken);
            }

            first = false;
            for (var m = 0; m < part.Modules.Count; m++)
            {
                await ingest.AnnounceChunkAsync(new AnnounceChunkRequest
                {
                    Acquisition = acquisition,
                    Detector = detector,
                    Module = (uint)(m + 1),
                    Modules = (uint)part.Modules.Count,
                    Part = (uint)part.Part,
                    Path = part.Modules[m],
                    Frames = (uint)part.Frames,
                }, cancellationToken: cancellationToken);
            }
        }
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

    /// <summary>
    /// Announces every Lambda chunk file in <paramref name="directory"/>, part by part, then finishes each acquisition;
    /// with detectors configured, as the files of <paramref name="detector"/>.
    /// </summary>
    public static async Task<DriverResult> ReplayAsync(Ingest.IngestClient ingest, string directory, TextWriter log, CancellationToken cancellationToken, string detector = "")
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
                    Detector = detector,
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
                Detector = detector,
                Parts = (uint)(acquisition.Max(c => c.Part) + 1),
            }, cancellationToken: cancellationToken);
            log.WriteLine($"replayed {acquisition.Key}: {acquisition.Count()} module files");
        }

        var names = chunks.Select(c => c.Acquisition).Distinct().Select(a => detector.Length > 0 ? DetectorSet.StreamName(a, detector) : a).ToArray();
        return new DriverResult(names, frames, first, first);
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
