using Anvil.Hdf5;
using Anvil.Integration.Formats;
using Anvil.Pipeline;

namespace Anvil.Integrate.Service.Integrating;

/// <summary>
/// Keeps the most recently used frame files open: Lambda module chunks (a chunk file holds several frames, and opening
/// an HDF5 file costs far more than reading one frame from it) and single-image detector files (TIFF, CBF, EDF, Eiger
/// master), read through <see cref="DetectorImageFile"/>. Reads run outside the lock (decompression is parallel); an
/// evicted file is closed when its last reader is done.
/// </summary>
public sealed class ModuleFileCache(PipelineOptions options) : IDisposable
{
    private const int Capacity = 12;
    private readonly DataRoot dataRoot = new(options.DataRoot);
    private readonly LinkedList<Entry> open = new();
    private readonly Lock gate = new();

    /// <summary>
    /// Reads frame <paramref name="index"/> of the file at <paramref name="relative"/> (below the data root), which the
    /// frame's stitch plan places as a <paramref name="rows"/> × <paramref name="cols"/> module. A file of another shape
    /// (rewritten or truncated since stitch planned it) fails the frame with <see cref="InvalidDataException"/> instead
    /// of being placed into the wrong rows.
    /// </summary>
    public void ReadFrame(string relative, int index, int rows, int cols, Span<short> destination)
    {
        var entry = Acquire(relative, full => LambdaModuleFile.Open(full));
        try
        {
            var file = (LambdaModuleFile)entry.File;
            if (file.Rows != rows || file.Cols != cols)
            {
                throw new InvalidDataException($"{relative} holds {file.Rows}×{file.Cols} frames, but its stitch plan places a {rows}×{cols} module: the file changed after stitch read it; announce the chunk again once it is complete.");
            }

            file.ReadFrame(index, destination);
        }
        finally
        {
            Release(entry);
        }
    }

    /// <summary>
    /// Reads frame <paramref name="index"/> of a single-image detector file (<see cref="DetectorImageFile.IsImagePath"/>)
    /// as float32, checking it still has the <paramref name="rows"/> × <paramref name="cols"/> shape stitch planned.
    /// </summary>
    public void ReadImageFrame(string relative, int index, int rows, int cols, Span<float> destination)
    {
        var entry = Acquire(relative, DetectorImageFile.Open);
        try
        {
            var file = (DetectorImageFile)entry.File;
            if (file.Rows != rows || file.Cols != cols)
            {
                throw new InvalidDataException($"image {relative} is {file.Rows}×{file.Cols}, but its frame was planned as {rows}×{cols}: the file changed after stitch read it.");
            }

            file.ReadFrame(index, destination);
        }
        finally
        {
            Release(entry);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (gate)
        {
            foreach (var entry in open)
            {
                entry.File.Dispose();
            }

            open.Clear();
        }
    }

    private Entry Acquire(string relative, Func<string, IDisposable> openFile)
    {
        lock (gate)
        {
            for (var node = open.First; node is not null; node = node.Next)
            {
                if (node.Value.Path == relative)
                {
                    open.Remove(node);
                    open.AddFirst(node);
                    node.Value.Users++;
                    return node.Value;
                }
            }

            var entry = new Entry(relative, openFile(dataRoot.ToFull(dataRoot.ToRelative(relative)))) { Users = 1 };
            open.AddFirst(entry);
            if (open.Count > Capacity)
            {
                var evicted = open.Last!.Value;
                open.RemoveLast();
                evicted.Evicted = true;
                if (evicted.Users == 0)
                {
                    evicted.File.Dispose();
                }
            }

            return entry;
        }
    }

    private void Release(Entry entry)
    {
        lock (gate)
        {
            if (--entry.Users == 0 && entry.Evicted)
            {
                entry.File.Dispose();
            }
        }
    }

    private sealed class Entry(string path, IDisposable file)
    {
        public string Path { get; } = path;

        public IDisposable File { get; } = file;

        public int Users { get; set; }

        public bool Evicted { get; set; }
    }
}
