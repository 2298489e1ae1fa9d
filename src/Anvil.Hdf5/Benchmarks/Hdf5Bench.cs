#:project ../Anvil.Hdf5.csproj
#:property PublishAot=false

// Frames per second of LambdaModuleFile.ReadFrame (fast path and H5Dread) and LambdaModuleWriter.AppendFrame on the
// real fixtures. Run from the repository root:  dotnet run -c Release src/Anvil.Hdf5/Benchmarks/Hdf5Bench.cs
using System.Diagnostics;
using Anvil.Hdf5;

var fixtures = args.Length > 0 ? args[0] : Path.Combine("tests", "fixtures", "lambda");
var paths = Directory.GetFiles(fixtures, "*.nxs").Order().ToArray();
var modules = paths.Select(LambdaModuleFile.Open).ToArray();
var totalFrames = modules.Sum(m => m.FrameCount);
var buffer = new short[modules.Max(m => m.Rows * m.Cols)];
var megabytesPerFrame = modules[0].Rows * modules[0].Cols * sizeof(short) / 1e6;
Console.WriteLine($"{paths.Length} files, {totalFrames} frames of {modules[0].Rows} x {modules[0].Cols} int16, {Environment.ProcessorCount} cores");

Measure("ReadFrame (H5Dread_chunk + ZLibStream), 1 thread", totalFrames, () =>
{
    foreach (var m in modules)
    {
        for (var k = 0; k < m.FrameCount; k++)
        {
            m.ReadFrame(k, buffer);
        }
    }
});

Measure("ReadFrameWithH5Dread (libhdf5 decodes), 1 thread", totalFrames, () =>
{
    foreach (var m in modules)
    {
        for (var k = 0; k < m.FrameCount; k++)
        {
            m.ReadFrameWithH5Dread(k, buffer);
        }
    }
});

var threadBuffers = new ThreadLocal<short[]>(() => new short[buffer.Length]);
Measure($"ReadFrame, {Environment.ProcessorCount} threads (wall clock)", totalFrames, () =>
    Parallel.ForEach(modules.SelectMany(m => Enumerable.Range(0, m.FrameCount).Select(k => (m, k))), item => item.m.ReadFrame(item.k, threadBuffers.Value!)));

var frames = modules.Take(5).SelectMany(m => Enumerable.Range(0, m.FrameCount).Select(k =>
{
    var f = new short[m.Rows * m.Cols];
    m.ReadFrame(k, f);
    return f;
})).ToArray();
var temp = Directory.CreateTempSubdirectory("anvil-hdf5-bench-");
try
{
    var round = 0;
    Measure("LambdaModuleWriter.AppendFrame (ZLib level 2 + H5Dwrite_chunk), 1 thread", frames.Length, () =>
    {
        using var writer = LambdaModuleWriter.Create(Path.Combine(temp.FullName, $"w{round++}.nxs"), modules[0].Rows, modules[0].Cols, 0f, 0f);
        for (var k = 0; k < frames.Length; k++)
        {
            writer.AppendFrame(frames[k], k + 1);
        }
    });

    // The fixtures are sparse (about 60:1 compressed); synthetic rings over Poisson-like noise compress about 3:1, like
    // busy diffraction frames, and show the inflate-bound rate.
    var rows = modules[0].Rows;
    var cols = modules[0].Cols;
    var random = new Random(42);
    var dense = Enumerable.Range(0, 20).Select(_ =>
    {
        var f = new short[rows * cols];
        for (var i = 0; i < f.Length; i++)
        {
            var radius = Math.Sqrt(Math.Pow((i / cols) - 900, 2) + Math.Pow((i % cols) - 700, 2));
            f[i] = (short)((200 * Math.Exp(-Math.Pow((radius % 120) - 60, 2) / 50)) + 20 + random.Next(0, 30));
        }

        return f;
    }).ToArray();
    var densePath = Path.Combine(temp.FullName, "dense.nxs");
    Measure("LambdaModuleWriter.AppendFrame, dense synthetic frames", dense.Length, () =>
    {
        using var writer = LambdaModuleWriter.Create(densePath, rows, cols, 0f, 0f);
        for (var k = 0; k < dense.Length; k++)
        {
            writer.AppendFrame(dense[k], k + 1);
        }
    });
    using (var denseModule = LambdaModuleFile.Open(densePath))
    {
        Console.WriteLine($"dense file: {new FileInfo(densePath).Length / 1e6:F1} MB for {dense.Length} frames");
        Measure("ReadFrame, dense synthetic frames, 1 thread", dense.Length, () =>
        {
            for (var k = 0; k < denseModule.FrameCount; k++)
            {
                denseModule.ReadFrame(k, buffer);
            }
        });
        Measure("ReadFrameWithH5Dread, dense synthetic frames, 1 thread", dense.Length, () =>
        {
            for (var k = 0; k < denseModule.FrameCount; k++)
            {
                denseModule.ReadFrameWithH5Dread(k, buffer);
            }
        });
    }
}
finally
{
    temp.Delete(recursive: true);
    foreach (var m in modules)
    {
        m.Dispose();
    }
}

void Measure(string name, int framesPerRun, Action run)
{
    run();
    var rates = new List<double>();
    for (var i = 0; i < 5; i++)
    {
        var watch = Stopwatch.StartNew();
        run();
        rates.Add(framesPerRun / watch.Elapsed.TotalSeconds);
    }

    rates.Sort();
    Console.WriteLine($"{name}: median {rates[2]:F0} frames/s ({rates[2] * megabytesPerFrame:F0} MB/s), range {rates[0]:F0}-{rates[4]:F0}");
}
