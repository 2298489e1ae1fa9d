#:project ../Anvil.Hdf5.csproj
#:property PublishAot=false

// Frames per second of LambdaModuleFile.ReadFrame (fast path and H5Dread) and LambdaModuleWriter.AppendFrame on the
// real fixtures, and bitshuffle-LZ4 decoding against gzip inflating of the same frame. Run from the repository root:
//   dotnet run -c Release src/Anvil.Hdf5/Benchmarks/Hdf5Bench.cs [--bitshuffle-only]
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using Anvil.Hdf5;
using Anvil.Hdf5.Internal;

if (args.Contains("--bitshuffle-only"))
{
    BitshuffleAgainstGzip(Path.Combine("tests", "fixtures", "images", "formats"));
    return;
}

var fixtures = args.Length > 0 ? args[0] : Path.Combine("tests", "fixtures", "lambda");
BitshuffleAgainstGzip(Path.Combine("tests", "fixtures", "images", "formats"));
var paths = Directory.GetFiles(fixtures, "*.nxs").Order().ToArray();
var modules = paths.Select(LambdaModuleFile.Open).ToArray();
var totalFrames = modules.Sum(m => m.FrameCount);
var buffer = new short[modules.Max(m => m.Rows * m.Cols)];
var megabytesPerFrame = modules[0].Rows * modules[0].Cols * sizeof(short) / 1e6;
Console.WriteLine($"{paths.Length} files, {totalFrames} frames of {modules[0].Rows} x {modules[0].Cols} int16, {Environment.ProcessorCount} cores");

Measure("ReadFrame (H5Dread_chunk + ZLibStream), 1 thread", totalFrames, megabytesPerFrame, () =>
{
    foreach (var m in modules)
    {
        for (var k = 0; k < m.FrameCount; k++)
        {
            m.ReadFrame(k, buffer);
        }
    }
});

Measure("ReadFrameWithH5Dread (libhdf5 decodes), 1 thread", totalFrames, megabytesPerFrame, () =>
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
Measure($"ReadFrame, {Environment.ProcessorCount} threads (wall clock)", totalFrames, megabytesPerFrame, () =>
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
    Measure("LambdaModuleWriter.AppendFrame (ZLib level 2 + H5Dwrite_chunk), 1 thread", frames.Length, megabytesPerFrame, () =>
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
    Measure("LambdaModuleWriter.AppendFrame, dense synthetic frames", dense.Length, megabytesPerFrame, () =>
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
        Measure("ReadFrame, dense synthetic frames, 1 thread", dense.Length, megabytesPerFrame, () =>
        {
            for (var k = 0; k < denseModule.FrameCount; k++)
            {
                denseModule.ReadFrame(k, buffer);
            }
        });
        Measure("ReadFrameWithH5Dread, dense synthetic frames, 1 thread", dense.Length, megabytesPerFrame, () =>
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

// Bitshuffle-LZ4 (HDF5 filter 32008, the Eiger default) against gzip-4 of the same 1024 × 1024 uint32 frame (4.19 MB).
// The frame's LZ4 blocks are the full 2048-element blocks of the Eiger fixture's rings frames (python3-lz4 encoded,
// tests/fixtures/images/make_images.py), repeated: bitshuffle blocks are independent, so 512 of them are a valid chunk.
static void BitshuffleAgainstGzip(string folder)
{
    const int Pixels = 1024 * 1024, Block = 2048;
    var blocks = new List<byte[]>();
    foreach (var name in new[] { "eigerbs_data_000001.h5", "eigerbs_data_000002.h5" })
    {
        using var file = Hdf5File.OpenRead(Path.Combine(folder, name));
        var chunk = file.ReadStoredChunk("/entry/data/data", [0, 0, 0]).Bytes;
        var position = 12;
        for (var b = 0; b < 2; b++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(chunk.AsSpan(position));
            blocks.Add(chunk[position..(position + 4 + length)]);
            position += 4 + length;
        }
    }

    var stored = new MemoryStream();
    var header = new byte[12];
    BinaryPrimitives.WriteUInt64BigEndian(header, Pixels * 4);
    BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), Block * 4);
    stored.Write(header);
    for (var b = 0; b < Pixels / Block; b++)
    {
        stored.Write(blocks[b % blocks.Count]);
    }

    var bitshuffled = stored.ToArray();
    var frame = new byte[Pixels * 4];
    Bitshuffle.DecodeChunk(bitshuffled, frame, [0, 2, 4, 0, 2], 4);
    var gzipped = new MemoryStream();
    using (var zlib = new ZLibStream(gzipped, new ZLibCompressionOptions { CompressionLevel = 4 }, leaveOpen: true))
    {
        zlib.Write(frame);
    }

    var deflated = gzipped.ToArray();
    var output = new byte[frame.Length];
    var megabytes = frame.Length / 1e6;
    Console.WriteLine($"1024 x 1024 uint32 frame ({megabytes:F2} MB): bitshuffle-LZ4 {bitshuffled.Length / 1e6:F2} MB, gzip-4 {deflated.Length / 1e6:F2} MB, {Environment.ProcessorCount} cores");
    var bslz4 = Measure("bitshuffle-LZ4 decode (Anvil.Hdf5.Bitshuffle, C#), 1 thread", 20, megabytes, () =>
    {
        for (var i = 0; i < 20; i++)
        {
            Bitshuffle.DecodeChunk(bitshuffled, output, [0, 2, 4, 0, 2], 4);
        }
    });
    if (!output.AsSpan().SequenceEqual(frame))
    {
        throw new InvalidOperationException("bitshuffle-LZ4 decoded differently between runs");
    }

    var lz4Only = Measure("  of which LZ4 blocks only (Anvil.Hdf5.Lz4Block)", 20, megabytes, () =>
    {
        var scratch = new byte[Block * 4];
        for (var i = 0; i < 20; i++)
        {
            for (var position = 12; position < bitshuffled.Length;)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(bitshuffled.AsSpan(position));
                Lz4Block.Decompress(bitshuffled.AsSpan(position + 4, length), scratch);
                position += 4 + length;
            }
        }
    });
    var inflate = Measure($"gzip-4 inflate ({Zlib.Default}), 1 thread", 20, megabytes, () =>
    {
        for (var i = 0; i < 20; i++)
        {
            Zlib.Inflate(deflated, output, Zlib.Default);
        }
    });
    var zlibStream = Measure("gzip-4 inflate (ZLibStream), 1 thread", 20, megabytes, () =>
    {
        for (var i = 0; i < 20; i++)
        {
            Zlib.Inflate(deflated, output, ZlibBackend.DotNet);
        }
    });
    Console.WriteLine($"bitshuffle-LZ4 decode vs gzip-4 inflate: {bslz4 * megabytes:F0} vs {inflate * megabytes:F0} MB/s ({Zlib.Default}): {bslz4 / inflate:F2} x; vs ZLibStream {zlibStream * megabytes:F0} MB/s: {bslz4 / zlibStream:F2} x; {1000 / bslz4:F2} ms per frame (LZ4 alone {1000 / lz4Only:F2} ms)");
}

static double Measure(string name, int framesPerRun, double megabytesPerFrame, Action run)
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
    return rates[2];
}
