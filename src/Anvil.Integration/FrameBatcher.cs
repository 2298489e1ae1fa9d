namespace Anvil.Integration;

/// <summary>
/// Lets concurrent callers (a worker's consumers, one frame each) share passes over an engine's matrix: frames that
/// queue while the engine is busy go through together, up to <see cref="IntegrationEngine.FramesPerPass"/> per pass.
/// Nothing waits for a batch to fill: the first caller integrates at once, and whoever arrives meanwhile joins the next
/// pass. One caller at a time runs the passes (the leader); when its own frame is done it hands the queue to the next
/// waiting caller. A pass takes the oldest waiting frame's engine and that engine's frames in arrival order, so a frame
/// for another engine waits at most for that pass.
/// </summary>
public sealed class FrameBatcher
{
    private readonly Lock gate = new();
    private readonly List<Request> queue = [];
    private readonly ReadOnlyMemory<short>[] passFrames = new ReadOnlyMemory<short>[IntegrationEngine.FramesPerPass];
    private readonly IntegrationResult[] passResults = new IntegrationResult[IntegrationEngine.FramesPerPass];
    private readonly Request[] passRequests = new Request[IntegrationEngine.FramesPerPass];
    private bool leading;
    private long passes;
    private long frames;

    /// <summary>Passes run so far.</summary>
    public long Passes => Interlocked.Read(ref passes);

    /// <summary>Frames integrated so far (frames ÷ passes = the mean frames per pass).</summary>
    public long Frames => Interlocked.Read(ref frames);

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
    /// Integrates <paramref name="frame"/> with <paramref name="engine"/> into <paramref name="result"/>, in a pass
    /// with other callers' frames for the same engine (and the same dark and flat arrays) when they are queued. The
    /// numbers are those of <c>engine.Integrate(frame, result, dark, flat)</c>. The caller must not touch the frame,
    /// the images or the result until this completes; an exception from the engine is thrown to every caller of that pass.
    /// </summary>
    public async ValueTask IntegrateAsync(IntegrationEngine engine, ReadOnlyMemory<short> frame, IntegrationResult result,
        ReadOnlyMemory<float> dark = default, ReadOnlyMemory<float> flat = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(result);

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
            lead = !leading;
            leading = true;
        }

        if (!lead && await request.Turn.Task.ConfigureAwait(false) == Turn.Done)
        {
            request.ThrowIfFailed();
            return;
        }

        // This caller runs passes until its own frame is done, then hands over.
        RunPassesUntil(request);
        request.ThrowIfFailed();
    }

    private void RunPassesUntil(Request own)
    {
        while (!own.Finished)
        {
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
