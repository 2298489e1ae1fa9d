using System.Diagnostics;
using System.Globalization;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;

namespace Anvil.Cli;

/// <summary>
/// `anvil integrate`: offline batch integration of HDF5/NeXus image stacks into the NeXus layout the pipeline's
/// merge writes (DIOPTAS Batch View opens it). Lambda module chunk files (…_m1_part00000.nxs) are recognised by
/// name; their sibling modules are found next to them and stitched as DIOPTAS does, with the gaps between modules
/// masked and the detector's −1 pixels excluded per frame. Any other file is read as its NeXus signal (or
/// <c>--dataset</c>) with pyFAI's rules.
/// </summary>
public static class IntegrateCommand
{
    public const string Usage =
        "anvil integrate FILE... --poni F [--mask F] [--dataset /path] [--npt N] [--unit U] [--method no|bbox|full] " +
        "[--polarization P] [--dark F] [--flat F] [--threads N] --out OUT.nxs";

    public static Task<int> RunAsync(CommandLine line, TextWriter output, CancellationToken cancellationToken)
    {
        var poni = line.Get("poni") ?? throw new UsageException("--poni FILE is required (a pyFAI/DIOPTAS calibration)");
        var outPath = line.Get("out") ?? throw new UsageException("--out OUT.nxs is required");
        var maskPath = line.Get("mask");
        var dataset = line.Get("dataset");
        var darkPath = line.Get("dark");
        var flatPath = line.Get("flat");
        var npt = line.GetInt("npt", 2000);
        var threads = line.GetInt("threads", Math.Min(2, Environment.ProcessorCount));
        var unitText = line.Get("unit") ?? "2th_deg";
        var methodText = line.Get("method") ?? "bbox";
        double? polarization = line.Get("polarization") is null ? null : line.GetDouble("polarization", 0);
        line.RejectUnknown();
        if (line.Positional.Count == 0)
        {
            throw new UsageException("give at least one HDF5/NeXus file to integrate");
        }

        RadialUnit unit;
        SplitMethod method;
        try
        {
            unit = RadialUnits.Parse(unitText);
            method = SplitMethods.Parse(methodText);
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }

        var sources = Sources(line.Positional);
        var geometry = PoniFile.Load(poni);
        var baseSettings = new IntegrationSettings
        {
            Npt = npt,
            Unit = RadialUnit.TwoThetaDeg,
            Method = method,
            PolarizationFactor = polarization,
            Threads = threads,
        };

        var clock = Stopwatch.StartNew();
        long frame = 0;
        using var writer = ResultFileWriter.Create(outPath);
        Engines? engines = null;
        try
        {
            for (var fileIndex = 0; fileIndex < sources.Count; fileIndex++)
            {
                using var source = sources[fileIndex].Open(dataset);
                if (engines is null || engines.Rows != source.Rows || engines.Cols != source.Cols || engines.Lambda != source.IsLambda)
                {
                    engines?.Dispose();
                    engines = Engines.Build(geometry, source, maskPath, darkPath, flatPath, baseSettings, unit);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"engine {source.Rows}×{source.Cols}, {method.Format()}, npt {npt}: built in {engines.TwoTheta.BuildTime.TotalSeconds:F2} s, settings {engines.Hash}"));
                }

                // Up to four frames a call: 16-bit frames then share each pass over the engine's matrix.
                for (var first = 0; first < source.FrameCount; first += IntegrationEngine.FramesPerPass)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var count = (int)Math.Min(IntegrationEngine.FramesPerPass, source.FrameCount - first);
                    source.Integrate(first, count, engines);
                    for (var i = 0; i < count; i++)
                    {
                        frame++;
                        writer.Write(new FrameResult(frame, fileIndex, first + i, sources[fileIndex].Name, engines.Hash, engines.SettingsJson,
                            Curve(engines.TwoThetaResults[i]), engines.Requested is null ? null : Curve(engines.RequestedResults[i])));
                    }
                }

                output.WriteLine($"{sources[fileIndex].Name}: {source.FrameCount} frames");
            }

            var final = writer.Complete(frame, new ResultMetadata(Path.GetFullPath(poni), method.Format(), unit.Format(), npt, "anvil integrate"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {final}: {frame} frames in {clock.Elapsed.TotalSeconds:F1} s ({frame / clock.Elapsed.TotalSeconds:F0} frames/s)"));
            return Task.FromResult(0);
        }
        finally
        {
            engines?.Dispose();
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
        public OpenSource Open(string? dataset) => Modules is null
            ? new StackSource(Hdf5ImageStack.Open(Name, dataset))
            : new LambdaSource([.. Modules.Select(LambdaModuleFile.Open)]);
    }

    private abstract class OpenSource : IDisposable
    {
        public abstract int Rows { get; }
        public abstract int Cols { get; }
        public abstract long FrameCount { get; }
        public abstract bool IsLambda { get; }

        /// <summary>The gap mask for stitched detectors, else none.</summary>
        public abstract byte[] DetectorMask();

        /// <summary>Integrates frames first … first + count − 1 (count ≤ <see cref="IntegrationEngine.FramesPerPass"/>) into the engines' results.</summary>
        public abstract void Integrate(int first, int count, Engines engines);

        public abstract void Dispose();
    }

    private sealed class StackSource(Hdf5ImageStack stack) : OpenSource
    {
        private readonly float[][] frames = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => new float[stack.Rows * stack.Cols])];

        public override int Rows => stack.Rows;
        public override int Cols => stack.Cols;
        public override long FrameCount => stack.FrameCount;
        public override bool IsLambda => false;

        public override byte[] DetectorMask() => [];

        public override void Integrate(int first, int count, Engines engines)
        {
            for (var i = 0; i < count; i++)
            {
                stack.ReadFrame(first + i, frames[i]);
            }

            engines.Integrate(frames, count);
        }

        public override void Dispose() => stack.Dispose();
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
        }

        public override int Rows => plan.Rows;
        public override int Cols => plan.Cols;
        public override long FrameCount => modules.Min(m => m.FrameCount);
        public override bool IsLambda => true;

        public override byte[] DetectorMask() => plan.GapMask();

        public override void Integrate(int first, int count, Engines engines)
        {
            for (var i = 0; i < count; i++)
            {
                for (var k = 0; k < modules.Length; k++)
                {
                    var span = module.AsSpan(0, modules[k].Rows * modules[k].Cols);
                    modules[k].ReadFrame(first + i, span);
                    plan.Place<short>(k, span, canvases[i]);
                }
            }

            engines.Integrate(canvases, count);
        }

        public override void Dispose()
        {
            foreach (var m in modules)
            {
                m.Dispose();
            }
        }
    }

    /// <summary>The 2θ engine (DIOPTAS's binning) and, for another unit, the requested one; as the integrate service builds them.</summary>
    private sealed class Engines : IDisposable
    {
        private float[] dark = [];
        private float[] flat = [];

        private Engines(IntegrationEngine twoTheta, IntegrationEngine? requested, string hash, string json, bool lambda)
        {
            TwoTheta = twoTheta;
            Requested = requested;
            Hash = hash;
            SettingsJson = json;
            Lambda = lambda;
            TwoThetaResults = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => twoTheta.CreateResult())];
            RequestedResults = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => (requested ?? twoTheta).CreateResult())];
        }

        public IntegrationEngine TwoTheta { get; }
        public IntegrationEngine? Requested { get; }
        public IntegrationResult[] TwoThetaResults { get; }
        public IntegrationResult[] RequestedResults { get; }
        public string Hash { get; }
        public string SettingsJson { get; }
        public bool Lambda { get; }
        public int Rows => TwoTheta.Rows;
        public int Cols => TwoTheta.Cols;

        public static Engines Build(Geometry geometry, OpenSource source, string? maskPath, string? darkPath, string? flatPath,
            IntegrationSettings settings, RadialUnit unit)
        {
            // Anvil's rule: the operator's mask OR the pixels no module covers; Lambda's −1 pixels excluded per frame.
            var mask = MaskLoader.Combine(source.DetectorMask(), maskPath, source.Rows, source.Cols);

            settings = settings with { ExcludeNegative = source.IsLambda };
            var twoTheta = IntegrationEngine.Build(geometry, source.Rows, source.Cols, mask, settings);
            var requested = unit == RadialUnit.TwoThetaDeg ? null : IntegrationEngine.Build(geometry, source.Rows, source.Cols, mask, settings with { Unit = unit });
            var effective = settings with { Unit = unit };
            var dark = darkPath is null ? [] : ImageLoader.Load(darkPath, source.Rows, source.Cols);
            var flat = flatPath is null ? [] : ImageLoader.Load(flatPath, source.Rows, source.Cols);

            // The dark and flat images change the numbers, so their contents are part of the settings hash and their
            // paths part of the settings the file records.
            var json = System.Text.Json.Nodes.JsonNode.Parse(effective.ToJson())!.AsObject();
            if (darkPath is not null)
            {
                json["dark"] = darkPath;
            }

            if (flatPath is not null)
            {
                json["flat"] = flatPath;
            }

            var engines = new Engines(twoTheta, requested, effective.ComputeHash(geometry, mask, dark, flat), json.ToJsonString(), source.IsLambda)
            {
                dark = dark,
                flat = flat,
            };
            return engines;
        }

        /// <summary>The first <paramref name="count"/> frames into <see cref="TwoThetaResults"/> (and <see cref="RequestedResults"/>).</summary>
        public void Integrate<T>(T[][] frames, int count) where T : unmanaged, System.Numerics.INumberBase<T>
        {
            Span<ReadOnlyMemory<T>> batch = new ReadOnlyMemory<T>[count];
            for (var i = 0; i < count; i++)
            {
                batch[i] = frames[i];
            }

            TwoTheta.Integrate<T>(batch, TwoThetaResults.AsSpan(0, count), dark, flat);
            Requested?.Integrate<T>(batch, RequestedResults.AsSpan(0, count), dark, flat);
        }

        public void Dispose()
        {
            TwoTheta.Dispose();
            Requested?.Dispose();
        }
    }
}
