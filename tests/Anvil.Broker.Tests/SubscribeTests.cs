using Anvil.Broker.V1;
using Anvil.Testing;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §4.10 and checklist item 27: Subscribe shares the group pointer with GetNext and never exceeds its credit.</summary>
public sealed class SubscribeTests(BrokerServerFixture fixture) : IClassFixture<BrokerServerFixture>
{
    private BrokerServer Server => fixture.Server;

    private static Address Stream(string stream) => new() { Beamtime = BrokerTestHelpers.Beamtime, Stream = stream };

    private async Task SendAsync(string stream, params ulong[] ids)
    {
        foreach (var id in ids)
        {
            await Server.Producer.SendAsync(new SendRequest { Address = Stream(stream), Id = id, Name = $"f{id}", Payload = ByteString.CopyFrom([(byte)id]) })
                .ResponseAsync.DefaultTimeout();
        }
    }

    private static async Task<SubscribeItem> NextAsync(AsyncServerStreamingCall<SubscribeItem> call)
    {
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout(), "the subscription ended early");
        return call.ResponseStream.Current;
    }

    [Fact]
    public async Task Subscribe_PrefetchThree_HoldsThreeUntilAckAndNeverSharesWithGetNext()
    {
        await SendAsync("sub-credit", 1, 2, 3, 4, 5, 6);
        using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("sub-credit"), Group = "g", Prefetch = 3 });
        var first = new[] { (await NextAsync(call)).Message.Id, (await NextAsync(call)).Message.Id, (await NextAsync(call)).Message.Id };
        Assert.Equal([1UL, 2, 3], first);

        // Out of credit, the subscription takes nothing more: a GetNext of the same group gets id 4 at once.
        var four = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("sub-credit"), Group = "g" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(4UL, four.Id);

        // One ack returns one unit of credit: exactly one more delivery (5), then the GetNext again gets 6.
        await Server.Consumer.AcknowledgeAsync(new AckRequest { Address = Stream("sub-credit"), Group = "g", Id = 2 }).ResponseAsync.DefaultTimeout();
        Assert.Equal(5UL, (await NextAsync(call)).Message.Id);
        var six = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("sub-credit"), Group = "g" }).ResponseAsync.DefaultTimeout();
        Assert.Equal(6UL, six.Id);
    }

    [Fact]
    public async Task Subscribe_FinishedStream_DeliversAllThenFinishedAndCompletesOk()
    {
        await SendAsync("sub-fin", 1, 2);
        await Server.Producer.FinishStreamAsync(new FinishStreamRequest { Address = Stream("sub-fin"), LastId = 2, NextStream = "next" }).ResponseAsync.DefaultTimeout();
        using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("sub-fin"), Group = "g", Prefetch = 10, IncludePayload = true });
        var one = (await NextAsync(call)).Message;
        Assert.Equal(1UL, one.Id);
        Assert.Equal(new byte[] { 1 }, one.Payload.ToByteArray());
        Assert.Equal(2UL, (await NextAsync(call)).Message.Id);
        var finished = (await NextAsync(call)).Finished;
        Assert.Equal((2UL, "next"), (finished.LastId, finished.NextStream));
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout());
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Subscribe_MissingId_GapItemThenTheCallGoesOn()
    {
        await SendAsync("sub-gap", 1, 3);
        await Server.Producer.FinishStreamAsync(new FinishStreamRequest { Address = Stream("sub-gap"), LastId = 3 }).ResponseAsync.DefaultTimeout();
        using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("sub-gap"), Group = "g", Prefetch = 10, GapTimeoutMs = 1500 });
        Assert.Equal(1UL, (await NextAsync(call)).Message.Id);
        var gap = (await NextAsync(call)).Gap;
        Assert.Equal((2UL, "NO_DATA"), (gap.Id, gap.Kind));
        Assert.Equal(3UL, (await NextAsync(call)).Message.Id);
        Assert.Equal(3UL, (await NextAsync(call)).Finished.LastId);
    }

    [Fact]
    public async Task Subscribe_CancelledUnderResendPolicy_UnackedDeliveriesDueAtOnce()
    {
        await SendAsync("sub-cancel", 1, 2);
        var resend = new ResendPolicy { DelayMs = 600_000, MaxAttempts = 0 };
        using (var cts = new CancellationTokenSource())
        {
            using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("sub-cancel"), Group = "g", Prefetch = 2, Resend = resend },
                cancellationToken: cts.Token);
            Assert.Equal(1UL, (await NextAsync(call)).Message.Id);
            Assert.Equal(2UL, (await NextAsync(call)).Message.Id);
            await Server.Consumer.AcknowledgeAsync(new AckRequest { Address = Stream("sub-cancel"), Group = "g", Id = 2 }).ResponseAsync.DefaultTimeout();
            await cts.CancelAsync();
        }

        // Id 1 comes back long before its 10-minute resend deadline; id 2 (acked) does not.
        var again = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("sub-cancel"), Group = "g", TimeoutMs = 10_000, Resend = resend })
            .ResponseAsync.DefaultTimeout();
        Assert.Equal(1UL, again.Id);
        Assert.True(again.DeliveryCount >= 2, $"delivery count {again.DeliveryCount}");
        var ex = await Assert.ThrowsAsync<RpcException>(() => Server.Consumer.GetNextAsync(
            new GetNextRequest { Address = Stream("sub-cancel"), Group = "g", Resend = resend }).ResponseAsync.DefaultTimeout());
        Assert.Equal("END_OF_STREAM", ex.GetRpcStatus()!.GetDetail<ErrorInfo>()!.Reason);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(10_001u)]
    public async Task Subscribe_PrefetchOutOfRange_InvalidArgumentNamingPrefetch(uint prefetch)
    {
        using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("sub-bad"), Group = "g", Prefetch = prefetch });
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("prefetch", Assert.Single(ex.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations).Field);
    }

    [Fact]
    public async Task Subscribe_FourSubscribersOneGroup_EachIdOnce()
    {
        const int Count = 400;
        using (var batch = Server.Producer.SendBatch())
        {
            for (ulong id = 1; id <= Count; id++)
            {
                await batch.RequestStream.WriteAsync(new SendRequest { Address = Stream("sub-four"), Id = id, Name = $"f{id}" }).DefaultTimeout();
            }

            await batch.RequestStream.CompleteAsync().DefaultTimeout();
            await batch.ResponseAsync.DefaultTimeout();
        }

        await Server.Producer.FinishStreamAsync(new FinishStreamRequest { Address = Stream("sub-four"), LastId = Count }).ResponseAsync.DefaultTimeout();
        var received = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            var ids = new List<ulong>();
            using var call = Server.Consumer.Subscribe(new SubscribeRequest { Address = Stream("sub-four"), Group = "g", Prefetch = 16 });
            while (true)
            {
                var item = await NextAsync(call);
                if (item.ItemCase == SubscribeItem.ItemOneofCase.Finished)
                {
                    return ids;
                }

                ids.Add(item.Message.Id);
                await Server.Consumer.AcknowledgeAsync(new AckRequest { Address = Stream("sub-four"), Group = "g", Id = item.Message.Id }).ResponseAsync.DefaultTimeout();
            }
        }));
        var all = received.SelectMany(r => r).ToList();
        Assert.Equal(Count, all.Count);
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (ulong)i), all.Order());
    }
}
