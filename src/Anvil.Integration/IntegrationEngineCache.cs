namespace Anvil.Integration;

/// <summary>
/// Engines keyed by what determines their numbers — (geometry, mask, settings) as <see cref="EngineKey"/> — and
/// reused across frames. A settings change gives a new key, so the caller switches engine at a frame boundary
/// by asking again; the key (<see cref="IntegrationSettings.ComputeHash"/>) is what the output records per frame.
/// Holds at most <c>capacity</c> engines; the least recently used one is disposed when another is built.
/// Thread-safe; a key is built once even when several threads ask for it at the same time.
/// </summary>
public sealed class IntegrationEngineCache(int capacity = 4) : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private long clock;
    private bool disposed;

    /// <summary>Engines built so far (a hit builds nothing).</summary>
    public int Builds { get; private set; }

    public int Count
    {
        get
        {
            lock (gate)
            {
                return entries.Count;
            }
        }
    }

    /// <summary>
    /// The key of an engine: the settings hash (geometry, mask bytes, settings; <see cref="IntegrationSettings.Threads"/>
    /// left out) plus the detector shape and thread count, which change the engine but not its numbers.
    /// </summary>
    public static string EngineKey(Geometry geometry, int rows, int cols, ReadOnlySpan<byte> mask, IntegrationSettings settings) =>
        $"{settings.ComputeHash(geometry, mask)}/{rows}x{cols}/t{settings.Threads}";

    /// <summary>The cached engine for these inputs, built on first use.</summary>
    public IntegrationEngine Get(Geometry geometry, int rows, int cols, byte[] mask, IntegrationSettings settings) =>
        Get(EngineKey(geometry, rows, cols, mask, settings), () => IntegrationEngine.Build(geometry, rows, cols, mask, settings));

    /// <summary>
    /// The engine cached under a caller's key, built by <paramref name="build"/> on first use. The key must identify
    /// everything <paramref name="build"/> depends on (a caller that already knows its inputs by a cheap key, such as
    /// a settings version, spares hashing the mask on every lookup).
    /// </summary>
    public IntegrationEngine Get(string key, Func<IntegrationEngine> build)
    {
        Lazy<IntegrationEngine> lazy;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!entries.TryGetValue(key, out var entry))
            {
                entry = new Entry(new Lazy<IntegrationEngine>(build));
                entries[key] = entry;
                Builds++;
                Evict(keep: key);
            }

            entry.LastUse = ++clock;
            lazy = entry.Engine;
        }

        try
        {
            return lazy.Value;
        }
        catch
        {
            lock (gate)
            {
                entries.Remove(key);
            }

            throw;
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            foreach (var e in entries.Values)
            {
                Release(e);
            }

            entries.Clear();
        }
    }

    private void Evict(string keep)
    {
        while (entries.Count > Math.Max(1, capacity))
        {
            var oldest = entries.Where(e => e.Key != keep).MinBy(e => e.Value.LastUse);
            entries.Remove(oldest.Key);
            Release(oldest.Value);
        }
    }

    // An engine still integrating a frame finishes it (its Dispose waits for the frame); later calls on it throw
    // ObjectDisposedException, so ask the cache once per frame rather than holding an engine.
    private static void Release(Entry e)
    {
        if (e.Engine.IsValueCreated)
        {
            e.Engine.Value.Dispose();
        }
    }

    private sealed class Entry(Lazy<IntegrationEngine> engine)
    {
        public Lazy<IntegrationEngine> Engine { get; } = engine;
        public long LastUse { get; set; }
    }
}
