namespace Anvil.Integration;

/// <summary>
/// Engines keyed by what determines their numbers — (geometry, mask, settings) as <see cref="EngineKey"/> — and
/// reused across frames. A settings change gives a new key, so the caller switches engine at a frame boundary
/// by asking again; the key (<see cref="IntegrationSettings.ComputeHash"/>) is what the output records per frame.
/// Holds at most <c>capacity</c> engines; the least recently used one is evicted when another is built.
/// Thread-safe; a key is built once even when several threads ask for it at the same time.
/// </summary>
/// <remarks>
/// <see cref="Rent(string, Func{IntegrationEngine})"/> hands out an <see cref="EngineLease"/>: an evicted engine is
/// disposed when its last lease ends, so a frame that holds a lease across its awaits never meets a disposed engine;
/// an engine still cached is never disposed by a lease ending. Engines evicted while leased live on beyond
/// <c>capacity</c> until their leases end. <see cref="Get(string, Func{IntegrationEngine})"/> holds no lease: its
/// engine is disposed as soon as it is evicted (prefer <c>Rent</c>).
/// Disposing the cache disposes the engines nobody leases at once and each leased one when its last lease ends;
/// renting from a disposed cache throws <see cref="ObjectDisposedException"/>, ending a lease from it does not.
/// </remarks>
public sealed class IntegrationEngineCache(int capacity = 4) : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private long clock;
    private bool disposed;

    /// <summary>Engines built so far (a hit builds nothing).</summary>
    public int Builds { get; private set; }

    /// <summary>Engines cached (not counting evicted engines that leases still hold).</summary>
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

    /// <summary>A lease on the cached engine for these inputs, built on first use.</summary>
    public EngineLease Rent(Geometry geometry, int rows, int cols, byte[] mask, IntegrationSettings settings) =>
        Rent(EngineKey(geometry, rows, cols, mask, settings), () => IntegrationEngine.Build(geometry, rows, cols, mask, settings));

    /// <summary>
    /// A lease on the engine cached under a caller's key, built by <paramref name="build"/> on first use. The key must
    /// identify everything <paramref name="build"/> depends on (a caller that already knows its inputs by a cheap key,
    /// such as a settings version, spares hashing the mask on every lookup). The engine is not disposed before the
    /// lease is, even if it is evicted meanwhile; dispose the lease when the frame is done.
    /// </summary>
    public EngineLease Rent(string key, Func<IntegrationEngine> build)
    {
        Entry entry;
        List<Entry>? evicted = null;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(new Lazy<IntegrationEngine>(build));
                entries[key] = entry;
                Builds++;
                evicted = Evict(keep: key);
            }

            entry.LastUse = ++clock;
            entry.Leases++;
        }

        try
        {
            DisposeAll(evicted);
        }
        catch
        {
            Return(entry);
            throw;
        }

        try
        {
            return new EngineLease(this, entry, entry.Engine.Value);
        }
        catch
        {
            // A failed build is not cached: the next caller builds again.
            lock (gate)
            {
                if (entries.TryGetValue(key, out var current) && current == entry)
                {
                    entries.Remove(key);
                }
            }

            Return(entry);
            throw;
        }
    }

    /// <summary>The cached engine for these inputs, built on first use (see <see cref="Get(string, Func{IntegrationEngine})"/>).</summary>
    public IntegrationEngine Get(Geometry geometry, int rows, int cols, byte[] mask, IntegrationSettings settings) =>
        Get(EngineKey(geometry, rows, cols, mask, settings), () => IntegrationEngine.Build(geometry, rows, cols, mask, settings));

    /// <summary>
    /// The engine cached under a caller's key, built by <paramref name="build"/> on first use, with no lease: eviction
    /// (another key built beyond <c>capacity</c>, from any thread) or disposing the cache disposes it, and later calls
    /// on it throw <see cref="ObjectDisposedException"/>. For one caller using a handful of keys; whoever uses an
    /// engine while others may change the keys rents it (<see cref="Rent(string, Func{IntegrationEngine})"/>).
    /// </summary>
    public IntegrationEngine Get(string key, Func<IntegrationEngine> build)
    {
        // A lease for the build, so an engine evicted while it is being built is disposed rather than leaked.
        using var lease = Rent(key, build);
        return lease.Engine;
    }

    /// <summary>Disposes the engines nobody leases now, and each leased one when its last lease ends.</summary>
    public void Dispose()
    {
        List<Entry> idle = [];
        lock (gate)
        {
            disposed = true;
            foreach (var e in entries.Values)
            {
                e.Evicted = true;
                if (e.Leases == 0)
                {
                    idle.Add(e);
                }
            }

            entries.Clear();
        }

        DisposeAll(idle);
    }

    /// <summary>Ends a lease; the last lease on an evicted engine disposes it.</summary>
    internal void Return(Entry entry)
    {
        lock (gate)
        {
            if (--entry.Leases > 0 || !entry.Evicted)
            {
                return;
            }
        }

        DisposeEngine(entry);
    }

    /// <summary>Drops the least recently used entries beyond capacity; returns those nobody leases, to dispose outside the lock.</summary>
    private List<Entry>? Evict(string keep)
    {
        List<Entry>? idle = null;
        while (entries.Count > Math.Max(1, capacity))
        {
            var oldest = entries.Where(e => e.Key != keep).MinBy(e => e.Value.LastUse);
            entries.Remove(oldest.Key);
            oldest.Value.Evicted = true;
            if (oldest.Value.Leases == 0)
            {
                (idle ??= []).Add(oldest.Value);
            }
        }

        return idle;
    }

    private static void DisposeAll(List<Entry>? idle)
    {
        // Every engine is disposed even if one throws; the first failure is thrown afterwards.
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        foreach (var e in idle ?? [])
        {
            try
            {
                DisposeEngine(e);
            }
            catch (Exception ex)
            {
                failure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
            }
        }

        failure?.Throw();
    }

    // Outside the cache's lock: an engine integrating a frame for a Get caller finishes it first (Dispose waits for it).
    // A build that failed, or never ran, has nothing to dispose; one still running holds a lease, so it is not here.
    private static void DisposeEngine(Entry e)
    {
        if (e.Engine.IsValueCreated)
        {
            e.Engine.Value.Dispose();
        }
    }

    /// <summary>A cached (or evicted but leased) engine and its bookkeeping; the counters are guarded by the cache's lock.</summary>
    internal sealed class Entry(Lazy<IntegrationEngine> engine)
    {
        public Lazy<IntegrationEngine> Engine { get; } = engine;
        public long LastUse { get; set; }

        /// <summary>Leases not yet disposed (a build in progress holds one).</summary>
        public int Leases { get; set; }

        /// <summary>No longer in the cache: disposed when <see cref="Leases"/> reaches 0.</summary>
        public bool Evicted { get; set; }
    }
}

/// <summary>
/// A hold on an engine of an <see cref="IntegrationEngineCache"/>: the engine is not disposed while the lease is open,
/// even if the cache evicts it. Dispose the lease when done with the engine (once is enough; again does nothing).
/// </summary>
public sealed class EngineLease : IDisposable
{
    private readonly IntegrationEngineCache.Entry entry;
    private IntegrationEngineCache? cache;

    internal EngineLease(IntegrationEngineCache cache, IntegrationEngineCache.Entry entry, IntegrationEngine engine)
    {
        this.cache = cache;
        this.entry = entry;
        Engine = engine;
    }

    /// <summary>The leased engine; usable until this lease is disposed.</summary>
    public IntegrationEngine Engine { get; }

    /// <summary>Ends the lease: an engine the cache has evicted (or dropped on its disposal) is disposed with its last lease.</summary>
    public void Dispose() => Interlocked.Exchange(ref cache, null)?.Return(entry);
}
