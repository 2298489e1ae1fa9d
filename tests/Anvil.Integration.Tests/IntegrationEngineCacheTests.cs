namespace Anvil.Integration.Tests;

public sealed class IntegrationEngineCacheTests
{
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
}
