using System.Diagnostics;
using System.Globalization;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Integration.Formats;
using Anvil.Pipeline;

namespace Anvil.Cli;

/// <summary>
/// `anvil integrate`: offline batch integration of HDF5/NeXus image stacks into the NeXus layout the pipeline's
/// merge writes (DIOPTAS Batch View opens it), through the integrate service's own engine path: the same settings
/// model, <see cref="EngineCache"/> and <see cref="StitchPlan.Stitch"/>. Lambda module chunk files
/// (…_m1_part00000.nxs) are recognised by name; their sibling modules are found next to them and stitched as DIOPTAS
/// does, with the gaps between modules masked and the detector's −1 pixels excluded per frame. Any other file is read
/// as its NeXus signal (or <c>--dataset</c>) with pyFAI's rules.
/// </summary>
public static class IntegrateCommand
{
    public const string Usage = "anvil integrate FILE... --poni F " + SettingsFlags.Usage + " [--dataset /path] [--threads N] --out OUT.nxs";

    public static Task<int> RunAsync(CommandLine line, TextWriter output, CancellationToken cancellationToken)
    {
        _ = line.Get("poni") ?? throw new UsageException("--poni FILE is required (a pyFAI/DIOPTAS calibration)");
        var outPath = line.Get("out") ?? throw new UsageException("--out OUT.nxs is required");
        var dataset = line.Get("dataset");
        if (line.Has("pressure"))
        {
            throw new UsageException("anvil integrate does not compute pressures: run `anvil pressure OUT.nxs --marker M --reflection hkl` on its result");
        }

        var settings = SettingsFlags.Apply(IntegrationSettings.Default, line) with
        {
            Threads = line.GetInt("threads", Math.Min(2, Environment.ProcessorCount)),
        };
        line.RejectUnknown();
        if (line.Positional.Count == 0)
        {
            throw new UsageException("give at least one HDF5/NeXus file to integrate");
        }

        var sources = Sources(line.Positional);
        var clock = Stopwatch.StartNew();
        long frame = 0;
        using var writer = ResultFileWriter.Create(outPath);
        using var engines = new EngineCache();
        Batch? batch = null;
        try
        {
            for (var fileIndex = 0; fileIndex < sources.Count; fileIndex++)
            {
                using var source = sources[fileIndex].Open(dataset);
                if (batch is null || batch.Layout.Key != source.Layout.Key)
                {
                    batch?.Dispose();
                    batch = new Batch(source.Layout, engines.Get(source.Layout, settings));
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"engine {source.Layout.Rows}×{source.Layout.Cols}, {settings.Method.Format()}, npt {settings.Npt}: built in {batch.Engines.TwoTheta.BuildTime.TotalSeconds:F2} s, settings {batch.Engines.Hash}"));
                }

                // Up to four frames a call: 16-bit frames then share each pass over the engine's matrix.
                for (var first = 0; first < source.FrameCount; first += IntegrationEngine.FramesPerPass)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var count = (int)Math.Min(IntegrationEngine.FramesPerPass, source.FrameCount - first);
                    source.Integrate(first, count, batch);
                    for (var i = 0; i < count; i++)
                    {
                        frame++;
                        writer.Write(new FrameResult(frame, fileIndex, first + i, sources[fileIndex].Name, batch.Engines.Hash, batch.Engines.SettingsJson,
                            Curve(batch.TwoThetaResults[i]), batch.Engines.Requested is null ? null : Curve(batch.RequestedResults[i])));
                    }
                }

                output.WriteLine($"{sources[fileIndex].Name}: {source.FrameCount} frames");
            }

            var final = writer.Complete(frame, ResultMetadata.Of(settings, "anvil integrate"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {final}: {frame} frames in {clock.Elapsed.TotalSeconds:F1} s ({frame / clock.Elapsed.TotalSeconds:F0} frames/s)"));
            return Task.FromResult(0);
        }
        finally
        {
            batch?.Dispose();
        }
    }

    private static CurveRow Curve(IntegrationResult r) =>
        new(r.Radial.ToArray(), r.Intensity.ToArray(), r.Sigma.ToArray(), Array.ConvertAll(r.Count, c => (float)c));

    /// <summary>The inputs in order: each Lambda chunk (all its modules) once, every other file as given.</summary>
    private static List<Source> Sources(IEnumerable<string> files)
    {
        var list = new List<Source>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                throw new UsageException($"{file} does not exist");
            }

            var full = Path.GetFullPath(file);
            var directory = Path.GetDirectoryName(full)!;
            if (ChunkFileName.TryParse(Path.GetFileName(full), out var acquisition, out _, out var part))
            {
                if (!seen.Add($"{directory}/{acquisition}/{part}"))
                {
                    continue;
                }

                var modules = new List<string>();
                for (var m = 1; File.Exists(Path.Combine(directory, ChunkFileName.Format(acquisition, m, part))); m++)
                {
                    modules.Add(Path.Combine(directory, ChunkFileName.Format(acquisition, m, part)));
                }

                if (modules.Count == 0)
                {
                    throw new UsageException($"{file} looks like a Lambda chunk, but {ChunkFileName.Format(acquisition, 1, part)} is missing next to it");
                }

                list.Add(new Source(modules[0], modules));
            }
            else if (seen.Add(full))
            {
                list.Add(new Source(full, null));
            }
        }

        return list;
    }

    /// <summary>One input: a Lambda chunk (modules) or a plain image stack.</summary>
    private sealed record Source(string Name, List<string>? Modules)
    {
        public OpenSource Open(string? dataset) => Modules is not null
            ? new LambdaSource([.. Modules.Select(LambdaModuleFile.Open)])
            : dataset is null && (Path.GetExtension(Name).ToLowerInvariant() is ".tif" or ".tiff" or ".cbf" or ".edf" || Name.EndsWith("_master.h5", StringComparison.OrdinalIgnoreCase))
                ? new ImageSource(DetectorImageFile.Open(Name))
                : new StackSource(Hdf5ImageStack.Open(Name, dataset));
    }

    /// <summary>The engines of one detector layout and the results of one call (up to four frames).</summary>
    private sealed class Batch(DetectorLayout layout, EngineSet engines) : IDisposable
    {
        public DetectorLayout Layout { get; } = layout;
        public EngineSet Engines { get; } = engines;
        public IntegrationResult[] TwoThetaResults { get; } = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => engines.TwoTheta.CreateResult())];
        public IntegrationResult[] RequestedResults { get; } = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => (engines.Requested ?? engines.TwoTheta).CreateResult())];

        /// <summary>The first <paramref name="count"/> frames into <see cref="TwoThetaResults"/> (and <see cref="RequestedResults"/>).</summary>
        public void Integrate<T>(T[][] frames, int count) where T : unmanaged, System.Numerics.INumberBase<T>
        {
            Span<ReadOnlyMemory<T>> frameSpans = new ReadOnlyMemory<T>[count];
            for (var i = 0; i < count; i++)
            {
                frameSpans[i] = frames[i];
            }

            Engines.TwoTheta.Integrate<T>(frameSpans, TwoThetaResults.AsSpan(0, count), Engines.Dark.Span, Engines.Flat.Span);
            Engines.Requested?.Integrate<T>(frameSpans, RequestedResults.AsSpan(0, count), Engines.Dark.Span, Engines.Flat.Span);
        }

        public void Dispose() => Engines.Dispose();
    }

    private abstract class OpenSource : IDisposable
    {
        public abstract DetectorLayout Layout { get; }
        public abstract long FrameCount { get; }

        /// <summary>Integrates frames first … first + count − 1 (count ≤ <see cref="IntegrationEngine.FramesPerPass"/>) into the batch's results.</summary>
        public abstract void Integrate(int first, int count, Batch batch);

        public abstract void Dispose();
    }

    private sealed class StackSource(Hdf5ImageStack stack) : OpenSource
    {
        private readonly float[][] frames = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => new float[stack.Rows * stack.Cols])];

        public override DetectorLayout Layout { get; } = DetectorLayout.Image(stack.Rows, stack.Cols);
        public override long FrameCount => stack.FrameCount;

        public override void Integrate(int first, int count, Batch batch)
        {
            for (var i = 0; i < count; i++)
            {
                stack.ReadFrame(first + i, frames[i]);
            }

            batch.Integrate(frames, count);
        }

        public override void Dispose() => stack.Dispose();
    }

    /// <summary>A single-image detector's file (TIFF, CBF, EDF, Eiger master), read as the chain reads it.</summary>
    private sealed class ImageSource(DetectorImageFile image) : OpenSource
    {
        private readonly float[][] frames = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => new float[image.Rows * image.Cols])];

        public override DetectorLayout Layout { get; } = DetectorLayout.Image(image.Rows, image.Cols);
        public override long FrameCount => image.FrameCount;

        public override void Integrate(int first, int count, Batch batch)
        {
            for (var i = 0; i < count; i++)
            {
                image.ReadFrame(first + i, frames[i].AsSpan());
            }

            batch.Integrate(frames, count);
        }

        public override void Dispose() => image.Dispose();
    }

    private sealed class LambdaSource : OpenSource
    {
        private readonly LambdaModuleFile[] modules;
        private readonly StitchPlan plan;
        private readonly short[][] canvases;
        private readonly short[] module;

        public LambdaSource(LambdaModuleFile[] modules)
        {
            this.modules = modules;
            plan = StitchPlan.Create([.. modules.Select(m => new ModuleLayout(m.Rows, m.Cols, m.TranslationX, m.TranslationY))]);
            canvases = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => new short[plan.Rows * plan.Cols])];
            module = new short[modules.Max(m => m.Rows * m.Cols)];
            Layout = DetectorLayout.Stitched(plan);
        }

        public override DetectorLayout Layout { get; }
        public override long FrameCount => modules.Min(m => m.FrameCount);

        public override void Integrate(int first, int count, Batch batch)
        {
            for (var i = 0; i < count; i++)
            {
                var index = first + i;
                plan.Stitch(canvases[i], module, (k, destination) => modules[k].ReadFrame(index, destination));
            }

            batch.Integrate(canvases, count);
        }

        public override void Dispose()
        {
            foreach (var m in modules)
            {
                m.Dispose();
            }
        }
    }
}
