using System.Collections.Concurrent;
using Anvil.Broker.V1;
using Anvil.Testing;
using Google.Protobuf;
using Grpc.Core;

namespace Anvil.Broker.Tests;

/// <summary>
/// Checklist items 28 and 29: the broker service as a separate process, killed with SIGKILL in the middle of a send
/// batch and restarted on the same data directory.
/// </summary>
public sealed class KillTests : IDisposable
{
    private const string Batched = "kill-batched";
    private const string Unary = "kill-unary";
    // Long enough that nothing is redelivered before the kill, short enough to come due soon after the restart.
    private static readonly ResendPolicy Resend = new() { DelayMs = 8000, MaxAttempts = 0 };
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData("always")]
    [InlineData("interval")]
    public async Task Kill9_AmidSendBatch_AcknowledgedSendsReadableAndGroupsResume(string fsync)
    {
        var acknowledged = new ConcurrentDictionary<(string Stream, ulong Id), bool>();
        var acked = new HashSet<ulong>();
        var delivered = new List<ulong>();

        await using (var broker = await BrokerProcess.StartAsync(dir.Path, fsync))
        {
            // Before the kill: 300 ids stored; group "g" takes 1..200 under a resend policy and acks 1..150;
            // group "h" reads 1..100 at-most-once.
            await SendBatch(broker, Batched, 1, 300, acknowledged, complete: true);
            for (var i = 0; i < 200; i++)
            {
                delivered.Add((await broker.Consumer.GetNextAsync(Next("g", Resend)).ResponseAsync.DefaultTimeout()).Id);
            }

            Assert.Equal(Enumerable.Range(1, 200).Select(i => (ulong)i), delivered);
            for (ulong id = 1; id <= 150; id++)
            {
                await broker.Consumer.AcknowledgeAsync(new AckRequest { Address = Address(Batched), Group = "g", Id = id }).ResponseAsync.DefaultTimeout();
                acked.Add(id);
            }

            for (var i = 0; i < 100; i++)
            {
                await broker.Consumer.GetNextAsync(Next("h", null)).ResponseAsync.DefaultTimeout();
            }

            // Unary sends on a second stream run all along; the batch below is killed half-written.
            using var stop = new CancellationTokenSource();
            var unary = Task.Run(async () =>
            {
                for (ulong id = 1; !stop.IsCancellationRequested; id++)
                {
                    try
                    {
                        var reply = await broker.Producer.SendAsync(Request(Unary, id)).ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30));
                        acknowledged[(Unary, reply.Id)] = true;
                    }
                    catch (RpcException)
                    {
                        return;
                    }
                }
            });
            await TaskTimeoutExtensions.Until("unary sends are acknowledged", () => acknowledged.Keys.Count(k => k.Stream == Unary) >= 50);
            await SendBatch(broker, Batched, 301, 600, acknowledged, complete: true);
            await SendBatch(broker, Batched, 601, 1200, acknowledged, complete: false);
            await TaskTimeoutExtensions.Until("part of the open batch is stored", () =>
                broker.Consumer.GetCurrentSize(new CurrentSizeRequest { Address = Address(Batched) }).Size > 620);
            await broker.KillAsync();
            await stop.CancelAsync();
            await unary.DefaultTimeout();
        }

        await using (var broker = await BrokerProcess.StartAsync(dir.Path, fsync))
        {
            // Every send acknowledged to a producer is readable with identical content, and every stored record is intact.
            Assert.Equal(600, acknowledged.Keys.Count(k => k.Stream == Batched));
            foreach (var stream in new[] { Batched, Unary })
            {
                var info = await broker.Consumer.GetStreamInfoAsync(new StreamInfoRequest { Address = Address(stream) }).ResponseAsync.DefaultTimeout();
                var highest = acknowledged.Keys.Where(k => k.Stream == stream).Max(k => k.Id);
                Assert.True(info.LastId >= highest, $"{stream}: last id {info.LastId} below the acknowledged {highest}");
                for (ulong id = 1; id <= info.LastId; id++)
                {
                    var record = await broker.Consumer.GetByIdAsync(new GetByIdRequest { Address = Address(stream), Id = id, IncludePayload = true })
                        .ResponseAsync.DefaultTimeout();
                    var expected = Request(stream, id);
                    Assert.Equal((expected.Name, expected.Meta, expected.Payload), (record.Name, record.Meta, record.Payload));
                }
            }

            // Group "g" resumes after 200: its unacked 151..200 come back as resends, nothing acked comes again.
            var after = new List<MessageRecord>();
            var last = (await broker.Consumer.GetStreamInfoAsync(new StreamInfoRequest { Address = Address(Batched) }).ResponseAsync.DefaultTimeout()).LastId;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (after.Count(m => m.RedeliveryReason == RedeliveryReason.None) < (int)(last - 200) || after.Count(m => m.Id <= 200) < 50)
            {
                Assert.True(DateTime.UtcNow < deadline, $"group g got {after.Count} messages after the restart, not all it should");
                MessageRecord m;
                try
                {
                    m = await broker.Consumer.GetNextAsync(Next("g", Resend, timeoutMs: 5000)).ResponseAsync.DefaultTimeout();
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
                {
                    continue; // END_OF_STREAM: the resend deadlines of 151..200 are not reached yet
                }

                Assert.DoesNotContain(m.Id, acked);
                after.Add(m);
                await broker.Consumer.AcknowledgeAsync(new AckRequest { Address = Address(Batched), Group = "g", Id = m.Id }).ResponseAsync.DefaultTimeout();
                acked.Add(m.Id);
            }

            Assert.Equal(Enumerable.Range(151, 50).Select(i => (ulong)i), after.Where(m => m.Id <= 200).Select(m => m.Id).Order());
            Assert.All(after.Where(m => m.Id <= 200), m => Assert.Equal(RedeliveryReason.Resend, m.RedeliveryReason));
            Assert.Equal(Enumerable.Range(201, (int)last - 200).Select(i => (ulong)i), after.Where(m => m.Id > 200).Select(m => m.Id));

            // Group "h" resumes at 101.
            Assert.Equal(101UL, (await broker.Consumer.GetNextAsync(Next("h", null)).ResponseAsync.DefaultTimeout()).Id);
        }
    }

    [Fact]
    public async Task Kill9_WithSubscribeDeliveriesInFlight_TheyAreDueAtOnceAfterTheRestart_GetNextOnesKeepTheirDeadline()
    {
        // A minute's resend delay: anything redelivered within the test's time came back because the restart ended its call.
        var minute = new ResendPolicy { DelayMs = 60_000, MaxAttempts = 3 };
        await using (var broker = await BrokerProcess.StartAsync(dir.Path, "always"))
        {
            await SendBatch(broker, Batched, 1, 5, new ConcurrentDictionary<(string, ulong), bool>(), complete: true);
            Assert.Equal(1UL, (await broker.Consumer.GetNextAsync(Next("g", minute)).ResponseAsync.DefaultTimeout()).Id);
            using var call = broker.Consumer.Subscribe(new SubscribeRequest { Address = Address(Batched), Group = "g", Prefetch = 2, Resend = minute });
            var subscribed = new List<ulong>();
            while (subscribed.Count < 2)
            {
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).DefaultTimeout());
                subscribed.Add(call.ResponseStream.Current.Message.Id);
            }

            Assert.Equal([2UL, 3], subscribed);
            await broker.KillAsync();
        }

        await using (var broker = await BrokerProcess.StartAsync(dir.Path, "always"))
        {
            // 2 and 3 went out on the Subscribe call the kill ended: due at once, ahead of new ids. 1 went to a GetNext
            // consumer that may still be working on it: it keeps its deadline, a minute away.
            var after = new List<MessageRecord>();
            for (var i = 0; i < 4; i++)
            {
                after.Add(await broker.Consumer.GetNextAsync(Next("g", minute, timeoutMs: 2000)).ResponseAsync.DefaultTimeout());
            }

            Assert.Equal([2UL, 3, 4, 5], after.Select(m => m.Id));
            Assert.All(after.Take(2), m => Assert.Equal(RedeliveryReason.Resend, m.RedeliveryReason));
            var nothing = await Assert.ThrowsAsync<RpcException>(() => broker.Consumer.GetNextAsync(Next("g", minute, timeoutMs: 500)).ResponseAsync.DefaultTimeout());
            Assert.Equal(StatusCode.NotFound, nothing.StatusCode);
        }
    }

    private static Address Address(string stream) => new() { Beamtime = BrokerTestHelpers.Beamtime, Stream = stream };

    private static GetNextRequest Next(string group, ResendPolicy? resend, uint timeoutMs = 0) =>
        new() { Address = Address(Batched), Group = group, Resend = resend, TimeoutMs = timeoutMs };

    private static SendRequest Request(string stream, ulong id) => new()
    {
        Address = Address(stream),
        Id = id,
        Name = $"{stream}/frame_{id:D6}",
        Meta = $"{{\"id\":{id}}}",
        Payload = ByteString.CopyFrom([.. Enumerable.Range(0, 512).Select(i => (byte)(id * 31 + (ulong)i))]),
    };

    /// <summary>Sends ids from..to in one SendBatch call; only a completed call's per-message OK results count as acknowledged.</summary>
    private static async Task SendBatch(BrokerProcess broker, string stream, ulong from, ulong to,
        ConcurrentDictionary<(string, ulong), bool> acknowledged, bool complete)
    {
        var call = broker.Producer.SendBatch();
        for (var id = from; id <= to; id++)
        {
            await call.RequestStream.WriteAsync(Request(stream, id)).DefaultTimeout();
        }

        if (!complete)
        {
            // Left open: the broker is killed while this batch is in flight (its messages are partly stored, none acknowledged).
            return;
        }

        await call.RequestStream.CompleteAsync().DefaultTimeout();
        var reply = await call.ResponseAsync.DefaultTimeout();
        foreach (var result in reply.Results)
        {
            Assert.Equal(0, result.Code);
            acknowledged[(stream, result.Id)] = true;
        }

        call.Dispose();
    }
}
