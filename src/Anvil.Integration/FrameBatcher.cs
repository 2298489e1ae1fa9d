namespace Anvil.Integration;

/// <summary>
/// Lets concurrent callers (a worker's consumers, one frame each) share passes over an engine's matrix: frames that
/// queue while the engine is busy go through together, up to <see cref="IntegrationEngine.FramesPerPass"/> per pass.
/// A pass waits only for frames that are on their way: a caller that is reading a frame announces it with
/// <see cref="Expect"/>, and while announced frames have not arrived a pass with room left waits for them (at most
/// <see cref="MaxPassWait"/>), because a pass over the matrix costs nearly the same for one frame as for four (the
/// four-frame kernel computes its empty lanes too). Without announced frames the first caller integrates at once, and
/// whoever arrives meanwhile joins the next pass. One caller at a time runs the passes (the leader); when its own frame
/// is done it hands the queue to the next waiting caller. A pass takes the oldest waiting frame's engine and that
/// engine's frames in arrival order, so a frame for another engine waits at most for that pass.
/// </summary>
public sealed class FrameBatcher
{
    /// <summary>The longest a pass with room left waits for announced frames (a frame whose read stalls does not hold the others longer).</summary>
    public static readonly TimeSpan MaxPassWait = TimeSpan.FromMilliseconds(50);

    private readonly Lock gate = new();
    private readonly List<Request> queue = [];
    private readonly ReadOnlyMemory<short>[] passFrames = new ReadOnlyMemory<short>[IntegrationEngine.FramesPerPass];
    private readonly IntegrationResult[] passResults = new IntegrationResult[IntegrationEngine.FramesPerPass];
    private readonly Request[] passRequests = new Request[IntegrationEngine.FramesPerPass];
    private bool leading;
    private long passes;
    private long frames;
    private int expected;
    private TaskCompletionSource? arrival;

    /// <summary>Passes run so far.</summary>
    public long Passes => Interlocked.Read(ref passes);

    /// <summary>Frames integrated so far (frames ÷ passes = the mean frames per pass).</summary>
    public long Frames => Interlocked.Read(ref frames);

    /// <summary>Test hook: how long a pass waits for announced frames (<see cref="MaxPassWait"/>).</summary>
    internal TimeSpan PassWait { get; set; } = MaxPassWait;

    /// <summary>Test hook: runs before each pass with the number of frames it takes, outside the lock.</summary>
    internal Action<int>? BeforePass { get; set; }

    /// <summary>Frames waiting for a pass.</summary>
    internal int Queued
    {
        get
        {
            lock (gate)
            {
                return queue.Count;
            }
        }
    }

    /// <summary>
    /// Announces a frame its caller is reading and will hand to <see cref="IntegrateAsync"/> with the returned
    /// expectation; disposing the expectation without doing so (the read failed) withdraws it.
    /// </summary>
    public Expectation Expect()
    {
        lock (gate)
        {
            expected++;
        }

        return new Expectation(this);
    }

    /// <summary>
    /// Integrates <paramref name="frame"/> with <paramref name="engine"/> into <paramref name="result"/>, in a pass
    /// with other callers' frames for the same engine (and the same dark and flat arrays) when they are queued. The
    /// numbers are those of <c>engine.Integrate(frame, result, dark, flat)</c>. The caller must not touch the frame,
    /// the images or the result until this completes; an exception from the engine is thrown to every caller of that pass.
    /// <paramref name="expected"/>: the announcement of this frame (<see cref="Expect"/>), if it was announced.
    /// </summary>
    public async ValueTask IntegrateAsync(IntegrationEngine engine, ReadOnlyMemory<short> frame, IntegrationResult result,
        ReadOnlyMemory<float> dark = default, ReadOnlyMemory<float> flat = default, Expectation? expected = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(result);
        if (expected is not null && expected.Owner != this)
        {
            throw new ArgumentException("the expectation belongs to another batcher.", nameof(expected));
        }

        // Checked here, so a caller's wrong frame or result fails that caller alone, not everyone in its pass.
        if (frame.Length != engine.Rows * engine.Cols)
        {
            throw new ArgumentException($"frame has {frame.Length} pixels, the engine {engine.Rows}×{engine.Cols} = {engine.Rows * engine.Cols}.", nameof(frame));
        }

        if (result.Npt != engine.Settings.Npt)
        {
            throw new ArgumentException($"result has {result.Npt} bins, the engine {engine.Settings.Npt}.", nameof(result));
        }

        var request = new Request(engine, frame, result, dark, flat);
        bool lead;
        lock (gate)
        {
            queue.Add(request);
            if (expected?.Settle() == true)
            {
                this.expected--;
            }

            SignalLocked();
            lead = !leading;
            leading = true;
        }

        if (!lead && await request.Turn.Task.ConfigureAwait(false) == Turn.Done)
        {
            request.ThrowIfFailed();
            return;
        }

        // This caller runs passes until its own frame is done, then hands over.
        await RunPassesUntilAsync(request).ConfigureAwait(false);
        request.ThrowIfFailed();
    }

    private void Withdraw()
    {
        lock (gate)
        {
            expected--;
            SignalLocked();
        }
    }

    // Wakes a leader waiting for frames (one arrived, or an announced one was withdrawn).
    private void SignalLocked()
    {
        arrival?.TrySetResult();
        arrival = null;
    }

    // Returns once the oldest waiting frame's pass is full, no announced frame is still on its way, or MaxPassWait passed.
    private async ValueTask WaitForFramesAsync()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (true)
        {
            Task wait;
            lock (gate)
            {
                if (expected <= 0 || Sharing(queue[0]) >= passRequests.Length)
                {
                    return;
                }

                arrival ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = arrival.Task;
            }

            var left = PassWait - System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (left <= TimeSpan.Zero || await Task.WhenAny(wait, Task.Delay(left)).ConfigureAwait(false) != wait)
            {
                return;
            }
        }
    }

    private int Sharing(Request first)
    {
        var count = 0;
        foreach (var request in queue)
        {
            if (request.SharesPassWith(first))
            {
                count++;
            }
        }

        return count;
    }

    private async ValueTask RunPassesUntilAsync(Request own)
    {
        while (!own.Finished)
        {
            await WaitForFramesAsync().ConfigureAwait(false);
            int count;
            Request first;
            lock (gate)
            {
                // The oldest frame's engine and images; their frames in arrival order (others wait for a later pass).
                first = queue[0];
                count = 0;
                for (var i = 0; i < queue.Count && count < passRequests.Length;)
                {
                    if (queue[i].SharesPassWith(first))
                    {
                        passRequests[count++] = queue[i];
                        queue.RemoveAt(i);
                    }
                    else
                    {
                        i++;
                    }
                }
            }

            RunPass(first, count, own);
        }

        lock (gate)
        {
            if (queue.Count > 0)
            {
                queue[0].Turn.TrySetResult(Turn.Lead);
            }
            else
            {
                leading = false;
            }
        }
    }

    private void RunPass(Request first, int count, Request own)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        try
        {
            for (var k = 0; k < count; k++)
            {
                passFrames[k] = passRequests[k].Frame;
                passResults[k] = passRequests[k].Result;
            }

            BeforePass?.Invoke(count);
            first.Engine.Integrate<short>(passFrames.AsSpan(0, count), passResults.AsSpan(0, count), first.Dark.Span, first.Flat.Span);
            Interlocked.Increment(ref passes);
            Interlocked.Add(ref frames, count);
        }
        catch (Exception ex)
        {
            failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
        }

        for (var k = 0; k < count; k++)
        {
            var request = passRequests[k];
            passRequests[k] = null!;
            passFrames[k] = default;
            passResults[k] = null!;
            request.Failure = failure;
            request.Finished = true;
            if (request != own)
            {
                request.Turn.TrySetResult(Turn.Done);
            }
        }
    }

    /// <summary>A frame announced with <see cref="Expect"/>: hand it to <see cref="IntegrateAsync"/>, or dispose it to withdraw.</summary>
    public sealed class Expectation : IDisposable
    {
        private int settled;

        internal Expectation(FrameBatcher owner) => Owner = owner;

        internal FrameBatcher Owner { get; }

        /// <summary>Withdraws the announcement unless the frame was handed in.</summary>
        public void Dispose()
        {
            if (Settle())
            {
                Owner.Withdraw();
            }
        }

        // True the first time: the announcement is settled (handed in or withdrawn) exactly once.
        internal bool Settle() => Interlocked.Exchange(ref settled, 1) == 0;
    }

    private enum Turn
    {
        Done,
        Lead,
    }

    private sealed class Request(IntegrationEngine engine, ReadOnlyMemory<short> frame, IntegrationResult result, ReadOnlyMemory<float> dark, ReadOnlyMemory<float> flat)
    {
        public IntegrationEngine Engine { get; } = engine;
        public ReadOnlyMemory<short> Frame { get; } = frame;
        public IntegrationResult Result { get; } = result;
        public ReadOnlyMemory<float> Dark { get; } = dark;
        public ReadOnlyMemory<float> Flat { get; } = flat;

        public bool SharesPassWith(Request other) =>
            Engine == other.Engine && Dark.Equals(other.Dark) && Flat.Equals(other.Flat);

        /// <summary>Completed with Done when another caller's pass integrated the frame, or Lead to run the passes.</summary>
        public TaskCompletionSource<Turn> Turn { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Finished { get; set; }
        public System.Runtime.ExceptionServices.ExceptionDispatchInfo? Failure { get; set; }

        public void ThrowIfFailed() => Failure?.Throw();
    }
}
