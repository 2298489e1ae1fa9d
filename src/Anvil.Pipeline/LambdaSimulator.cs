using System.Diagnostics;
using System.Text.Json;
using Anvil.Hdf5;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>Options of a simulated acquisition.</summary>
public sealed record SimulationOptions
{
    /// <summary>Acquisition (scan) name; files are <c>&lt;name&gt;_m{k}_part{PPPPP}.nxs</c>.</summary>
    public string Acquisition { get; init; } = "sim_ramp_00001";

    public int Frames { get; init; } = 800;

    /// <summary>Frames per chunk file (the real P02.2 files hold 10).</summary>
    public int FramesPerChunk { get; init; } = 10;

    /// <summary>Detector frame rate in Hz; 0 writes as fast as the machine can.</summary>
    public double FrameRate { get; init; }

    public int Seed { get; init; } = 1;
}

/// <summary>A chunk file the simulator finished writing.</summary>
public sealed record ChunkWritten(string Acquisition, int Module, int Modules, int Part, string Path, int Frames);

/// <summary>
/// Writes Lambda 2M files exactly as the detector at P02.2 does (three module files per chunk part,
/// int16 gzip chunks of one frame, translations, 1-based sequence numbers, −1 in each module's virtual gap
/// strip) with the evolving powder pattern of <see cref="PowderModel"/>, drawn through the PONI geometry
/// so the stitched frame integrates back to the model's ring positions.
/// </summary>
public sealed class LambdaSimulator
{
    /// <summary>The three Lambda 2M modules as the real files describe them.</summary>
    public static readonly IReadOnlyList<ModuleLayout> Lambda2M =
    [
        new(516, 1554, 0, 0), new(516, 1554, -2, 660), new(516, 1554, -2, 1317),
    ];

    // Columns 772–781 of every module are the virtual gap the detector fills with −1.
    private const int VirtualGapStart = 772;
    private const int VirtualGapWidth = 10;
    private const double BinDeg = 0.001;
    private const int NoiseTableSize = 1 << 20;
    private const float PoissonNormalAbove = 20;

    // The detector's layout (gzip level 2 in the filter), encoded at zlib level 1: same files, faster to write.
    private static readonly LambdaWriterOptions FastEncoding = new() { EncodeLevel = 1 };

    private readonly SimulationOptions options;
    private readonly StitchPlan plan = StitchPlan.Create(Lambda2M);
    private readonly int[] pixelBin;
    private readonly double minTthDeg;
    private readonly int bins;
    private readonly float[] noise;
    private readonly float[] uniform;
    private readonly float[] mean;
    private readonly float[] spread;
    private readonly float[] zeroProbability;

    public LambdaSimulator(Geometry geometry, SimulationOptions options)
    {
        this.options = options;
        Model = new PowderModel(geometry.Wavelength * 1e10, options.Frames);
        var tth = TwoThetaDegrees(geometry, plan.Rows, plan.Cols);
        minTthDeg = tth.Min() - (10 * BinDeg);
        bins = (int)((tth.Max() - minTthDeg) / BinDeg) + 20;
        mean = new float[bins];
        spread = new float[bins];
        zeroProbability = new float[bins];
        pixelBin = new int[tth.Length];
        for (var i = 0; i < tth.Length; i++)
        {
            pixelBin[i] = (int)((tth[i] - minTthDeg) / BinDeg);
        }

        var random = new Random(options.Seed);
        noise = new float[NoiseTableSize];
        uniform = new float[NoiseTableSize];
        for (var i = 0; i < noise.Length; i++)
        {
            uniform[i] = (float)random.NextDouble();
            // Box–Muller: standard normal deviates for the Poisson (√λ) noise.
            noise[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }
    }

    /// <summary>
    /// The geometry of simulated detector <paramref name="index"/> (0-based) of several looking at one sample: the first
    /// is <paramref name="first"/>; each further one is 20 % farther away with its beam centre 2 mm lower and 5 mm further
    /// left, so its rings fall elsewhere on its pixels and its 2θ range differs (the same sample, the same wavelength).
    /// </summary>
    public static Geometry DetectorGeometry(Geometry first, int index) => index == 0 ? first : first with
    {
        Distance = first.Distance * (1 + (0.2 * index)),
        Poni1 = first.Poni1 + (0.002 * index),
        Poni2 = first.Poni2 - (0.005 * index),
    };

    /// <summary>The powder model being drawn.</summary>
    public PowderModel Model { get; }

    /// <summary>The stitched canvas plan of the simulated detector.</summary>
    public StitchPlan Plan => plan;

    /// <summary>2θ (degrees) of every pixel centre of a row-major canvas, pyFAI's geometry convention.</summary>
    public static double[] TwoThetaDegrees(Geometry g, int rows, int cols)
    {
        var result = new double[rows * cols];
        double c1 = Math.Cos(g.Rot1), c2 = Math.Cos(g.Rot2), c3 = Math.Cos(g.Rot3);
        double s1 = Math.Sin(g.Rot1), s2 = Math.Sin(g.Rot2), s3 = Math.Sin(g.Rot3);
        var l = g.Distance;
        Parallel.For(0, rows, i =>
        {
            var p1 = (g.Pixel1 * (i + 0.5)) - g.Poni1;
            for (var j = 0; j < cols; j++)
            {
                var p2 = (g.Pixel2 * (j + 0.5)) - g.Poni2;
                var t1 = (p1 * c2 * c3) + (p2 * ((c3 * s1 * s2) - (c1 * s3))) - (l * ((c1 * c3 * s2) + (s1 * s3)));
                var t2 = (p1 * c2 * s3) + (p2 * ((c1 * c3) + (s1 * s2 * s3))) - (l * ((-c3 * s1) + (c1 * s2 * s3)));
                var t3 = (p1 * s2) - (p2 * c2 * s1) + (l * c1 * c2);
                result[(i * cols) + j] = Math.Atan2(Math.Sqrt((t1 * t1) + (t2 * t2)), t3) * 180 / Math.PI;
            }
        });
        return result;
    }

    /// <summary>Draws frame <paramref name="frame"/> (1-based) onto a stitched canvas.</summary>
    public void DrawFrame(int frame, Span<short> canvas)
    {
        var reflections = Model.Reflections(frame);
        for (var b = 0; b < bins; b++)
        {
            var lambda = Model.Intensity(reflections, minTthDeg + ((b + 0.5) * BinDeg));
            mean[b] = (float)lambda;
            spread[b] = (float)Math.Sqrt(lambda);
            zeroProbability[b] = (float)Math.Exp(-lambda);
        }

        var offset = (int)((uint)(frame * 2654435761u) % NoiseTableSize);
        var pixels = canvas.Length;
        const int blocks = 16;
        unsafe
        {
            fixed (short* target = canvas)
            {
                var address = (nint)target;
                Parallel.For(0, blocks, block =>
                {
                    var from = (int)((long)pixels * block / blocks);
                    var to = (int)((long)pixels * (block + 1) / blocks);
                    DrawPixels(new Span<short>((short*)address + from, to - from), from, offset);
                });
            }
        }
    }

    // Poisson counts: inverse CDF from a uniform deviate for low rates (most pixels, mostly 0 as on the real
    // detector), the normal approximation above PoissonNormalAbove.
    private void DrawPixels(Span<short> target, int first, int offset)
    {
        for (var j = 0; j < target.Length; j++)
        {
            var i = first + j;
            var b = pixelBin[i];
            var k = (i + offset) & (NoiseTableSize - 1);
            var m = mean[b];
            float value;
            if (m < PoissonNormalAbove)
            {
                var u = uniform[k];
                var p = zeroProbability[b];
                var cdf = p;
                var n = 0;
                while (u > cdf && n < 60)
                {
                    n++;
                    p *= m / n;
                    cdf += p;
                }

                value = n;
            }
            else
            {
                value = MathF.Round(m + (spread[b] * noise[k]));
            }

            target[j] = (short)Math.Clamp(value, 0, 4095);
        }
    }

    /// <summary>
    /// Writes the acquisition below <paramref name="dataDir"/>, calling <paramref name="announce"/> for each
    /// module file as soon as it is complete, and writes <c>&lt;acquisition&gt;_truth.json</c> beside them.
    /// </summary>
    public async Task RunAsync(string dataDir, Func<ChunkWritten, CancellationToken, Task> announce, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDir);
        var modules = plan.Placements.Count;
        var canvas = new short[plan.Rows * plan.Cols];
        var moduleFrames = plan.Placements.Select(p => new short[p.Rows * p.Cols]).ToArray();
        var clock = Stopwatch.StartNew();
        var parts = (options.Frames + options.FramesPerChunk - 1) / options.FramesPerChunk;
        for (var part = 0; part < parts; part++)
        {
            var first = (part * options.FramesPerChunk) + 1;
            var count = Math.Min(options.FramesPerChunk, options.Frames - first + 1);
            var paths = Enumerable.Range(1, modules)
                .Select(m => Path.Combine(dataDir, ChunkFileName.Format(options.Acquisition, m, part)))
                .ToArray();
            var writers = new LambdaModuleWriter[modules];
            for (var m = 0; m < modules; m++)
            {
                var layout = Lambda2M[m];
                writers[m] = LambdaModuleWriter.Create(paths[m], layout.Rows, layout.Cols, (float)layout.TranslationX, (float)layout.TranslationY, FastEncoding);
            }

            try
            {
                for (var frame = first; frame < first + count; frame++)
                {
                    if (options.FrameRate > 0)
                    {
                        var due = TimeSpan.FromSeconds((frame - 1) / options.FrameRate) - clock.Elapsed;
                        if (due > TimeSpan.Zero)
                        {
                            await Task.Delay(due, cancellationToken);
                        }
                    }

                    DrawFrame(frame, canvas);
                    var sequence = frame;
                    Parallel.For(0, modules, m =>
                    {
                        plan.Extract(m, canvas, moduleFrames[m]);
                        var p = plan.Placements[m];
                        for (var r = 0; r < p.Rows; r++)
                        {
                            moduleFrames[m].AsSpan((r * p.Cols) + VirtualGapStart, VirtualGapWidth).Fill(-1);
                        }

                        writers[m].AppendFrame(moduleFrames[m], sequence);
                    });
                }
            }
            finally
            {
                foreach (var writer in writers)
                {
                    writer.Dispose();
                }
            }

            for (var m = 0; m < modules; m++)
            {
                await announce(new ChunkWritten(options.Acquisition, m + 1, modules, part, paths[m], count), cancellationToken);
            }
        }

        await WriteTruthAsync(Path.Combine(dataDir, options.Acquisition + "_truth.json"), cancellationToken);
    }

    private async Task WriteTruthAsync(string path, CancellationToken cancellationToken)
    {
        var truth = new
        {
            acquisition = options.Acquisition,
            wavelength_angstrom = Model.WavelengthAngstrom,
            frames = Enumerable.Range(1, options.Frames).Select(f => new
            {
                frame = f,
                pressure_gpa = Model.PressureGpa(f),
                reflections = Model.Reflections(f),
            }),
        };
        await using var stream = File.Create(path);
        await JsonSerializer.SerializeAsync(stream, truth, TruthJson, cancellationToken);
    }

    private static readonly JsonSerializerOptions TruthJson = new() { WriteIndented = false, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
