using System.Collections.Concurrent;

namespace Anvil.Integration.Tests;

/// <summary>
/// <see cref="IntegrationEngineCache"/>: one build per key, least recently used engines evicted beyond capacity, and
/// leases: an evicted engine is disposed when its last lease ends, never while leased, and a cached one never by a lease.
/// </summary>
public sealed class IntegrationEngineCacheTests
{
    private const int Rows = 16;
    private const int Cols = 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly Geometry Geometry = PoniFile.Load(Path.Combine(PyFaiCases.Folder, "centred.poni"));
    private static readonly IntegrationSettings Settings = new() { Npt = 100, Method = SplitMethod.No };

    [Fact]
    public void Get_SameInputs_ReusesTheEngine()
    {
        using var cache = new IntegrationEngineCache();
        var mask = new byte[64 * 80];
        var first = cache.Get(Geometry, 64, 80, mask, Settings);
        var again = cache.Get(Geometry, 64, 80, (byte[])mask.Clone(), Settings with { });
        Assert.Same(first, again);
        Assert.Equal(1, cache.Builds);
    }

    [Fact]
    public void Get_ChangedSettingsMaskOrGeometry_BuildsAnotherEngineWithAnotherHash()
    {
        using var cache = new IntegrationEngineCache(capacity: 8);
        var mask = new byte[64 * 80];
        var baseline = cache.Get(Geometry, 64, 80, mask, Settings);
        var masked = (byte[])mask.Clone();
        masked[17] = 1;
        var variants = new[]
        {
            cache.Get(Geometry, 64, 80, mask, Settings with { Npt = 101 }),
            cache.Get(Geometry, 64, 80, mask, Settings with { PolarizationFactor = 0.99 }),
            cache.Get(Geometry, 64, 80, masked, Settings),
            cache.Get(Geometry with { Distance = Geometry.Distance * 1.0000001 }, 64, 80, mask, Settings),
        };
        Assert.Equal(5, cache.Builds);
        Assert.Equal(5, variants.Append(baseline).Select(e => e.Hash).Distinct().Count());

        // Threads change the engine, not its numbers: same hash, separate engine.
        var twoThreads = cache.Get(Geometry, 64, 80, mask, Settings with { Threads = 2 });
        Assert.NotSame(baseline, twoThreads);
        Assert.Equal(baseline.Hash, twoThreads.Hash);
    }

    [Fact]
    public void Get_CallerKey_BuildsOncePerKeyEvenWhenAskedConcurrently()
    {
        using var cache = new IntegrationEngineCache();
        var builds = 0;
        IntegrationEngine Build()
        {
            Interlocked.Increment(ref builds);
            return IntegrationEngine.Build(Geometry, 64, 80, [], Settings);
        }

        var engines = Enumerable.Range(0, 8).AsParallel().WithDegreeOfParallelism(4).Select(_ => cache.Get("layout|v1", Build)).ToArray();
        Assert.All(engines, e => Assert.Same(engines[0], e));
        Assert.Equal(1, builds);
        Assert.NotSame(engines[0], cache.Get("layout|v2", Build));
        Assert.Equal(2, builds);
    }

    [Fact]
    public void Get_BeyondCapacity_DisposesTheLeastRecentlyUsedEngine()
    {
        using var cache = new IntegrationEngineCache(capacity: 2);
        var a = cache.Get(Geometry, 64, 80, [], Settings);
        var b = cache.Get(Geometry, 64, 80, [], Settings with { Npt = 50 });
        Assert.Same(a, cache.Get(Geometry, 64, 80, [], Settings)); // a is now the most recent
        _ = cache.Get(Geometry, 64, 80, [], Settings with { Npt = 60 });
        Assert.Equal(2, cache.Count);
        Assert.Throws<ObjectDisposedException>(() => b.Integrate<int>(new int[64 * 80], b.CreateResult()));
        a.Integrate<int>(new int[64 * 80], a.CreateResult());
    }

    [Fact]
    public void Rent_EngineEvictedWhileLeased_IsNotDisposedAndStillIntegrates()
    {
        using var cache = new IntegrationEngineCache(capacity: 1);
        using var lease = cache.Rent("a", () => Tiny(50));
        using (cache.Rent("b", () => Tiny(60)))
        {
            Assert.Equal(1, cache.Count); // "a" is evicted
        }

        Assert.True(Usable(lease.Engine));
        Assert.NotSame(lease.Engine, cache.Get("a", () => Tiny(50))); // evicted: asking again builds another
    }

    [Fact]
    public void Rent_EvictedEngine_IsDisposedWhenItsLastLeaseEnds()
    {
        using var cache = new IntegrationEngineCache(capacity: 1);
        var first = cache.Rent("a", () => Tiny(50));
        var second = cache.Rent("a", () => Tiny(50));
        var engine = first.Engine;
        Assert.Same(engine, second.Engine);
        cache.Rent("b", () => Tiny(60)).Dispose();

        first.Dispose();
        first.Dispose(); // ending a lease twice counts once
        Assert.True(Usable(engine), "one lease is still open");
        second.Dispose();
        Assert.False(Usable(engine), "the last lease on an evicted engine disposes it");
    }

    [Fact]
    public void Rent_LeaseEnds_DisposesOnlyTheEvictedEngineItHeldNeverACachedOne()
    {
        using var cache = new IntegrationEngineCache(capacity: 1);
        var old = cache.Rent("a", () => Tiny(50));
        var b = cache.Get("b", () => Tiny(60)); // evicts the leased "a"
        var cached = cache.Rent("a", () => Tiny(50)); // builds "a" again, evicts "b"
        Assert.NotSame(old.Engine, cached.Engine);
        Assert.False(Usable(b), "an evicted engine nobody leases is disposed at once");

        Assert.True(Usable(old.Engine), "evicted while leased");
        old.Dispose();
        Assert.False(Usable(old.Engine));

        // The same key's cached engine outlives the lease on the old one and its own lease.
        cached.Dispose();
        Assert.True(Usable(cached.Engine));
        using var again = cache.Rent("a", () => Tiny(50));
        Assert.Same(cached.Engine, again.Engine);
        Assert.Equal(3, cache.Builds);
    }

    [Fact]
    public void Dispose_WithALeaseOpen_DisposesIdleEnginesNowAndTheLeasedOneWithItsLease()
    {
        var cache = new IntegrationEngineCache(capacity: 2);
        var lease = cache.Rent("a", () => Tiny(50));
        var idle = cache.Get("b", () => Tiny(60));
        cache.Dispose();

        Assert.False(Usable(idle));
        Assert.True(Usable(lease.Engine));
        Assert.Throws<ObjectDisposedException>(() => cache.Rent("a", () => Tiny(50)));
        lease.Dispose();
        Assert.False(Usable(lease.Engine));
    }

    [Fact]
    public async Task Rent_BuildFailsAfterItsKeyWasEvictedAndBuiltAgain_LeavesTheNewEngineCached()
    {
        using var cache = new IntegrationEngineCache(capacity: 1);
        using var building = new ManualResetEventSlim();
        using var fail = new ManualResetEventSlim();
        var failing = Task.Run(() => cache.Rent("a", () =>
        {
            building.Set();
            Assert.True(fail.Wait(Timeout), "the test let the build fail");
            throw new InvalidOperationException("bad poni");
        }));
        Assert.True(building.Wait(Timeout), "the first build of a started");

        cache.Rent("b", () => Tiny(60)).Dispose(); // evicts "a" while it is being built
        using var rebuilt = cache.Rent("a", () => Tiny(50));
        fail.Set();
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing.WaitAsync(Timeout));

        Assert.Equal(1, cache.Count);
        using var again = cache.Rent("a", () => Tiny(50));
        Assert.Same(rebuilt.Engine, again.Engine);
        Assert.Equal(3, cache.Builds);
    }

    [Fact]
    public async Task Rent_ConcurrentRentsAndReturnsAcrossEvictions_NeverDisposeALeasedEngineAndDisposeEveryEvictedOne()
    {
        using var cache = new IntegrationEngineCache(capacity: 2);
        var built = new ConcurrentBag<IntegrationEngine>();
        IntegrationEngine Build(int npt)
        {
            var engine = Tiny(npt);
            built.Add(engine);
            return engine;
        }

        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; i < 150; i++)
            {
                // Five keys over a capacity of two: most rents evict an engine another worker may be holding.
                var npt = 50 + random.Next(5);
                using var lease = cache.Rent($"k{npt}", () => Build(npt));
                Assert.Equal(npt, lease.Engine.Settings.Npt);
                Assert.True(Usable(lease.Engine), $"worker {w} round {i}: k{npt} disposed while leased");
                await Task.Yield(); // held across an await, as the integrate worker holds its engines through the batcher
                var other = 50 + random.Next(5);
                using (var inner = cache.Rent($"k{other}", () => Build(other)))
                {
                    Assert.Equal(other, inner.Engine.Settings.Npt);
                    Assert.True(Usable(inner.Engine), $"worker {w} round {i}: k{other} disposed while leased");
                }

                Assert.True(Usable(lease.Engine), $"worker {w} round {i}: k{npt} disposed while leased");
            }
        })).ToArray();
        await Task.WhenAll(workers).WaitAsync(Timeout);

        Assert.True(built.Count > 5, $"evictions happened ({built.Count} builds)");
        Assert.Equal(cache.Builds, built.Count);
        // No lease is open: exactly the cached engines are alive.
        Assert.Equal(cache.Count, built.Count(Usable));
        cache.Dispose();
        Assert.DoesNotContain(built, Usable);
    }

    /// <summary>A cheap engine (16×20 pixels), told apart from others by its bin count.</summary>
    private static IntegrationEngine Tiny(int npt) => IntegrationEngine.Build(Geometry, Rows, Cols, [], Settings with { Npt = npt });

    /// <summary>False when the engine has been disposed.</summary>
    private static bool Usable(IntegrationEngine engine)
    {
        try
        {
            engine.Integrate<short>(new short[engine.Rows * engine.Cols], engine.CreateResult());
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }
}
