using Anvil.Hdf5;

namespace Anvil.Pipeline;

/// <summary>One chunk part on disk: its number, its frames and its module files in module order (m1, m2, …).</summary>
public sealed record ChunkPartFiles(int Part, int Frames, IReadOnlyList<string> Modules)
{
    /// <summary>Moves the module files into <paramref name="folder"/>, as a detector closes its files there; returns the part there.</summary>
    public ChunkPartFiles MoveTo(string folder)
    {
        Directory.CreateDirectory(folder);
        var moved = Modules.Select(path => Path.Combine(folder, Path.GetFileName(path))).ToArray();
        for (var m = 0; m < moved.Length; m++)
        {
            File.Move(Modules[m], moved[m], overwrite: true);
        }

        return this with { Modules = moved };
    }
}

/// <summary>
/// An acquisition of real Lambda frames made from a folder of Lambda chunk files, typically the 50 P02.2 frames of
/// tests/fixtures/lambda (3 modules × 5 parts of 10 frames), for the tests, `anvil chaos` and the benchmarks.
/// <see cref="Copy"/> copies the files under another acquisition name (bytes unchanged). <see cref="Plan"/> lays out an
/// acquisition of any number of frames in chunk files of any size: frame k is the source's frame k modulo its frame
/// count, copied as stored (deflated, never decoded), and each file's sequence numbers, error codes and
/// collection/frame_numbers are rewritten as the detector writes them, so stitch, integrate and merge see a consistent
/// Lambda scan; every other dataset and attribute is the source file's. Parts are written one by one
/// (<see cref="WritePart"/>, as a detector closes them) or all at once (<see cref="WriteAll"/>).
/// </summary>
public sealed class RealFrameAcquisition
{
    private readonly string source;
    private readonly string sourceAcquisition;
    private readonly int[] sourcePartFrames;
    private StoredChunk[][]? sourceChunks;

    private RealFrameAcquisition(string source, string folder, string name, int frames, int framesPerPart)
    {
        ChunkFileName.CheckAcquisition(name);
        this.source = source;
        var chunks = Directory.EnumerateFiles(source, "*.nxs")
            .Select(path => ChunkFileName.TryParse(Path.GetFileName(path), out var acquisition, out var module, out var part) ? (acquisition, module, part) : default)
            .Where(c => c.acquisition is not null)
            .ToArray();
        var acquisitions = chunks.Select(c => c.acquisition).Distinct().ToArray();
        sourceAcquisition = acquisitions.Length == 1
            ? acquisitions[0]
            : throw new ArgumentException($"{source} must hold the Lambda chunk files of one acquisition, not {acquisitions.Length} ({string.Join(", ", acquisitions)})");
        Modules = chunks.Max(c => c.module);
        var sourceParts = chunks.Max(c => c.part) + 1;
        sourcePartFrames = new int[sourceParts];
        for (var p = 0; p < sourceParts; p++)
        {
            using var file = LambdaModuleFile.Open(Path.Combine(source, ChunkFileName.Format(sourceAcquisition, 1, p)));
            sourcePartFrames[p] = file.FrameCount;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(framesPerPart, 1);
        Name = name;
        Folder = folder;
        Frames = frames;
        FramesPerPart = framesPerPart;
    }

    /// <summary>The acquisition's name (the file names' prefix).</summary>
    public string Name { get; }

    /// <summary>Where its chunk files are written.</summary>
    public string Folder { get; }

    public int Frames { get; }

    /// <summary>Frames per chunk part (the last part may hold fewer).</summary>
    public int FramesPerPart { get; }

    public int Modules { get; }

    /// <summary>Chunk parts: ⌈frames / frames per part⌉.</summary>
    public int PartCount => (Frames + FramesPerPart - 1) / FramesPerPart;

    /// <summary>Frames in the source folder: the cycle the acquisition's frames repeat.</summary>
    public int SourceFrames => sourcePartFrames.Sum();

    /// <summary>
    /// Copies the Lambda chunk files of <paramref name="source"/> (one acquisition) into <paramref name="folder"/> under the
    /// name <paramref name="name"/>; nothing inside them changes. Returns its parts.
    /// </summary>
    public static IReadOnlyList<ChunkPartFiles> Copy(string source, string folder, string name)
    {
        var plan = new RealFrameAcquisition(source, folder, name, 1, 1);
        Directory.CreateDirectory(folder);
        var parts = plan.CopiedParts();
        foreach (var part in parts)
        {
            for (var m = 1; m <= plan.Modules; m++)
            {
                File.Copy(Path.Combine(source, ChunkFileName.Format(plan.sourceAcquisition, m, part.Part)), part.Modules[m - 1], overwrite: true);
            }
        }

        return parts;
    }

    /// <summary>The parts <see cref="Copy"/> wrote (or writes) into <paramref name="folder"/>, read from the source, not the copies.</summary>
    public static IReadOnlyList<ChunkPartFiles> Copied(string source, string folder, string name) =>
        new RealFrameAcquisition(source, folder, name, 1, 1).CopiedParts();

    private ChunkPartFiles[] CopiedParts() =>
        [.. sourcePartFrames.Select((frames, p) => new ChunkPartFiles(p, frames, [.. Enumerable.Range(1, Modules).Select(m => PathOf(m, p))]))];

    /// <summary>Lays out an acquisition of <paramref name="frames"/> frames in parts of <paramref name="framesPerPart"/>; writes nothing yet.</summary>
    public static RealFrameAcquisition Plan(string source, string folder, string name, int frames, int framesPerPart = 10) =>
        new(source, folder, name, frames, framesPerPart);

    /// <summary>The path of module <paramref name="module"/> (1-based) of part <paramref name="part"/>.</summary>
    public string PathOf(int module, int part) => Path.Combine(Folder, ChunkFileName.Format(Name, module, part));

    /// <summary>Frames in part <paramref name="part"/>.</summary>
    public int FramesIn(int part) => Math.Min(FramesPerPart, Frames - (part * FramesPerPart));

    /// <summary>Writes every part; returns them in order.</summary>
    public IReadOnlyList<ChunkPartFiles> WriteAll() => [.. Enumerable.Range(0, PartCount).Select(WritePart)];

    /// <summary>Writes the module files of part <paramref name="part"/> (0-based) into <see cref="Folder"/>.</summary>
    public ChunkPartFiles WritePart(int part)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(part);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(part, PartCount);
        Directory.CreateDirectory(Folder);
        var first = part * FramesPerPart;
        var count = FramesIn(part);
        var templatePart = part % sourcePartFrames.Length;

        // A part that is exactly the template's frames (parts of the source's size, in step with it) keeps its pixels;
        // any other gets its frames' stored chunks.
        var inStep = count == sourcePartFrames[templatePart] && first % SourceFrames == sourcePartFrames.Take(templatePart).Sum();
        var modules = new string[Modules];
        for (var m = 1; m <= Modules; m++)
        {
            var target = PathOf(m, part);
            File.Copy(Path.Combine(source, ChunkFileName.Format(sourceAcquisition, m, templatePart)), target, overwrite: true);
            using (var file = Hdf5File.OpenReadWrite(target))
            {
                if (!inStep)
                {
                    var stack = file.GetDatasetInfo(LambdaModuleFile.DataPath).Shape;
                    var chunks = SourceChunks();
                    file.WriteStoredChunks(LambdaModuleFile.DataPath, [(ulong)count, (ulong)stack[1], (ulong)stack[2]],
                        Enumerable.Range(0, count).Select(i => chunks[m - 1][(first + i) % SourceFrames] with { Offset = [(ulong)i, 0, 0] }));
                }

                Rewrite(file, LambdaModuleFile.SequenceNumberPath, [.. Enumerable.Range(first + 1, count)]);
                Rewrite(file, LambdaModuleFile.DetectorPath + "/collection/error_code", new int[count]);
                Rewrite(file, LambdaModuleFile.DetectorPath + "/collection/frame_numbers", [Frames]);
            }

            modules[m - 1] = target;
        }

        return new ChunkPartFiles(part, count, modules);
    }

    private static void Rewrite(Hdf5File file, string path, int[] values)
    {
        file.Delete(path);
        file.WriteDataset(path, values);
    }

    // Every source frame of every module, as stored: 50 frames × 3 modules of the fixture are about 4 MB.
    private StoredChunk[][] SourceChunks()
    {
        if (sourceChunks is not null)
        {
            return sourceChunks;
        }

        var all = new StoredChunk[Modules][];
        for (var m = 1; m <= Modules; m++)
        {
            var frames = new List<StoredChunk>();
            for (var p = 0; p < sourcePartFrames.Length; p++)
            {
                using var file = Hdf5File.OpenRead(Path.Combine(source, ChunkFileName.Format(sourceAcquisition, m, p)));
                for (var i = 0; i < sourcePartFrames[p]; i++)
                {
                    frames.Add(file.ReadStoredChunk(LambdaModuleFile.DataPath, [(ulong)i, 0, 0]));
                }
            }

            all[m - 1] = [.. frames];
        }

        return sourceChunks = all;
    }
}
