using System.Diagnostics;
using Anvil.Pipeline;
using Anvil.Viewer;

namespace Anvil.Bench;

/// <summary>
/// The results console at scale (issue 12, item 11): a generated 31,000-frame × 4,000-bin result file (written by
/// the real <see cref="ResultFileWriter"/>), opened as the console opens it, then the reduced images the page asks
/// for: the overview, zooms and pans. Prints times; not a timed test.
/// </summary>
public static class ViewerBench
{
    public static int Run(bool quick)
    {
        var frames = quick ? 3_000 : 31_000;
        const int bins = 4_000;
        const int width = 1200, height = 800;
        var path = Path.Combine(Path.GetTempPath(), $"anvil-viewer-bench-{frames}x{bins}.nxs");
        if (!File.Exists(path))
        {
            var clock = Stopwatch.StartNew();
            Generate(path, frames, bins);
            Console.WriteLine($"generated {path} ({new FileInfo(path).Length / 1e6:0} MB) in {clock.Elapsed.TotalSeconds:0.0} s");
        }
        else
        {
            Console.WriteLine($"reusing {path} ({new FileInfo(path).Length / 1e6:0} MB); delete it to generate again");
        }

        for (var run = 1; run <= 3; run++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var open = Stopwatch.StartNew();
            var file = ResultFile.Open(path);
            var read = open.Elapsed.TotalMilliseconds;
            var readCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
            var (min, max) = file.Axis.Range(RadialUnit.TwoThetaDeg);
            var overview = ImageReducer.Reduce(file.Matrix, 0, file.Frames, ImageReducer.ColumnEdges(file.Axis, RadialUnit.TwoThetaDeg, min, max, width), height, ReduceMode.Mean);
            Console.WriteLine($"open {run}: read + coarse level {read:0} ms ({readCpu:0} ms CPU), first overview {width}×{overview.Height} {open.Elapsed.TotalMilliseconds - read:0} ms, total {open.Elapsed.TotalMilliseconds:0} ms (machine load {LoadAverage()})");
            if (run < 3)
            {
                GC.Collect();
                continue;
            }

            var times = new List<(string What, double Ms)>();
            void Time(string what, RadialUnit unit, double x0, double x1, int f0, int f1, ReduceMode mode = ReduceMode.Mean)
            {
                var clock = Stopwatch.StartNew();
                ImageReducer.Reduce(file.Matrix, f0, f1, ImageReducer.ColumnEdges(file.Axis, unit, x0, x1, width), height, mode);
                times.Add((what, clock.Elapsed.TotalMilliseconds));
            }

            Time("overview again (mean)", RadialUnit.TwoThetaDeg, min, max, 0, file.Frames);
            Time("overview (max)", RadialUnit.TwoThetaDeg, min, max, 0, file.Frames, ReduceMode.Max);
            var (qmin, qmax) = file.Axis.Range(RadialUnit.QPerAngstrom);
            Time("overview in q", RadialUnit.QPerAngstrom, qmin, qmax, 0, file.Frames);
            var (dmin, dmax) = file.Axis.Range(RadialUnit.DAngstrom);
            Time("overview in d", RadialUnit.DAngstrom, dmin, Math.Min(dmax, 20), 0, file.Frames);
            var span = max - min;
            for (var zoom = 2; zoom <= 64; zoom *= 4)
            {
                var x0 = min + (span * 0.3);
                Time($"zoom ×{zoom} both axes", RadialUnit.TwoThetaDeg, x0, x0 + (span / zoom), file.Frames / 3, (file.Frames / 3) + (file.Frames / zoom));
            }

            for (var pan = 0; pan < 5; pan++)
            {
                var x0 = min + (span * (0.1 + (0.05 * pan)));
                Time($"pan {pan + 1} at ×4", RadialUnit.TwoThetaDeg, x0, x0 + (span / 4), file.Frames / 4 * (pan % 3), (file.Frames / 4 * (pan % 3)) + (file.Frames / 4));
            }

            Time("frames 1–800, full width", RadialUnit.TwoThetaDeg, min, max, 0, 800);
            foreach (var (what, ms) in times)
            {
                Console.WriteLine($"  {what,-28} {ms,7:0.0} ms");
            }

            Console.WriteLine($"slowest pan/zoom: {times.Max(t => t.Ms):0.0} ms over {times.Count} views of {width}×{height} px; {Environment.ProcessorCount} CPUs, load {LoadAverage()}");
        }

        return 0;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    // Rings that drift with frame number over a falling background, like a compression ramp.
    private static void Generate(string path, int frames, int bins)
    {
        var axis = Enumerable.Range(0, bins).Select(i => 2.0 + (i * 0.006)).ToArray();
        var poni = Path.Combine(AppContext.BaseDirectory, "L2.poni");
        using var writer = ResultFileWriter.Create(path);
        var row = new float[bins];
        var empty = new float[bins];
        for (var frame = 1; frame <= frames; frame++)
        {
            var strain = 1 + (0.02 * frame / frames);
            for (var i = 0; i < bins; i++)
            {
                var t = axis[i];
                var v = 50 * Math.Exp(-t / 20);
                foreach (var ring in new[] { 7.3, 8.4, 11.9, 14.0, 14.6 })
                {
                    v += 800 * Math.Exp(-0.5 * Math.Pow((t - (ring * strain)) / 0.02, 2));
                }

                row[i] = (float)v;
            }

            writer.Write(new FrameResult(frame, 0, frame - 1, "m1.h5", "h", "{}", new CurveRow(axis, row, empty, empty), null));
        }

        writer.Complete(frames, new ResultMetadata(poni, "bbox", "2th_deg", bins, "anvil bench viewer"));
    }
}
