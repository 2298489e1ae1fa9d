using System.Diagnostics;
using System.Globalization;
using Anvil.Integration;
using Anvil.Pipeline;

namespace Anvil.Bench;

/// <summary>
/// The detector simulator behind `anvil demo`: drawing a Lambda 2M frame (Poisson counts on the evolving powder
/// pattern) and writing it as three gzip module chunks, against the P02.2 detector's 2 kHz as the baseline.
/// </summary>
internal static class SimulateBench
{
    private const double DetectorHz = 2000;

    public static int Run(bool quick)
    {
        var root = IntegrateBench.FindRoot();
        var geometry = PoniFile.Load(Path.Combine(root, "tests", "fixtures", "lambda", "L2.poni"));
        var frames = quick ? 40 : 200;
        var simulator = new LambdaSimulator(geometry, new SimulationOptions { Frames = frames });
        var canvas = new short[1833 * 1556];
        simulator.DrawFrame(1, canvas);

        var (drawWall, drawCpu) = Measure(() =>
        {
            for (var f = 1; f <= frames; f++)
            {
                simulator.DrawFrame(f, canvas);
            }
        });
        Report("draw", frames, drawWall, drawCpu);

        var work = Directory.CreateTempSubdirectory("anvil-bench-sim-");
        try
        {
            var (writeWall, writeCpu) = Measure(() =>
                simulator.RunAsync(work.FullName, (_, _) => Task.CompletedTask, CancellationToken.None).GetAwaiter().GetResult());
            Report("draw+write", frames, writeWall, writeCpu);
        }
        finally
        {
            work.Delete(recursive: true);
        }

        return 0;
    }

    private static (TimeSpan Wall, TimeSpan Cpu) Measure(Action action)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        action();
        return (clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpu);
    }

    private static void Report(string name, int frames, TimeSpan wall, TimeSpan cpu)
    {
        var fps = frames / wall.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"simulate/{name}: {fps:F0} fps, {DetectorHz:F0} fps, {fps / DetectorHz:F3} x Lambda 2M at 2 kHz  ({frames / cpu.TotalSeconds:F0} frames/CPU-s)"));
    }
}
