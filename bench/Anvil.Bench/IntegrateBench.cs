using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Anvil.Integration;

namespace Anvil.Bench;

/// <summary>
/// Lambda 2M canvas (1833×1556 int16, L2.poni, the DIOPTAS mask, −1 gap strips): Anvil's engine against pyFAI 0.21
/// on the same frame and settings, in the same run.
/// </summary>
internal static class IntegrateBench
{
    private const int Rows = 1833, Cols = 1556;

    public static int Run(bool quick, string? filter, bool withPyFai)
    {
        var root = FindRoot();
        var lambda = Path.Combine(root, "tests", "fixtures", "lambda");
        var geometry = PoniFile.Load(Path.Combine(lambda, "L2.poni"));
        var mask = MaskFile.Load(Path.Combine(lambda, "l2_l1_synrh9_150m_200ms_850c_oscillation_00001_m2.mask"));
        var frame = RealLikeFrame(geometry);
        var work = Directory.CreateTempSubdirectory("anvil-bench-");
        try
        {
            var framePath = Path.Combine(work.FullName, "frame.npy");
            var maskPath = Path.Combine(work.FullName, "mask.npy");
            WriteNpy(framePath, "<i2", MemoryMarshalBytes(frame));
            WriteNpy(maskPath, "|u1", mask.Data);

            // Four distinct frames (other noise draws) for the batched cases.
            ReadOnlyMemory<short>[] batchFrames = [frame, .. Enumerable.Range(1, IntegrationEngine.FramesPerPass - 1).Select(k => (ReadOnlyMemory<short>)RealLikeFrame(geometry, 7 + k))];
            IntegrationResult[]? batchResults = null;
            var npts = new[] { 2000, 5000 };
            var units = new[] { RadialUnit.TwoThetaDeg, RadialUnit.QNm };
            var methods = new[] { SplitMethod.No, SplitMethod.BBox, SplitMethod.Full };
            var seconds = quick ? 0.5 : 2.0;
            var pyFrames = quick ? 3 : 10;
            Console.WriteLine($"Lambda 2M canvas {Rows}×{Cols} int16, {Environment.ProcessorCount} cores, {(quick ? "quick" : "full")} run");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"memory read bandwidth (256 MiB, vector sums): {ReadBandwidth(1):F1} GB/s on 1 thread, {ReadBandwidth(2):F1} GB/s on 2"));
            foreach (var threads in new[] { 1, 2 })
            {
                var cases = (from npt in npts from unit in units from method in methods select (method, unit, npt)).ToList();
                cases = cases.Where(c => filter is null || $"{c.method.Format()}/{c.unit.Format()}/npt{c.npt}/{threads}t".Contains(filter, StringComparison.Ordinal)).ToList();
                var py = !withPyFai || cases.Count == 0 ? [] : PyFai(framePath, maskPath, Path.Combine(lambda, "L2.poni"), threads, pyFrames,
                    cases.Select(c => $"{c.method.Format()},{c.unit.Format()},{c.npt}"));
                foreach (var (method, unit, npt) in cases)
                {
                    var settings = new IntegrationSettings
                    {
                        Npt = npt,
                        Unit = unit,
                        Method = method,
                        PolarizationFactor = 0.99,
                        ExcludeNegative = true,
                        Threads = threads,
                    };
                    var buildCpu = Process.GetCurrentProcess().TotalProcessorTime;
                    using var engine = IntegrationEngine.Build(geometry, Rows, Cols, mask.Data, settings);
                    buildCpu = Process.GetCurrentProcess().TotalProcessorTime - buildCpu;
                    var result = engine.CreateResult();
                    var name = $"{method.Format()}/{unit.Format()}/npt{npt}/{threads}t";
                    var (pyFps, pyCpuFps) = py.TryGetValue($"{method.Format()},{unit.Format()},{npt}", out var p) ? p : (double.NaN, double.NaN);
                    void Report(string label, (double Fps, double CpuFps, double Allocated) m, long bytesPerFrame) =>
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{label}: {m.Fps:F0} fps, {pyFps:F1} fps, {m.Fps / pyFps:F1} x pyFAI  (per CPU-second: {m.CpuFps:F0} vs {pyCpuFps:F1}, {m.CpuFps / pyCpuFps:F1} x; build {engine.BuildTime.TotalSeconds:F2} s / {buildCpu.TotalSeconds:F2} CPU-s, {engine.EntryCount / 1e6:F2} M entries, reads {bytesPerFrame / 1e6:F0} MB/frame = {bytesPerFrame * m.Fps / 1e9:F1} GB/s, {m.Allocated:F0} B/frame)"));
                    Report(name, Measure(() => engine.Integrate<short>(frame, result), 1, seconds), engine.BytesPerFrame);

                    // What the integrate worker does when frames queue up: four distinct frames per pass over the matrix.
                    if (batchResults?[0].Npt != npt)
                    {
                        batchResults = [.. Enumerable.Range(0, IntegrationEngine.FramesPerPass).Select(_ => engine.CreateResult())];
                    }

                    var results = batchResults;
                    Report($"{name}/{IntegrationEngine.FramesPerPass} frames per pass",
                        Measure(() => engine.Integrate<short>(batchFrames, results), IntegrationEngine.FramesPerPass, seconds),
                        engine.BytesPerFrameInPasses(IntegrationEngine.FramesPerPass));

                    if (Environment.GetEnvironmentVariable("ANVIL_BENCH_PHASES") is "1")
                    {
                        Console.WriteLine($"  build phases: {engine.BuildPhases}");
                    }
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }

        return 0;
    }

    /// <summary>
    /// Frames per second (wall clock and per CPU-second) and managed bytes per frame of a call that integrates
    /// <paramref name="framesPerCall"/> frames, after a warm-up until tier-1 code runs (≥ 40 calls and ≥ 0.3 s).
    /// </summary>
    private static (double Fps, double CpuFps, double Allocated) Measure(Action integrate, int framesPerCall, double seconds)
    {
        var warm = Stopwatch.StartNew();
        for (var w = 0; w < 40 || warm.Elapsed.TotalSeconds < 0.3; w++)
        {
            integrate();
        }

        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var frames = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            integrate();
            frames += framesPerCall;
        }

        var fps = frames / clock.Elapsed.TotalSeconds;
        // Frames per CPU-second: robust when other work shares the machine (wall-clock fps is not).
        var cpuFps = frames / (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;

        // Managed bytes per frame in steady state: the least of a few short rounds, so a late tier-1 JIT compilation
        // (slow on a loaded machine) is not charged to the frames.
        var allocated = double.MaxValue;
        for (var round = 0; round < 5 && allocated > 0; round++)
        {
            var mark = GC.GetAllocatedBytesForCurrentThread();
            for (var k = 0; k < 10; k++)
            {
                integrate();
            }

            allocated = Math.Min(allocated, (GC.GetAllocatedBytesForCurrentThread() - mark) / (10.0 * framesPerCall));
        }

        return (fps, cpuFps, allocated);
    }

    /// <summary>
    /// Streaming read bandwidth: threads each sum their share of a 256 MiB array with 256-bit loads, best of 5 passes
    /// (the yardstick for the kernels' bytes per frame).
    /// </summary>
    private static double ReadBandwidth(int threads)
    {
        var data = GC.AllocateUninitializedArray<long>(32 << 20, pinned: true);
        Array.Fill(data, 1L);
        var best = double.MaxValue;
        for (var pass = 0; pass < 5; pass++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var share = data.AsSpan(t * data.Length / threads, data.Length / threads);
                var sum = System.Runtime.Intrinsics.Vector256<long>.Zero;
                foreach (var v in System.Runtime.InteropServices.MemoryMarshal.Cast<long, System.Runtime.Intrinsics.Vector256<long>>(share))
                {
                    sum += v;
                }

                GC.KeepAlive(sum);
            });
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        return data.Length * 8.0 / best / 1e9;
    }

    /// <summary>Rings with Poisson-like noise on a background, Lambda's 12-bit range, −1 in the module gap strips.</summary>
    private static short[] RealLikeFrame(Geometry g, int seed = 7)
    {
        var frame = new short[Rows * Cols];
        var rng = new Random(seed);
        for (var i = 0; i < Rows; i++)
        {
            for (var j = 0; j < Cols; j++)
            {
                var dy = (i + 0.5) * g.Pixel1 - g.Poni1;
                var dx = (j + 0.5) * g.Pixel2 - g.Poni2;
                var tth = Math.Atan2(Math.Sqrt(dx * dx + dy * dy), g.Distance) * 180 / Math.PI;
                var ring = Math.Exp(-0.5 * Math.Pow(((tth % 1.7) - 0.85) / 0.02, 2));
                var mean = 20 + 400 * ring;
                var value = mean + Math.Sqrt(mean) * (rng.NextDouble() * 2 - 1) * 1.7;
                frame[i * Cols + j] = (short)Math.Clamp(value, 0, 4095);
            }
        }

        foreach (var start in new[] { 0, 660, 1317 })
        {
            for (var i = start; i < Math.Min(Rows, start + 516); i++)
            {
                for (var j = 772; j < 782; j++)
                {
                    frame[i * Cols + j] = -1;
                }
            }
        }

        return frame;
    }

    private static Dictionary<string, (double Fps, double CpuFps)> PyFai(string frame, string mask, string poni, int threads, int frames, IEnumerable<string> cases)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "pyfai_bench.py");
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { script, frame, mask, poni, threads.ToString(CultureInfo.InvariantCulture), frames.ToString(CultureInfo.InvariantCulture) }.Concat(cases))
        {
            psi.ArgumentList.Add(a);
        }

        var result = new Dictionary<string, (double, double)>();
        try
        {
            using var process = Process.Start(psi)!;
            string? line;
            while ((line = process.StandardOutput.ReadLine()) is not null)
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                result[root.GetProperty("case").GetString()!] = (root.GetProperty("fps").GetDouble(), root.GetProperty("cpu_fps").GetDouble());
            }

            process.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Console.Error.WriteLine($"pyFAI side skipped: {ex.Message}");
        }

        return result;
    }

    private static byte[] MemoryMarshalBytes(short[] data)
    {
        var bytes = new byte[data.Length * 2];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private static void WriteNpy(string path, string dtype, byte[] data)
    {
        var header = $"{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({Rows}, {Cols}), }}";
        header = header.PadRight(((header.Length + 11) / 64 + 1) * 64 - 11) + "\n";
        using var f = File.Create(path);
        f.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        f.Write(BitConverter.GetBytes((ushort)header.Length));
        f.Write(Encoding.ASCII.GetBytes(header));
        f.Write(data);
    }

    internal static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "global.json")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("run from inside the repository (global.json not found).");
    }
}
