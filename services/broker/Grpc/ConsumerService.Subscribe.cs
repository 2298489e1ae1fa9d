using Anvil.Broker.Core;
using Grpc.Core;

namespace Anvil.Broker.Service.Grpc;

/// <summary>docs/broker.md §4.10: Subscribe pushes through the group pointer GetNext uses, under credit-based flow control.</summary>
public sealed partial class ConsumerService
{
    /// <summary>The wait per pull (and gap timeout) when the request sets none.</summary>
    public static readonly TimeSpan DefaultGapTimeout = TimeSpan.FromSeconds(1);

    public const uint MaxPrefetch = 10_000;

    // The most messages one pull takes from the core: bounds the time the stream's lock is held.
    private const int MaxPull = 256;

    public override async Task Subscribe(V1.SubscribeRequest request, IServerStreamWriter<V1.SubscribeItem> responseStream, ServerCallContext context)
    {
        if (request.Prefetch is < 1 or > MaxPrefetch)
        {
            throw new BrokerException(BrokerErrorCode.InvalidArgument, ErrorReasons.WrongInput,
                $"prefetch must be 1–{MaxPrefetch} (the most deliveries in flight without an ack); it was {request.Prefetch}.",
                new Dictionary<string, string> { ["field"] = "prefetch" }, "prefetch");
        }

        if (!request.Datasets && request.MinSize != 0)
        {
            throw new BrokerException(BrokerErrorCode.InvalidArgument, ErrorReasons.WrongInput,
                "min_size applies to dataset subscriptions only; set datasets = true or leave min_size at 0.",
                new Dictionary<string, string> { ["field"] = "min_size" }, "min_size");
        }

        var address = Mapping.Address(request.Address);
        // Marked as a Subscribe delivery: its call's end, a broker restart included, hands it back at once (§4.10).
        var policy = Mapping.Policy(request.Resend) is { } resend ? resend with { EndsWithCall = true } : null;
        var wait = request.GapTimeoutMs > 0 ? TimeSpan.FromMilliseconds(request.GapTimeoutMs) : DefaultGapTimeout;

        // A token expiring mid-call ends the call with UNAUTHENTICATED (§4.10).
        using var expiry = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var principal = BrokerAuth.PrincipalOf(context);
        if (principal is not null)
        {
            var left = principal.ExpiresAt + Anvil.Broker.Auth.BrokerTokens.Leeway - DateTimeOffset.UtcNow;
            if (left < TimeSpan.FromDays(30))
            {
                expiry.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }
        }

        var cancellationToken = expiry.Token;
        using var subscription = subscriptions.Add(Key(request.Address, request.Group), (int)request.Prefetch);
        var completed = false;

        // Look-ahead batching: a delivery is held until the next pull (without waiting) says whether more follow; then
        // it goes out buffered (more follow) or flushed (caught up). A backlog leaves in large HTTP/2 writes, a lone
        // message at once.
        V1.SubscribeItem? held = null;
        try
        {
            while (true)
            {
                if (held is not null && !subscription.TryAcquire())
                {
                    await responseStream.WriteAsync(held, cancellationToken);
                    held = null;
                }

                if (held is null)
                {
                    await subscription.AcquireAsync(cancellationToken);
                }

                // Messages are pulled as many at a time as the credit allows (one lock round and one journal write in
                // the core); datasets one at a time.
                var credits = 1;
                while (!request.Datasets && credits < MaxPull && subscription.TryAcquire())
                {
                    credits++;
                }

                var timeout = held is null ? wait : TimeSpan.Zero;
                V1.SubscribeItem item;
                BrokerException? after = null;
                try
                {
                    if (request.Datasets)
                    {
                        var dataset = await broker.GetNextDatasetAsync(address, request.Group, request.MinSize, timeout, request.IncludePayload, policy, cancellationToken);
                        item = new V1.SubscribeItem { Dataset = Mapping.ToProto(dataset) };
                        subscription.Delivered(dataset.Id);
                        BrokerTracing.Delivered(request.Address, request.Group, item.Dataset);
                    }
                    else
                    {
                        var batch = await broker.GetNextManyAsync(address, request.Group, credits, timeout, request.IncludePayload, policy, cancellationToken);
                        subscription.Return(credits - batch.Messages.Count);
                        credits = 0;

                        // The whole pull is in flight at once: if a write fails, the call's end hands all of it back.
                        foreach (var message in batch.Messages)
                        {
                            subscription.Delivered(message.Id);
                        }

                        for (var i = 0; i < batch.Messages.Count - 1; i++)
                        {
                            await WriteHeldAsync(responseStream, held, cancellationToken);
                            held = new V1.SubscribeItem { Message = Mapping.ToProto(batch.Messages[i]) };
                            BrokerTracing.Delivered(request.Address, request.Group, held.Message);
                        }

                        var last = batch.Messages[^1];
                        item = new V1.SubscribeItem { Message = Mapping.ToProto(last) };
                        BrokerTracing.Delivered(request.Address, request.Group, item.Message);
                        after = batch.Error;
                    }
                }
                catch (BrokerException ex) when (ex.Reason == ErrorReasons.EndOfStream)
                {
                    subscription.Return(credits);
                    if (held is not null)
                    {
                        await responseStream.WriteAsync(held, cancellationToken);
                        held = null;
                    }

                    continue;
                }
                catch (BrokerException ex) when (ex.Reason is ErrorReasons.NoData or ErrorReasons.PartialData)
                {
                    // A declared gap (§5): the pointer moved past it; the call goes on.
                    subscription.Return(credits);
                    await WriteHeldAsync(responseStream, held, cancellationToken);
                    held = null;
                    await responseStream.WriteAsync(new V1.SubscribeItem { Gap = Gap(ex) }, cancellationToken);
                    continue;
                }
                catch (BrokerException ex) when (ex.Reason == ErrorReasons.StreamFinished)
                {
                    subscription.Return(credits);
                    await WriteHeldAsync(responseStream, held, cancellationToken);
                    held = null;
                    await responseStream.WriteAsync(new V1.SubscribeItem
                    {
                        Finished = new V1.Finished
                        {
                            LastId = ulong.TryParse(ex.Metadata.GetValueOrDefault("last_id"), out var last) ? last : 0,
                            NextStream = ex.Metadata.GetValueOrDefault("next_stream") ?? string.Empty,
                        },
                    }, cancellationToken);
                    completed = true;
                    return;
                }

                await WriteHeldAsync(responseStream, held, cancellationToken);
                held = item;
                if (after is not null)
                {
                    // A stored record failed its check after the batch's first: deliver what was read, then report it.
                    await responseStream.WriteAsync(held, cancellationToken);
                    held = null;
                    throw after;
                }
            }
        }
        catch (OperationCanceledException) when (expiry.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new BrokerException(BrokerErrorCode.Unauthenticated, ErrorReasons.TokenExpired,
                "The token expired during the subscription; mint a new one and subscribe again.");
        }
        finally
        {
            if (!completed && policy is not null)
            {
                await ReleaseAsync(address, request.Group, subscription);
            }
        }
    }

    internal Subscriptions.Key Key(V1.Address? address, string group) => new(
        auth.ResolveBeamtime(address) ?? address?.Beamtime ?? string.Empty,
        address?.DataSource is { Length: > 0 } source ? source : "detector",
        address?.Stream is { Length: > 0 } stream ? stream : "default",
        group);

    private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);

    // Writes a held item without flushing: the write that follows it flushes both.
    private static async Task WriteHeldAsync(IServerStreamWriter<V1.SubscribeItem> stream, V1.SubscribeItem? held, CancellationToken cancellationToken)
    {
        if (held is null)
        {
            return;
        }

        stream.WriteOptions = Buffered;
        try
        {
            await stream.WriteAsync(held, cancellationToken);
        }
        finally
        {
            stream.WriteOptions = null;
        }
    }

    private static V1.Gap Gap(BrokerException ex)
    {
        var gap = new V1.Gap
        {
            Id = ulong.TryParse(ex.Metadata.GetValueOrDefault("id"), out var id) ? id : 0,
            Kind = ex.Reason,
        };
        if (ex.PartialDataset is { } partial)
        {
            gap.Parts.Add(partial.Parts.Select(Mapping.ToProto));
        }

        return gap;
    }

    // The call ended otherwise (cancel, disconnect, shutdown): under a resend policy its unsettled deliveries are due at
    // once for the rest of the group (a nack with no delay), instead of waiting out their resend deadline.
    private async Task ReleaseAsync(StreamAddress address, string group, Subscriptions.Subscription subscription)
    {
        foreach (var id in subscription.Outstanding.ToArray())
        {
            try
            {
                await broker.NegativeAcknowledgeAsync(address, group, id, 0, CancellationToken.None);
            }
            catch (BrokerException)
            {
                // Acked meanwhile, or the stream was deleted: nothing to hand back.
            }
        }
    }
}
