using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Anvil.Workers;

/// <summary>
/// The loop every stage of the chain runs. Each instance follows its pool's control stream (the live chain's
/// acquisitions, or the reprocessings: <see cref="PipelineOptions.Pool"/>) in a group of its own
/// (so every replica hears of every acquisition), then consumes the acquisition's stream in the stage's
/// shared group (so replicas share the frames, each id once), under a resend policy: a delivery that is
/// not acknowledged — the worker crashed — goes to another consumer after <see cref="PipelineOptions.ResendDelay"/>,
/// and the finish flag is withheld until every delivery is acknowledged. A handler acknowledges only after
/// its output is durably sent, so a crash anywhere loses nothing and a redelivery re-sends identical duplicates.
/// A stage that honours the operator's pause (<see cref="IsPausedAsync"/>: stitch) reads nothing of a paused acquisition.
/// Integrate and merge read through the broker's Subscribe stream (one per acquisition and process, credit-based) and
/// acknowledge in AcknowledgeMany batches (<see cref="Subscribes"/>): two unary calls per frame cost more broker CPU
/// than the frame's science (bench/FINDINGS-pipeline.md). Their sources (frames, profiles) hold one message per id, so
/// they subscribe to messages, which the broker pulls as many at a time as the credit allows (one lock round and one
/// group-journal write per pull, where a dataset subscription pulls one at a time), and each is handed on as a
/// one-part dataset.
/// </summary>
public abstract partial class AcquisitionWorker : BackgroundService
{
    private const uint WaitMs = 2000;
    private readonly ConcurrentDictionary<string, Task> running = new(StringComparer.Ordinal);
    private readonly string instanceGroup;

    protected AcquisitionWorker(BrokerClient broker, PipelineOptions options, ILogger logger)
    {
        Broker = broker;
        Options = options;
        Logger = logger;
        instanceGroup = $"{Stage}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40];
    }

    /// <summary>The stage name; also the shared consumer group.</summary>
    public abstract string Stage { get; }

    /// <summary>The data source this stage consumes (raw, frames or profiles).</summary>
    protected abstract string Source { get; }

    /// <summary>Concurrent consumers per acquisition in this process.</summary>
    protected virtual int Concurrency => 1;

    /// <summary>
    /// Whether this stage reads an acquisition through one Subscribe stream (the broker pushes, credit-based) and
    /// acknowledges in AcknowledgeMany batches; false: unary long-poll reads and one ack per delivery, which a stage
    /// that honours the operator's pause needs (it checks the pause before each read). A subscribing stage's source must
    /// hold one message per id (as frames and profiles do): it subscribes to messages.
    /// </summary>
    protected virtual bool Subscribes => true;

    /// <summary>Deliveries the broker may push ahead of the handlers (the Subscribe credit): enough to keep every handler busy while acks travel.</summary>
    protected int Prefetch => Math.Max(2, 2 * Concurrency);

    private const int MaxAcksPerCall = 10_000;

    protected BrokerClient Broker { get; }

    protected PipelineOptions Options { get; }

    protected ILogger Logger { get; }

    /// <summary>The worker pool this instance belongs to (<see cref="PipelineOptions.Pool"/>).</summary>
    public string Pool => Options.Pool;

    /// <summary>Acquisitions currently being consumed by this instance.</summary>
    public int ActiveAcquisitions => running.Count(r => !r.Value.IsCompleted);

    /// <summary>Acquisitions this instance holds, unconsumed, because they are paused.</summary>
    public IReadOnlyCollection<string> Paused => held.Keys.Order(StringComparer.Ordinal).ToArray();

    private readonly ConcurrentDictionary<string, byte> held = new(StringComparer.Ordinal);

    /// <summary>Acquisitions this instance could not start or finish, each with why; each is started again until it succeeds.</summary>
    public IReadOnlyDictionary<string, string> Failing => new SortedDictionary<string, string>(failing, StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, string> failing = new(StringComparer.Ordinal);

    /// <summary>The pause before a failed acquisition is started again; it doubles each time, up to <see cref="RetryLongestDelay"/>.</summary>
    protected virtual TimeSpan RetryFirstDelay => TimeSpan.FromSeconds(2);

    protected virtual TimeSpan RetryLongestDelay => TimeSpan.FromSeconds(30);

    /// <summary>Deliveries handled by this instance.</summary>
    public long Handled => Interlocked.Read(ref handled);

    private long handled;

    /// <summary>Handles one delivery; returning normally acknowledges it.</summary>
    protected abstract Task HandleAsync(string acquisition, Dataset delivery, CancellationToken cancellationToken);

    /// <summary>Called once per finished acquisition, after every id up to <paramref name="lastId"/> was acknowledged.</summary>
    protected abstract Task OnFinishedAsync(string acquisition, ulong lastId, CancellationToken cancellationToken);

    /// <summary>Called before an acquisition is consumed; return false to skip it.</summary>
    protected virtual Task<bool> OnStartAsync(string acquisition, CancellationToken cancellationToken) => Task.FromResult(true);

    /// <summary>
    /// True while the acquisition must not be consumed (the operator paused it, <see cref="PauseStore"/>): checked before
    /// each read and after each delivery, which goes back to the group unhandled when the pause came meanwhile.
    /// </summary>
    protected virtual Task<bool> IsPausedAsync(string acquisition, CancellationToken cancellationToken) => Task.FromResult(false);

    /// <summary>How soon a paused acquisition is first checked again for a resume (then up to 4 times less often).</summary>
    protected virtual TimeSpan PauseCheckInterval => TimeSpan.FromMilliseconds(250);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The live pool follows the live chain's acquisitions, the reprocess pool only the reprocessings (Pipeline:Pool).
        var control = Broker.Address(PipelineStreams.Control, PipelineStreams.AcquisitionsOf(Options.Pool));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var next = await Broker.GetNextAsync(new GetNextRequest { Address = control, Group = instanceGroup, TimeoutMs = WaitMs }, stoppingToken);
                if (next is { Outcome: ReadOutcome.Delivered, Value: { } message })
                {
                    var acquisition = message.Name;
                    _ = running.GetOrAdd(acquisition, a => Task.Run(() => RunAcquisitionAsync(a, stoppingToken), stoppingToken));
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (RpcException ex)
            {
                Log.BrokerUnavailable(Logger, Stage, ex.Status.Detail);
                await Task.Delay(500, stoppingToken);
            }
        }

        await Task.WhenAll(running.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // An acquisition whose start or finish fails (merge cannot write its result: a full disk, say) is started again
    // after a pause that grows from RetryFirstDelay to RetryLongestDelay, until it succeeds: what it consumed stays in the
    // broker, so nothing is lost, and while it waits it is listed in Failing (WorkerStatus, health).
    private async Task RunAcquisitionAsync(string acquisition, CancellationToken stoppingToken)
    {
        var delay = RetryFirstDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (await OnStartAsync(acquisition, stoppingToken))
                {
                    var last = Subscribes
                        ? await SubscribeAsync(acquisition, stoppingToken)
                        : (await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => ConsumeAsync(acquisition, stoppingToken)))).Max();
                    await OnFinishedAsync(acquisition, last, stoppingToken);
                    Log.AcquisitionFinished(Logger, Stage, acquisition, last);
                }

                failing.TryRemove(acquisition, out _);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                failing[acquisition] = $"{ex.Message} (attempt {attempt}; next in {delay.TotalSeconds:0} s)";
                PipelineTelemetry.CountError(Stage, "acquisition");
                Log.AcquisitionFailed(Logger, ex, Stage, acquisition, attempt, delay.TotalSeconds);
            }

            try
            {
                await Task.Delay(delay, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, RetryLongestDelay.Ticks));
        }
    }

    // Consumes until the stream is finished; returns its last id.
    private async Task<ulong> ConsumeAsync(string acquisition, CancellationToken stoppingToken)
    {
        var address = Broker.Address(Source, acquisition);
        var request = new GetNextDatasetRequest
        {
            Address = address,
            Group = Stage,
            TimeoutMs = WaitMs,
            IncludePayload = true,
            Resend = new ResendPolicy { DelayMs = (uint)Options.ResendDelay.TotalMilliseconds, MaxAttempts = 3 },
        };
        var pausedFor = PauseCheckInterval;
        while (true)
        {
            ReadResult<Dataset> next;
            try
            {
                if (await IsPausedAsync(acquisition, stoppingToken))
                {
                    // Checked again soon, then less often (at most every 4 intervals): a long pause of many acquisitions
                    // costs the broker little, a resume takes effect within a second.
                    held.TryAdd(acquisition, 0);
                    await Task.Delay(pausedFor, stoppingToken);
                    pausedFor = TimeSpan.FromTicks(Math.Min(pausedFor.Ticks * 2, PauseCheckInterval.Ticks * 4));
                    continue;
                }

                held.TryRemove(acquisition, out _);
                pausedFor = PauseCheckInterval;

                next = await Broker.GetNextDatasetAsync(request, stoppingToken);

                // Paused while the read waited: the delivery goes back to the group, unhandled, for after the resume.
                if (next is { Outcome: ReadOutcome.Delivered, Value: { } early } && await IsPausedAsync(acquisition, stoppingToken))
                {
                    await Broker.Consumer.NegativeAcknowledgeAsync(new NackRequest { Address = address, Group = Stage, Id = early.Id, DelayMs = 0 },
                        Broker.Headers, cancellationToken: stoppingToken);
                    Log.ReturnedPaused(Logger, Stage, acquisition, early.Id);
                    continue;
                }
            }
            catch (RpcException ex) when (BrokerClient.IsTransient(ex))
            {
                Log.BrokerUnavailable(Logger, Stage, ex.Status.Detail);
                await Task.Delay(500, stoppingToken);
                continue;
            }

            switch (next.Outcome)
            {
                case ReadOutcome.Finished:
                    return next.LastId;
                case ReadOutcome.Gap:
                    Log.Gap(Logger, Stage, acquisition, next.GapId, next.Reason);
                    PipelineTelemetry.CountGap(Stage);
                    continue;
                case ReadOutcome.EndOfStream:
                    continue;
            }

            var delivery = next.Value!;
            if (await HandleDeliveryAsync(acquisition, address, delivery, stoppingToken))
            {
                await Broker.AcknowledgeAsync(address, Stage, delivery.Id, stoppingToken);
                Interlocked.Increment(ref handled);
            }
        }
    }

    // Consumes the acquisition through one Subscribe stream: the broker pushes up to Prefetch datasets ahead (credit that
    // acks return), Concurrency handlers take them, and one loop acknowledges what they finished in AcknowledgeMany
    // batches (whatever finished while the previous batch was on its way). Returns the last id once the broker reports
    // the stream finished, which it does only after every delivery is acknowledged.
    private async Task<ulong> SubscribeAsync(string acquisition, CancellationToken stoppingToken)
    {
        var address = Broker.Address(Source, acquisition);
        var deliveries = Channel.CreateBounded<Dataset>(new BoundedChannelOptions(Prefetch) { SingleWriter = true });
        var acks = Channel.CreateUnbounded<ulong>(new UnboundedChannelOptions { SingleReader = true });
        var handlers = Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            await foreach (var delivery in deliveries.Reader.ReadAllAsync(stoppingToken))
            {
                if (await HandleDeliveryAsync(acquisition, address, delivery, stoppingToken))
                {
                    acks.Writer.TryWrite(delivery.Id);
                }
            }
        }, stoppingToken)).ToArray();
        var acknowledging = Task.Run(() => AcknowledgeAsync(address, acks.Reader, stoppingToken), stoppingToken);
        try
        {
            return await ReadSubscriptionAsync(acquisition, address, deliveries.Writer, stoppingToken);
        }
        finally
        {
            deliveries.Writer.TryComplete();
            await Task.WhenAll(handlers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            acks.Writer.TryComplete();
            await acknowledging.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task<ulong> ReadSubscriptionAsync(string acquisition, Address address, ChannelWriter<Dataset> deliveries, CancellationToken stoppingToken)
    {
        var request = new SubscribeRequest
        {
            Address = address,
            Group = Stage,
            Prefetch = (uint)Prefetch,
            Datasets = false,
            IncludePayload = true,
            GapTimeoutMs = WaitMs,
            Resend = new ResendPolicy { DelayMs = (uint)Options.ResendDelay.TotalMilliseconds, MaxAttempts = 3 },
        };
        while (true)
        {
            try
            {
                using var call = Broker.Consumer.Subscribe(request, Broker.Headers, cancellationToken: stoppingToken);
                await foreach (var item in call.ResponseStream.ReadAllAsync(stoppingToken))
                {
                    switch (item.ItemCase)
                    {
                        case SubscribeItem.ItemOneofCase.Message:
                            var message = item.Message;
                            await deliveries.WriteAsync(new Dataset
                            {
                                Id = message.Id,
                                ExpectedSize = 1,
                                Parts = { message },
                                DeliveryCount = message.DeliveryCount,
                                RedeliveryReason = message.RedeliveryReason,
                            }, stoppingToken);
                            break;
                        case SubscribeItem.ItemOneofCase.Dataset:
                            await deliveries.WriteAsync(item.Dataset, stoppingToken);
                            break;
                        case SubscribeItem.ItemOneofCase.Gap:
                            Log.Gap(Logger, Stage, acquisition, item.Gap.Id, item.Gap.Kind);
                            PipelineTelemetry.CountGap(Stage);
                            break;
                        case SubscribeItem.ItemOneofCase.Finished:
                            return item.Finished.LastId;
                    }
                }

                // The call ended without the finish (the broker shut down cleanly): subscribe again.
            }
            catch (RpcException ex) when (BrokerClient.IsTransient(ex) || ex.StatusCode == StatusCode.Internal)
            {
                // The broker went away or restarted mid-stream: what was delivered and not acknowledged is delivered again.
                Log.BrokerUnavailable(Logger, Stage, ex.Status.Detail);
                await Task.Delay(500, stoppingToken);
            }
        }
    }

    // Acknowledges finished deliveries in batches: one AcknowledgeMany for whatever finished while the last was sent.
    private async Task AcknowledgeAsync(Address address, ChannelReader<ulong> finished, CancellationToken stoppingToken)
    {
        var ids = new List<ulong>();
        while (await finished.WaitToReadAsync(stoppingToken))
        {
            while (ids.Count < MaxAcksPerCall && finished.TryRead(out var id))
            {
                ids.Add(id);
            }

            var acknowledged = false;
            while (!acknowledged)
            {
                try
                {
                    await Broker.AcknowledgeManyAsync(address, Stage, ids, stoppingToken);
                    acknowledged = true;
                }
                catch (RpcException ex) when (BrokerClient.IsTransient(ex))
                {
                    Log.BrokerUnavailable(Logger, Stage, ex.Status.Detail);
                    await Task.Delay(500, stoppingToken);
                }
                catch (RpcException ex)
                {
                    // Refused (the stream was deleted, a token lost its rights): the ids stay unacknowledged and the resend
                    // policy delivers them again; later acks still go out.
                    Log.AcknowledgeFailed(Logger, ex, Stage, address.Stream, ids.Count);
                    break;
                }
            }

            if (acknowledged)
            {
                Interlocked.Add(ref handled, ids.Count);
            }

            ids.Clear();
        }
    }

    // Handles one delivery under its consumer span; true when it may be acknowledged (a handler that throws leaves it
    // unacknowledged, so the resend policy delivers it again, at most MaxAttempts times).
    private async Task<bool> HandleDeliveryAsync(string acquisition, Address address, Dataset delivery, CancellationToken stoppingToken)
    {
        var started = Stopwatch.GetTimestamp();
        PipelineTelemetry.CountReceived(Stage, (int)delivery.DeliveryCount);
        using (var activity = StartReceive(delivery, address))
        {
            activity?.SetTag(PipelineTelemetry.Acquisition, acquisition);
            activity?.SetTag(PipelineTelemetry.Stage, Stage);
            try
            {
                await HandleAsync(acquisition, delivery, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                PipelineTelemetry.RecordError(activity, ex.Message, ex);
                PipelineTelemetry.CountError(Stage, "handler");
                Log.HandlerFailed(Logger, ex, Stage, acquisition, delivery.Id);
                return false;
            }
        }

        PipelineTelemetry.RecordDuration(Stage, Stopwatch.GetElapsedTime(started));
        return true;
    }

    // The consumer span of a delivery: child of the first part's producer context; a dataset's other parts (the other
    // detector modules of a chunk, each announced in its own trace) are linked.
    private Activity? StartReceive(Dataset delivery, Address address)
    {
        if (delivery.Parts.Count == 0)
        {
            return null;
        }

        List<ActivityLink>? links = null;
        for (var i = 1; i < delivery.Parts.Count; i++)
        {
            var context = BrokerTelemetry.Extract(delivery.Parts[i].Headers);
            if (context != default)
            {
                (links ??= []).Add(new ActivityLink(context));
            }
        }

        return BrokerTelemetry.StartReceive(delivery.Parts[0], address, Stage, Broker.Options.Beamtime, links);
    }

    private static partial class Log
    {
        [LoggerMessage(1001, LogLevel.Warning, "{Stage}: broker unavailable ({Detail}); retrying")]
        public static partial void BrokerUnavailable(ILogger logger, string stage, string detail);

        [LoggerMessage(1002, LogLevel.Information, "{Stage}: acquisition {Acquisition} finished after id {LastId}")]
        public static partial void AcquisitionFinished(ILogger logger, string stage, string acquisition, ulong lastId);

        [LoggerMessage(1003, LogLevel.Error, "{Stage}: acquisition {Acquisition} failed (attempt {Attempt}); starting it again in {Seconds:0} s")]
        public static partial void AcquisitionFailed(ILogger logger, Exception exception, string stage, string acquisition, int attempt, double seconds);

        [LoggerMessage(1004, LogLevel.Warning, "{Stage}: acquisition {Acquisition} has a gap at id {Id} ({Reason})")]
        public static partial void Gap(ILogger logger, string stage, string acquisition, ulong id, string reason);

        [LoggerMessage(1006, LogLevel.Information, "{Stage}: acquisition {Acquisition} is paused; id {Id} returned to the group for after the resume")]
        public static partial void ReturnedPaused(ILogger logger, string stage, string acquisition, ulong id);

        [LoggerMessage(1007, LogLevel.Error, "{Stage}: acknowledging {Count} deliveries of {Acquisition} failed; they will be delivered again")]
        public static partial void AcknowledgeFailed(ILogger logger, Exception exception, string stage, string acquisition, int count);

        [LoggerMessage(1005, LogLevel.Error, "{Stage}: acquisition {Acquisition} id {Id} failed; left for redelivery")]
        public static partial void HandlerFailed(ILogger logger, Exception exception, string stage, string acquisition, ulong id);
    }
}
