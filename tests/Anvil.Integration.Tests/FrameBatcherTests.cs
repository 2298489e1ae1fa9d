namespace Anvil.Integration.Tests;

/// <summary>
/// <see cref="FrameBatcher"/>: frames handed in concurrently share passes, give the single-frame numbers, never mix
/// engines in one pass, and an engine failure reaches every caller of its pass without stopping the batcher.
/// </summary>
public sealed class FrameBatcherTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly IntegrationEngine engine;
    private readonly short[][] frames;

    public FrameBatcherTests()
    {
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var (rows, cols, pixels) = PyFaiCases.Frame(c);
        engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c) with { ExcludeNegative = true });
        frames = [.. Enumerable.Range(0, 8).Select(f => Array.ConvertAll(pixels, v => (short)(((long)v * (f + 1)) % 4001)))];
    }

    public void Dispose() => engine.Dispose();

    private IntegrationResult Single(IntegrationEngine e, short[] frame)
    {
        var result = e.CreateResult();
        e.Integrate<short>(frame, result);
        return result;
    }

    [Fact]
    public async Task IntegrateAsync_FramesQueuedWhileAPassRuns_GoThroughTogetherInOrder()
    {
        var batcher = new FrameBatcher();
        using var gate = FirstPassGate.On(batcher);
        var results = frames.Take(5).Select(_ => engine.CreateResult()).ToArray();
        var first = Task.Run(async () => await batcher.IntegrateAsync(engine, frames[0], results[0]));
        gate.WaitForFirstPass();

        // Four frames arrive while the first pass runs: they queue (nothing has released the engine yet).
        var later = Enumerable.Range(1, 4).Select(k => batcher.IntegrateAsync(engine, frames[k], results[k]).AsTask()).ToArray();
        Assert.Equal(4, batcher.Queued);
        gate.Release();
        await Task.WhenAll([first, .. later]).WaitAsync(Timeout);

        Assert.Equal([1, 4], gate.Sizes);
        Assert.Equal(2, batcher.Passes);
        Assert.Equal(5, batcher.Frames);
        for (var k = 0; k < 5; k++)
        {
            Assert.Equal(Single(engine, frames[k]).SumSignal, results[k].SumSignal);
            Assert.Equal(Single(engine, frames[k]).Intensity, results[k].Intensity);
        }
    }

    [Fact]
    public async Task IntegrateAsync_ManyConcurrentCallers_EachGetsItsOwnFramesNumbers()
    {
        var batcher = new FrameBatcher();
        var results = frames.Select(_ => engine.CreateResult()).ToArray();
        for (var round = 0; round < 5; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, frames.Length)
                .Select(k => Task.Run(async () => await batcher.IntegrateAsync(engine, frames[k], results[k])))).WaitAsync(Timeout);
            for (var k = 0; k < frames.Length; k++)
            {
                Assert.Equal(Single(engine, frames[k]).SumVariance, results[k].SumVariance);
            }
        }

        Assert.Equal(5 * frames.Length, batcher.Frames);
        Assert.InRange(batcher.Passes, 5 * frames.Length / IntegrationEngine.FramesPerPass, 5 * frames.Length);
    }

    [Fact]
    public async Task IntegrateAsync_TwoEngines_APassNeverMixesThem()
    {
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var (rows, cols, _) = PyFaiCases.Frame(c);
        using var other = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c) with { Npt = 77 });
        var batcher = new FrameBatcher();
        using var gate = FirstPassGate.On(batcher);
        var engines = new[] { engine, other, engine, other, engine };
        var results = engines.Select(e => e.CreateResult()).ToArray();
        var first = Task.Run(async () => await batcher.IntegrateAsync(engines[0], frames[0], results[0]));
        gate.WaitForFirstPass();
        var later = Enumerable.Range(1, 4).Select(k => batcher.IntegrateAsync(engines[k], frames[k], results[k]).AsTask()).ToArray();
        gate.Release();
        await Task.WhenAll([first, .. later]).WaitAsync(Timeout);

        // Pass 2 takes the oldest waiting frame's engine (other) and its frames; pass 3 the rest.
        Assert.Equal([1, 2, 2], gate.Sizes);
        for (var k = 0; k < engines.Length; k++)
        {
            Assert.Equal(Single(engines[k], frames[k]).Intensity, results[k].Intensity);
        }
    }

    /// <summary>A wrong frame or result is refused to its caller at once; the others in the same pass are untouched.</summary>
    [Fact]
    public async Task IntegrateAsync_WrongFrameOrResult_FailsThatCallerOnly()
    {
        var batcher = new FrameBatcher();
        using var gate = FirstPassGate.On(batcher);
        var results = new[] { engine.CreateResult(), engine.CreateResult() };
        var first = Task.Run(async () => await batcher.IntegrateAsync(engine, frames[0], results[0]));
        gate.WaitForFirstPass();
        var good = batcher.IntegrateAsync(engine, frames[1], results[1]).AsTask();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => batcher.IntegrateAsync(engine, new short[5], engine.CreateResult()).AsTask().WaitAsync(Timeout));
        Assert.Contains("frame has 5 pixels", error.Message, StringComparison.Ordinal);
        error = await Assert.ThrowsAsync<ArgumentException>(() => batcher.IntegrateAsync(engine, frames[2], new IntegrationResult(3)).AsTask().WaitAsync(Timeout));
        Assert.Contains("result has 3 bins", error.Message, StringComparison.Ordinal);
        gate.Release();
        await Task.WhenAll(first, good).WaitAsync(Timeout);
        Assert.Equal(Single(engine, frames[1]).Intensity, results[1].Intensity);
    }

    [Fact]
    public async Task IntegrateAsync_DisposedEngine_EveryCallerOfThePassGetsTheErrorAndTheBatcherGoesOn()
    {
        var c = PyFaiCases.Get("tilted_bbox_q_nm");
        var (rows, cols, _) = PyFaiCases.Frame(c);
        var disposed = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), PyFaiCases.Settings(c));
        disposed.Dispose();
        var batcher = new FrameBatcher();
        using var gate = FirstPassGate.On(batcher);
        var result = engine.CreateResult();
        var first = Task.Run(async () => await batcher.IntegrateAsync(engine, frames[0], result));
        gate.WaitForFirstPass();
        var failing = Enumerable.Range(1, 3).Select(k => batcher.IntegrateAsync(disposed, frames[k], disposed.CreateResult()).AsTask()).ToArray();
        gate.Release();
        await first.WaitAsync(Timeout);
        foreach (var task in failing)
        {
            await Assert.ThrowsAsync<ObjectDisposedException>(() => task.WaitAsync(Timeout));
        }

        var after = engine.CreateResult();
        await batcher.IntegrateAsync(engine, frames[1], after).AsTask().WaitAsync(Timeout);
        Assert.Equal(Single(engine, frames[1]).Intensity, after.Intensity);
    }

    /// <summary>
    /// Frames announced while they are read (<see cref="FrameBatcher.Expect"/>) are waited for: the first frame handed in
    /// does not run a pass of its own but one pass with the three announced after it, each with its single-frame numbers.
    /// </summary>
    [Fact]
    public async Task IntegrateAsync_AnnouncedFrames_ShareOnePassInsteadOfThePassRunningWithRoomLeft()
    {
        // A wait far beyond the test's own pace, so the pass sizes do not depend on how fast this thread runs.
        var batcher = new FrameBatcher { PassWait = Timeout };
        using var gate = FirstPassGate.On(batcher);
        gate.Release();
        var expected = Enumerable.Range(0, 4).Select(_ => batcher.Expect()).ToArray();
        var results = frames.Take(4).Select(_ => engine.CreateResult()).ToArray();
        var calls = new List<Task>();
        for (var k = 0; k < 4; k++)
        {
            calls.Add(batcher.IntegrateAsync(engine, frames[k], results[k], expected: expected[k]).AsTask());
            if (k < 3)
            {
                Assert.Empty(gate.Sizes);
                Assert.False(calls[0].IsCompleted, "the first frame waits for the frames announced after it");
            }
        }

        await Task.WhenAll(calls).WaitAsync(Timeout);
        Assert.Equal([4], gate.Sizes);
        for (var k = 0; k < 4; k++)
        {
            Assert.Equal(Single(engine, frames[k]).Intensity, results[k].Intensity);
            expected[k].Dispose();
        }
    }

    /// <summary>An announced frame whose read failed is withdrawn (its expectation disposed): the pass waiting for it runs.</summary>
    [Fact]
    public async Task IntegrateAsync_AnnouncedFrameWithdrawn_ThePassWaitingForItRuns()
    {
        var batcher = new FrameBatcher { PassWait = Timeout };
        using var gate = FirstPassGate.On(batcher);
        gate.Release();
        using var handedIn = batcher.Expect();
        var withdrawn = batcher.Expect();
        var result = engine.CreateResult();
        var call = batcher.IntegrateAsync(engine, frames[0], result, expected: handedIn).AsTask();
        Assert.False(call.IsCompleted, "the pass waits for the other announced frame");
        withdrawn.Dispose();
        await call.WaitAsync(Timeout);
        Assert.Equal([1], gate.Sizes);
        Assert.Equal(Single(engine, frames[0]).Intensity, result.Intensity);
    }

    /// <summary>Holds the batcher's first pass until the test releases it, so frames can queue behind it; records pass sizes.</summary>
    private sealed class FirstPassGate : IDisposable
    {
        private readonly ManualResetEventSlim started = new();
        private readonly ManualResetEventSlim released = new();
        private readonly List<int> sizes = [];

        public IReadOnlyList<int> Sizes
        {
            get
            {
                lock (sizes)
                {
                    return [.. sizes];
                }
            }
        }

        public static FirstPassGate On(FrameBatcher batcher)
        {
            var gate = new FirstPassGate();
            batcher.BeforePass = count =>
            {
                lock (gate.sizes)
                {
                    gate.sizes.Add(count);
                }

                if (!gate.started.IsSet)
                {
                    gate.started.Set();
                    Assert.True(gate.released.Wait(Timeout), "the test released the first pass");
                }
            };
            return gate;
        }

        public void WaitForFirstPass() => Assert.True(started.Wait(Timeout), "the first frame's pass started");

        public void Release() => released.Set();

        public void Dispose()
        {
            started.Dispose();
            released.Dispose();
        }
    }
}
