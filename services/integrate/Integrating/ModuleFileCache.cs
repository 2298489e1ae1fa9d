using Anvil.Hdf5;
using Anvil.Pipeline;

namespace Anvil.Integrate.Service.Integrating;

/// <summary>
/// Keeps the most recently used module files open: a chunk file holds several frames, and opening an HDF5
/// file costs far more than reading one frame from it. Reads run outside the lock (decompression is parallel);
/// an evicted file is closed when its last reader is done.
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
        var entry = Acquire(relative);
        try
        {
            if (entry.File.Rows != rows || entry.File.Cols != cols)
            {
                throw new InvalidDataException($"{relative} holds {entry.File.Rows}×{entry.File.Cols} frames, but its stitch plan places a {rows}×{cols} module: the file changed after stitch read it; announce the chunk again once it is complete.");
            }

            entry.File.ReadFrame(index, destination);
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

    private Entry Acquire(string relative)
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

            var entry = new Entry(relative, LambdaModuleFile.Open(dataRoot.ToFull(dataRoot.ToRelative(relative)))) { Users = 1 };
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

    private sealed class Entry(string path, LambdaModuleFile file)
    {
        public string Path { get; } = path;

        public LambdaModuleFile File { get; } = file;

        public int Users { get; set; }

        public bool Evicted { get; set; }
    }
}
