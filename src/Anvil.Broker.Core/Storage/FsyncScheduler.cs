using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core.Storage;

/// <summary>
/// Group commit (docs/broker.md §7): callers that wrote to a file ask for it to be synced; all requests that arrive while one
/// round of fsyncs runs share the next round. Under <see cref="FsyncPolicy.Interval"/> replies do not wait and a
/// timer syncs dirty files every interval.
/// </summary>
internal sealed class FsyncScheduler : IAsyncDisposable
{
    private readonly FsyncPolicy policy;
    private readonly BrokerMetrics metrics;
    private readonly Lock gate = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Task? intervalLoop;
    private HashSet<SafeFileHandle> dirty = [];
    private TaskCompletionSource? round;
    private bool running;

    public FsyncScheduler(FsyncPolicy policy, TimeSpan interval, BrokerMetrics metrics)
    {
        this.policy = policy;
        this.metrics = metrics;
        if (policy == FsyncPolicy.Interval)
        {
            intervalLoop = IntervalLoop(interval);
        }
    }

    /// <summary>Completes once <paramref name="handles"/> are on disk (always), or at once (interval).</summary>
    public Task SyncAsync(List<SafeFileHandle> handles)
    {
        lock (gate)
        {
            foreach (var handle in handles)
            {
                dirty.Add(handle);
            }

            if (policy == FsyncPolicy.Interval)
            {
                return Task.CompletedTask;
            }

            round ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!running)
            {
                running = true;
                _ = Task.Run(RoundLoop);
            }

            return round.Task;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        if (intervalLoop is not null)
        {
            await intervalLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        FlushDirty();
        stop.Dispose();
    }

    private void RoundLoop()
    {
        while (true)
        {
            TaskCompletionSource? round;
            lock (gate)
            {
                round = this.round;
                this.round = null;
                if (round is null)
                {
                    running = false;
                    return;
                }
            }

            try
            {
                FlushDirty();
                round.SetResult();
            }
            catch (IOException ex)
            {
                round.SetException(new BrokerException(BrokerErrorCode.Unavailable, ErrorReasons.StorageUnavailable,
                    $"The broker could not sync its storage ({ex.Message}); retry.", null));
            }
        }
    }

    private void FlushDirty()
    {
        HashSet<SafeFileHandle> dirty;
        lock (gate)
        {
            dirty = this.dirty;
            this.dirty = [];
        }

        var started = Stopwatch.GetTimestamp();
        foreach (var handle in dirty)
        {
            try
            {
                RandomAccess.FlushToDisk(handle);
            }
            catch (ObjectDisposedException)
            {
                // The file was closed by a stream deletion in the meantime: nothing left to sync.
            }
        }

        if (dirty.Count > 0)
        {
            metrics.Fsync(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private async Task IntervalLoop(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
            {
                try
                {
                    FlushDirty();
                }
                catch (IOException)
                {
                    // Retried on the next tick; replies under this policy never waited for it (§7).
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposal: the final flush follows in DisposeAsync.
        }
    }
}
