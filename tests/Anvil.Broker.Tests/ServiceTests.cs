using Anvil.Broker.V1;
using Anvil.Testing;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Grpc.Health.V1;

namespace Anvil.Broker.Tests;

public sealed class BrokerServerFixture : IAsyncLifetime
{
    public BrokerServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await BrokerServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The gRPC adapter: statuses with ErrorInfo/BadRequest (docs/broker.md §6), SendBatch (item 4), server-side waiting (§4.2).</summary>
public sealed class ServiceTests(BrokerServerFixture fixture) : IClassFixture<BrokerServerFixture>
{
    private BrokerServer Server => fixture.Server;

    private static Address Stream(string stream) => new() { Beamtime = BrokerTestHelpers.Beamtime, Stream = stream };

    private static SendRequest Send(string stream, ulong id, string meta = "{}") => new()
    {
        Address = Stream(stream),
        Id = id,
        Name = $"frame_{id}",
        Meta = meta,
        Payload = ByteString.CopyFrom([1, 2, (byte)id]),
    };

    private static (RpcException Rpc, ErrorInfo Info) ErrorOf(RpcException ex)
    {
        var status = ex.GetRpcStatus()!;
        Assert.NotNull(status);
        var info = status.GetDetail<ErrorInfo>()!;
        Assert.Equal("anvil.broker", info.Domain);
        return (ex, info);
    }

    [Fact]
    public async Task Send_IdZero_InvalidArgumentWithErrorInfoAndBadRequestNamingId()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => Server.Producer.SendAsync(Send("svc-id0", 0)).ResponseAsync.DefaultTimeout());
        var (rpc, info) = ErrorOf(ex);
        Assert.Equal(StatusCode.InvalidArgument, rpc.StatusCode);
        Assert.Equal("WRONG_INPUT", info.Reason);
        var bad = rpc.GetRpcStatus()!.GetDetail<BadRequest>()!;
        Assert.Equal("id", Assert.Single(bad.FieldViolations).Field);
        Assert.Contains("ids start at 1", rpc.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_AutoId_ReplyCarriesTheAssignedId()
    {
        var request = new SendRequest { Address = Stream("svc-auto"), AutoId = true, Name = "x" };
        Assert.Equal(1UL, (await Server.Producer.SendAsync(request).ResponseAsync.DefaultTimeout()).Id);
        Assert.Equal(2UL, (await Server.Producer.SendAsync(request).ResponseAsync.DefaultTimeout()).Id);
    }

    [Fact]
    public async Task SendBatch_HundredWithOneBad_NinetyNineStoredAndResultsInRequestOrder()
    {
        using var call = Server.Producer.SendBatch();
        for (ulong id = 1; id <= 100; id++)
        {
            await call.RequestStream.WriteAsync(Send("svc-batch", id, id == 42 ? "[1]" : "{}")).DefaultTimeout();
        }

        await call.RequestStream.CompleteAsync().DefaultTimeout();
        var reply = await call.ResponseAsync.DefaultTimeout();

        Assert.Equal(Enumerable.Range(1, 100).Select(i => (ulong)i), reply.Results.Select(r => r.Id));
        var failed = Assert.Single(reply.Results, r => r.Code != 0);
        Assert.Equal((42UL, (int)StatusCode.InvalidArgument, "WRONG_INPUT"), (failed.Id, failed.Code, failed.Reason));
        var size = await Server.Consumer.GetCurrentSizeAsync(new CurrentSizeRequest { Address = Stream("svc-batch") }).ResponseAsync.DefaultTimeout();
        Assert.Equal(99UL, size.Size);
    }

    [Fact]
    public async Task SendMany_HundredWithOneBad_NinetyNineStoredAndResultsInRequestOrder()
    {
        var request = new SendManyRequest();
        request.Messages.AddRange(Enumerable.Range(1, 100).Select(id => Send("svc-many", (ulong)id, id == 42 ? "[1]" : "{}")));
        var reply = await Server.Producer.SendManyAsync(request).ResponseAsync.DefaultTimeout();

        Assert.Equal(Enumerable.Range(1, 100).Select(i => (ulong)i), reply.Results.Select(r => r.Id));
        var failed = Assert.Single(reply.Results, r => r.Code != 0);
        Assert.Equal((42UL, (int)StatusCode.InvalidArgument, "WRONG_INPUT"), (failed.Id, failed.Code, failed.Reason));
        var size = await Server.Consumer.GetCurrentSizeAsync(new CurrentSizeRequest { Address = Stream("svc-many") }).ResponseAsync.DefaultTimeout();
        Assert.Equal(99UL, size.Size);
    }

    [Fact]
    public async Task GetNext_MessageSentDuringWait_ReturnsItWellBeforeTheTimeout()
    {
        var started = DateTime.UtcNow;
        var call = Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("svc-wait"), Group = "g", TimeoutMs = 20_000, IncludePayload = true });
        await Server.Producer.SendAsync(Send("svc-wait", 1)).ResponseAsync.DefaultTimeout();
        var record = await call.ResponseAsync.DefaultTimeout();

        Assert.Equal((1UL, "frame_1"), (record.Id, record.Name));
        Assert.Equal(new byte[] { 1, 2, 1 }, record.Payload.ToByteArray());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task GetNext_DeadlineBeforeTimeout_EndOfStreamInsteadOfDeadlineExceeded()
    {
        // A 4 s deadline: the broker ends the wait 1 s before it, slack enough for a loaded machine.
        var request = new GetNextRequest { Address = Stream("svc-deadline"), Group = "g", TimeoutMs = 30_000 };
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            Server.Consumer.GetNextAsync(request, deadline: DateTime.UtcNow.AddMilliseconds(4000)).ResponseAsync.DefaultTimeout());
        var (rpc, info) = ErrorOf(ex);
        Assert.Equal(StatusCode.NotFound, rpc.StatusCode);
        Assert.Equal("END_OF_STREAM", info.Reason);
        Assert.Equal("false", info.Metadata["stream_exists"]);
    }

    [Fact]
    public async Task GetNext_TimeoutAboveMaxWait_InvalidArgument()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            Server.Consumer.GetNextAsync(new GetNextRequest { Address = Stream("svc-max"), Group = "g", TimeoutMs = 60_001 }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("timeout_ms", Assert.Single(ex.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations).Field);
    }

    [Fact]
    public async Task GetNextDataset_PartialAfterGrace_FailedPreconditionWithPartsInDetail()
    {
        var part = Send("svc-partial", 1);
        part.Dataset = new DatasetPart { Substream = 2, Size = 3 };
        await Server.Producer.SendAsync(part).ResponseAsync.DefaultTimeout();
        await Server.Producer.FinishStreamAsync(new FinishStreamRequest { Address = Stream("svc-partial"), LastId = 1 }).ResponseAsync.DefaultTimeout();

        // The gap grace (1 s) counts from the first part; a 1.5 s wait outlasts it.
        var ex = await Assert.ThrowsAsync<RpcException>(() => Server.Consumer.GetNextDatasetAsync(
            new GetNextDatasetRequest { Address = Stream("svc-partial"), Group = "g", TimeoutMs = 1500 }).ResponseAsync.DefaultTimeout());
        var (rpc, info) = ErrorOf(ex);
        Assert.Equal(StatusCode.FailedPrecondition, rpc.StatusCode);
        Assert.Equal("PARTIAL_DATA", info.Reason);
        var dataset = rpc.GetRpcStatus()!.GetDetail<Dataset>()!;
        Assert.Equal(2u, Assert.Single(dataset.Parts).DatasetSubstream);

        var finished = await Assert.ThrowsAsync<RpcException>(() => Server.Consumer.GetNextDatasetAsync(
            new GetNextDatasetRequest { Address = Stream("svc-partial"), Group = "g" }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.OutOfRange, finished.StatusCode);
        Assert.Equal("1", ErrorOf(finished).Info.Metadata["last_id"]);
    }

    [Fact]
    public async Task ConsumerCalls_AckNackListAndInfo_RoundTrip()
    {
        var address = Stream("svc-roundtrip");
        for (ulong id = 1; id <= 3; id++)
        {
            await Server.Producer.SendAsync(Send("svc-roundtrip", id)).ResponseAsync.DefaultTimeout();
        }

        var first = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = address, Group = "g" }).ResponseAsync.DefaultTimeout();
        await Server.Consumer.NegativeAcknowledgeAsync(new NackRequest { Address = address, Group = "g", Id = first.Id }).ResponseAsync.DefaultTimeout();
        var again = await Server.Consumer.GetNextAsync(new GetNextRequest { Address = address, Group = "g" }).ResponseAsync.DefaultTimeout();
        Assert.Equal((1UL, 2u, RedeliveryReason.Nack), (again.Id, again.DeliveryCount, again.RedeliveryReason));
        var acks = new AckManyRequest { Address = address, Group = "g" };
        acks.Ids.Add([1, 2]);
        await Server.Consumer.AcknowledgeManyAsync(acks).ResponseAsync.DefaultTimeout();
        var unacked = await Server.Consumer.GetUnacknowledgedAsync(new UnacknowledgedRequest { Address = address, Group = "g", Detail = true }).ResponseAsync.DefaultTimeout();
        Assert.Equal([3UL], unacked.Ids);
        var info = await Server.Consumer.GetStreamInfoAsync(new StreamInfoRequest { Address = address }).ResponseAsync.DefaultTimeout();
        Assert.Equal(("svc-roundtrip", 3UL, false), (info.Name, info.LastId, info.Finished));
        var groups = await Server.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = address }).ResponseAsync.DefaultTimeout();
        Assert.Equal((1UL, 2UL, 2UL), (groups.Groups[0].Pointer, groups.Groups[0].Acknowledged, groups.Groups[0].Backlog));
        var group = await Server.Consumer.NewGroupIdAsync(new NewGroupIdRequest()).ResponseAsync.DefaultTimeout();
        Assert.Equal(20, group.Group.Length);
        Assert.Empty(Server.Errors);
    }

    [Fact]
    public async Task Health_AfterStart_Serving()
    {
        var health = new Health.HealthClient(Server.Channel);
        var reply = await health.CheckAsync(new HealthCheckRequest()).ResponseAsync.DefaultTimeout();
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }
}
