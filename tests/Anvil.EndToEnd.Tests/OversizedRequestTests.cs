using Anvil.Broker.V1;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// Oversized and huge-field requests get a clear status and cost the service no memory for good (issue 15, defect 4:
/// a 10 MB UpdateSettings used to get UNAVAILABLE and leave ingest ~120 MB bigger each time).
/// </summary>
[Collection(SuiteCollection.Name)]
public sealed class OversizedRequestTests(SuiteFixture suite)
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task Ingest_RepeatedOversizedAndHugeFieldRequests_ClearStatusesAndMemoryStaysFlat()
    {
        // The client may send more than the server takes: the server's limit is what is tested.
        using var channel = GrpcChannel.ForAddress(suite.Suite.IngestAddress, new GrpcChannelOptions { MaxSendMessageSize = null });
        var control = new Control.ControlClient(channel);
        var ingest = new Anvil.Pipeline.V1.Ingest.IngestClient(channel);
        var process = suite.Suite.Services.Single(s => s.Name == "ingest").Process;
        var before = await control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout();

        async Task AbuseAsync()
        {
            var oversized = await Assert.ThrowsAsync<RpcException>(() =>
                control.UpdateSettingsAsync(new UpdateSettingsRequest { Poni = new string('a', 10 * MiB) }).ResponseAsync.DefaultTimeout());
            Assert.Equal(StatusCode.ResourceExhausted, oversized.StatusCode);
            Assert.Contains("exceeds the maximum", oversized.Status.Detail, StringComparison.Ordinal);

            var announce = await Assert.ThrowsAsync<RpcException>(() =>
                ingest.AnnounceChunkAsync(new AnnounceChunkRequest { Acquisition = "big_00001", Module = 1, Modules = 3, Path = new string('p', 100_000) }).ResponseAsync.DefaultTimeout());
            Assert.Equal(StatusCode.ResourceExhausted, announce.StatusCode);

            // Under the limit but far too long a path or name: refused without echoing it back.
            var longPath = await Assert.ThrowsAsync<RpcException>(() =>
                control.UpdateSettingsAsync(new UpdateSettingsRequest { Poni = new string('a', 60_000) }).ResponseAsync.DefaultTimeout());
            Assert.Equal(StatusCode.InvalidArgument, longPath.StatusCode);
            Assert.Contains("poni is a path of 600", longPath.Status.Detail, StringComparison.Ordinal);
            Assert.True(longPath.Status.Detail.Length < 1000, $"the error detail is {longPath.Status.Detail.Length} characters");

            var longName = await Assert.ThrowsAsync<RpcException>(() =>
                ingest.AnnounceChunkAsync(new AnnounceChunkRequest { Acquisition = new string('n', 60_000), Module = 1, Modules = 3, Path = "/x" }).ResponseAsync.DefaultTimeout());
            Assert.Equal(StatusCode.InvalidArgument, longName.StatusCode);
            Assert.True(longName.Status.Detail.Length < 1000, $"the error detail is {longName.Status.Detail.Length} characters");
        }

        await AbuseAsync(); // the first round sizes the server's pools
        var rssBefore = RssMiB(process);
        for (var round = 0; round < 16; round++)
        {
            await AbuseAsync();
        }

        var rssAfter = RssMiB(process);
        Assert.True(rssAfter - rssBefore < 48, $"ingest grew from {rssBefore} MiB to {rssAfter} MiB over 16 rounds of abuse");
        Assert.Equal(before, await control.GetSettingsAsync(new GetSettingsRequest()).ResponseAsync.DefaultTimeout());
        Assert.NotNull(await ingest.GetStatusAsync(new IngestStatusRequest()).ResponseAsync.DefaultTimeout());
    }

    [Fact]
    public async Task BrokerAndWorkers_RequestOverTheirLimit_ResourceExhaustedAndStillServing()
    {
        using var broker = GrpcChannel.ForAddress(suite.Suite.BrokerAddress, new GrpcChannelOptions { MaxSendMessageSize = null });
        var producer = new Producer.ProducerClient(broker);
        var tooBig = await Assert.ThrowsAsync<RpcException>(() => producer.SendAsync(new SendRequest
        {
            Address = new Anvil.Broker.V1.Address { Beamtime = "bt", DataSource = "s", Stream = "big" },
            Id = 1,
            Name = "big",
            Payload = Google.Protobuf.ByteString.CopyFrom(new byte[33 * MiB]),
        }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.ResourceExhausted, tooBig.StatusCode);

        var stitch = suite.Suite.Services.Single(s => s.Name == "stitch");
        using var worker = GrpcChannel.ForAddress(stitch.Address, new GrpcChannelOptions { MaxSendMessageSize = null });
        var health = new Grpc.Health.V1.Health.HealthClient(worker);
        var workerTooBig = await Assert.ThrowsAsync<RpcException>(() =>
            health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest { Service = new string('s', 100_000) }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.ResourceExhausted, workerTooBig.StatusCode);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving,
            (await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest()).ResponseAsync.DefaultTimeout()).Status);
    }

    private static long RssMiB(System.Diagnostics.Process process)
    {
        var line = File.ReadLines($"/proc/{process.Id}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }
}
