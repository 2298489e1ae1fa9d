using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Anvil.Broker.Core.Storage;

/// <summary>
/// Group commit (§7): callers that wrote to a file ask for it to be synced; all requests that arrive while one
/// round of fsyncs runs share the next round. Under <see cref="FsyncPolicy.Interval"/> replies do not wait and a
/// timer syncs dirty files every interval.
/// </summary>
internal sealed class FsyncScheduler : IAsyncDisposable
{
    private readonly FsyncPolicy _policy;
    private readonly BrokerMetrics _metrics;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task? _intervalLoop;
    private HashSet<SafeFileHandle> _dirty = [];
    private TaskCompletionSource? _round;
    private bool _running;

    public FsyncScheduler(FsyncPolicy policy, TimeSpan interval, BrokerMetrics metrics)
    {
        _policy = policy;
        _metrics = metrics;
        if (policy == FsyncPolicy.Interval)
        {
            _intervalLoop = IntervalLoop(interval);
        }
    }

    /// <summary>Completes once <paramref name="handles"/> are on disk (always), or at once (interval).</summary>
    public Task SyncAsync(List<SafeFileHandle> handles)
    {
        lock (_gate)
        {
            foreach (var handle in handles)
            {
                _dirty.Add(handle);
            }

            if (_policy == FsyncPolicy.Interval)
            {
                return Task.CompletedTask;
            }

            _round ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_running)
            {
                _running = true;
                _ = Task.Run(RoundLoop);
            }

            return _round.Task;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_intervalLoop is not null)
        {
            await _intervalLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        FlushDirty();
        _stop.Dispose();
    }

    private void RoundLoop()
    {
        while (true)
        {
            TaskCompletionSource? round;
            lock (_gate)
            {
                round = _round;
                _round = null;
                if (round is null)
                {
                    _running = false;
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
        lock (_gate)
        {
            dirty = _dirty;
            _dirty = [];
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
            _metrics.Fsync(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private async Task IntervalLoop(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
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
