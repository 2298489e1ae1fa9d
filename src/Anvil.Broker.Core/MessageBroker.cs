using System.Collections.Concurrent;
using System.Globalization;
using Anvil.Broker.Core.Storage;

namespace Anvil.Broker.Core;

/// <summary>
/// The broker of docs/broker.md: streams of messages per (beamtime, data source), consumer groups
/// sharing read pointers, acknowledgements and redelivery. Each stream has one lock; reads that may wait
/// do so on that stream's change signal, so appends wake them at once (§4.2). This file holds construction, state,
/// disposal and the helpers every part shares; the partial files MessageBroker.Produce, .Consume, .Acknowledge,
/// .Listing, .Metadata, .Query and .Storage hold one responsibility each.
/// </summary>
public sealed partial class MessageBroker : IAsyncDisposable
{
    private const long TicksPerMs = TimeSpan.TicksPerMillisecond;
    private const int MaxWaiters = 10_000;

    private readonly ConcurrentDictionary<StreamKey, StreamState> streams = new();
    private readonly ConcurrentDictionary<SourceKey, SourceState> sources = new();
    private readonly TimeProvider time;
    private readonly BrokerMetrics metrics;
    private readonly BrokerStorage? storage;
    private readonly FsyncScheduler? fsync;
    private readonly Task? recovery;
    private volatile bool ready;
    private int waiters;

    /// <summary>
    /// Creates a broker. With <see cref="BrokerOptions.DataDir"/> set it is durable and replays the directory, here
    /// or, with <paramref name="recoverInBackground"/>, on a pool thread while every call gets UNAVAILABLE RECOVERING
    /// (§7; <see cref="Recovery"/> completes, or fails, with it). Without a data directory it keeps everything in memory.
    /// </summary>
    public MessageBroker(BrokerOptions options, TimeProvider? time = null, BrokerMetrics? metrics = null, bool recoverInBackground = false)
    {
        Options = options;
        this.time = time ?? TimeProvider.System;
        this.metrics = metrics ?? new BrokerMetrics();
        this.metrics.ObserveGroups(GroupGauges);
        if (options.DataDir is { Length: > 0 } dir)
        {
            storage = new BrokerStorage(dir);
            fsync = new FsyncScheduler(options.Fsync, options.FsyncInterval, this.metrics);
            if (recoverInBackground)
            {
                recovery = Task.Run(() =>
                {
                    Recover();
                    ready = true;
                });
                return;
            }

            Recover();
        }

        ready = true;
    }

    public BrokerOptions Options { get; }

    /// <summary>False while a durable broker recovers its data directory (gRPC health NOT_SERVING).</summary>
    public bool IsReady => ready;

    /// <summary>Completes when the data directory has been replayed; faults with the reason if it could not be.</summary>
    public Task Recovery => recovery ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (recovery is not null)
        {
            // Files are closed only once the replay that opens them has ended.
            await recovery.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        ready = false;
        if (fsync is not null)
        {
            await fsync.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var state in streams.Values)
        {
            lock (state.Gate)
            {
                state.CloseFiles();
            }
        }
    }

    private void CheckTimeout(TimeSpan timeout)
    {
        if (timeout > Options.MaxWait)
        {
            throw BrokerException.Invalid("timeout_ms",
                $"timeout_ms {timeout.TotalMilliseconds:0} exceeds the broker's max wait of {Options.MaxWait.TotalMilliseconds:0} ms; poll again instead.");
        }

        if (timeout < TimeSpan.Zero)
        {
            throw BrokerException.Invalid("timeout_ms", "timeout_ms must not be negative.");
        }
    }

    private StreamState State(StreamKey key)
    {
        var state = streams.GetOrAdd(key, NewState);
        return state.Unavailable is { } why
            ? throw new BrokerException(BrokerErrorCode.Unavailable, ErrorReasons.StorageUnavailable, $"{why} The stream cannot be served until an operator repairs or deletes it.")
            : state;
    }

    private Task<T> Inspect<T>(StreamAddress address, Func<StreamState, T> read, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var state = State(key);
        lock (state.Gate)
        {
            return Task.FromResult(read(state));
        }
    }

    private static Dictionary<string, string> Meta(params (string Key, ulong Value)[] items) =>
        items.ToDictionary(i => i.Key, i => Str(i.Value));

    private static string Str(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    private static IEnumerable<ulong> Range(ulong from, ulong to)
    {
        for (var id = from; id <= to && id != 0; id++)
        {
            yield return id;
        }
    }

    private static long ToNs(DateTimeOffset t) => (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    private static long FromNs(long ns) => (ns / 100) + DateTimeOffset.UnixEpoch.UtcTicks;
}
