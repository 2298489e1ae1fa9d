using System.Diagnostics.Metrics;
using Anvil.Broker.Core;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §5 gaps and §4.8 stream information: checklist items 1, 21–24, 26.</summary>
public sealed class GapAndStreamTests
{
    private readonly ManualTimeProvider time = new();
    private readonly MessageBroker broker;
    private readonly StreamAddress address = Address();

    public GapAndStreamTests() => broker = new MessageBroker(new BrokerOptions(), time, new BrokerMetrics());

    [Fact]
    public async Task GetNext_IdsOneTwoFour_DeliversOneTwoThenNoDataForThreeAfterTimeoutThenFour()
    {
        // A stream of its own: the listener hears every broker in the process, and other tests declare gaps on scan1.
        var address = Address("gaps-" + Guid.NewGuid().ToString("N")[..8]);
        long gapsMeasured = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == BrokerMetrics.MeterName && i.Name == "anvil.broker.gaps")
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, v, tags, _) =>
        {
            if (tags.ToArray().Any(t => t.Key == "stream" && (string?)t.Value == address.Stream))
            {
                Interlocked.Add(ref gapsMeasured, v);
            }
        });
        listener.Start();

        await broker.SendIds(address, 1, 2, 4);
        Assert.Equal(1UL, (await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        Assert.Equal(2UL, (await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        var call = broker.GetNextAsync(address, "g", TimeSpan.FromSeconds(3));
        time.Advance(TimeSpan.FromSeconds(3));
        var ex = await Fails(() => call.DefaultTimeout(), ErrorReasons.NoData);
        Assert.Equal(("3", "4"), (ex.Metadata["id"], ex.Metadata["last_id"]));
        Assert.Equal(4UL, (await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);

        var gap = Assert.Single(await broker.ListGapsAsync(address, "g").DefaultTimeout());
        Assert.Equal((3UL, ErrorReasons.NoData, false), (gap.Id, gap.Kind, gap.Resolved));
        Assert.Equal(3UL, Assert.Single(await broker.ListGapsAsync(address, "").DefaultTimeout()).Id);
        Assert.Equal(1, Interlocked.Read(ref gapsMeasured));
        Assert.Equal(3UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
    }

    [Fact]
    public async Task GetNext_GapYoungerThanGrace_EndOfStreamWaitingForIdAndPointerStays()
    {
        await broker.SendIds(address, 1, 2, 4);
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        var ex = await Fails(() => broker.GetNextAsync(address, "g", TimeSpan.Zero), ErrorReasons.EndOfStream);
        Assert.Equal("3", ex.Metadata["waiting_for_id"]);
        await broker.SendIds(address, 3);
        Assert.Equal(3UL, (await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        Assert.Empty(await broker.ListGapsAsync(address, "g").DefaultTimeout());
    }

    [Fact]
    public async Task GetNext_IdStoredAfterItsGapWasDeclared_DeliveredLateAheadOfNewIdsEvenAfterFinish()
    {
        await broker.SendIds(address, 1, 2, 4);
        await broker.FinishStreamAsync(address, 4, "").DefaultTimeout();
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        time.Advance(TimeSpan.FromSeconds(1));
        await Fails(() => broker.GetNextAsync(address, "g", TimeSpan.Zero), ErrorReasons.NoData);
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        await Fails(() => broker.GetNextAsync(address, "g", TimeSpan.Zero), ErrorReasons.StreamFinished);

        await broker.SendIds(address, 3);
        var late = await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        Assert.Equal((3UL, RedeliveryReason.Late), (late.Id, late.RedeliveryReason));
        Assert.True(Assert.Single(await broker.ListGapsAsync(address, "g").DefaultTimeout()).Resolved);
        await Fails(() => broker.GetNextAsync(address, "g", TimeSpan.Zero), ErrorReasons.StreamFinished);
    }

    [Fact]
    public async Task ListStreams_FieldsOrderFromAndFilters_ReflectEveryWrite()
    {
        await broker.SendIds(Address("b"), 1, 2);
        time.Advance(TimeSpan.FromSeconds(1));
        await broker.SendIds(Address("a"), 1, 3);
        time.Advance(TimeSpan.FromSeconds(1));
        await broker.FinishStreamAsync(Address("a"), 5, "b").DefaultTimeout();
        await broker.SendIds(Address("z", source: "other"), 1);

        var all = await broker.ListStreamsAsync(address, "", StreamFilter.All).DefaultTimeout();
        Assert.Equal(["b", "a"], all.Select(s => s.Name));
        var a = all[1];
        Assert.Equal((5UL, true, "b"), (a.LastId, a.Finished, a.NextStream));
        Assert.True(a.TimestampLastNs > a.TimestampCreatedNs);
        Assert.Equal(2UL, all[0].LastId);
        Assert.Equal(["a"], (await broker.ListStreamsAsync(address, "a", StreamFilter.All).DefaultTimeout()).Select(s => s.Name));
        Assert.Empty(await broker.ListStreamsAsync(address, "nope", StreamFilter.All).DefaultTimeout());
        Assert.Equal(["a"], (await broker.ListStreamsAsync(address, "", StreamFilter.Finished).DefaultTimeout()).Select(s => s.Name));
        Assert.Equal(["b"], (await broker.ListStreamsAsync(address, "", StreamFilter.Unfinished).DefaultTimeout()).Select(s => s.Name));
        Assert.Equal(2UL, await broker.GetCurrentSizeAsync(Address("a")).DefaultTimeout());
        Assert.Equal("a", (await broker.GetStreamInfoAsync(Address("a")).DefaultTimeout()).Name);
        await Fails(() => broker.GetStreamInfoAsync(Address("nope")), ErrorReasons.NoData);
    }

    [Fact]
    public async Task PutStreamMeta_ReplaceUpdateInsert_FollowTheModes()
    {
        await Fails(() => broker.GetStreamMetaAsync(address, TimeSpan.Zero), ErrorReasons.NoData);
        await Fails(() => broker.PutStreamMetaAsync(address, "{\"a\":1}", MetaMode.Update, upsert: false), ErrorReasons.MetaNotFound);
        await broker.PutStreamMetaAsync(address, "{\"a\":1,\"b\":2}", MetaMode.Insert).DefaultTimeout();
        await Fails(() => broker.PutStreamMetaAsync(address, "{\"a\":1}", MetaMode.Insert), ErrorReasons.MetaExists);
        await broker.PutStreamMetaAsync(address, "{\"b\":3,\"c\":4}", MetaMode.Update).DefaultTimeout();
        Assert.Equal("{\"a\":1,\"b\":3,\"c\":4}", await broker.GetStreamMetaAsync(address, TimeSpan.Zero).DefaultTimeout());
        await broker.PutStreamMetaAsync(address, "{\"z\":0}", MetaMode.Replace).DefaultTimeout();
        Assert.Equal("{\"z\":0}", await broker.GetStreamMetaAsync(address, TimeSpan.Zero).DefaultTimeout());
        Assert.Empty(await broker.ListStreamsAsync(address, "", StreamFilter.All).DefaultTimeout());

        var waiting = broker.GetBeamtimeMetaAsync(address, TimeSpan.FromSeconds(10));
        await broker.PutBeamtimeMetaAsync(address, "{\"pi\":\"x\"}", MetaMode.Replace).DefaultTimeout();
        Assert.Equal("{\"pi\":\"x\"}", await waiting.DefaultTimeout());
    }

    [Fact]
    public async Task DeleteStream_Existing_RemovesRecordsGroupsAndMetaAndIdsRestartAtOne()
    {
        await broker.SendIds(address, 1, 2);
        await broker.PutStreamMetaAsync(address, "{\"a\":1}", MetaMode.Replace).DefaultTimeout();
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        var waiting = broker.GetNextAsync(address, "h", TimeSpan.FromSeconds(30));
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        var waiter = broker.GetNextAsync(address, "g", TimeSpan.FromSeconds(30));

        Assert.True(await broker.DeleteStreamAsync(address).DefaultTimeout());
        var ended = await Fails(() => waiter.DefaultTimeout(), ErrorReasons.EndOfStream);
        Assert.Equal("false", ended.Metadata["stream_exists"]);
        Assert.Equal(1UL, (await waiting.DefaultTimeout()).Id);
        Assert.Empty(await broker.ListStreamsAsync(address, "", StreamFilter.All).DefaultTimeout());
        Assert.Empty(await broker.ListGroupsAsync(address).DefaultTimeout());
        await Fails(() => broker.GetStreamMetaAsync(address, TimeSpan.Zero), ErrorReasons.NoData);
        await Fails(() => broker.DeleteStreamAsync(address), ErrorReasons.StreamNotFound);
        Assert.False(await broker.DeleteStreamAsync(address, errorOnNotExist: false).DefaultTimeout());

        await broker.SendIds(address, 1);
        Assert.Equal(1UL, (await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
    }

    [Fact]
    public async Task ListGroups_AfterReadsAndAcks_ReportsPointerBacklogAndGaps()
    {
        await broker.SendIds(address, 1, 2, 3, 4);
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        await broker.AcknowledgeAsync(address, "g", 1).DefaultTimeout();
        var info = Assert.Single(await broker.ListGroupsAsync(new StreamAddress(Beamtime)).DefaultTimeout());
        Assert.Equal(("scan1", "g", 1UL, 1UL, 1UL, 3UL, 0UL), (info.Stream, info.Group, info.Pointer, info.LastAcknowledged, info.Acknowledged, info.Backlog, info.GapsOpen));
    }

    [Fact]
    public async Task InvalidArgument_EveryCall_LeavesStateUnchanged()
    {
        await broker.SendIds(address, 1, 2);
        await broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout();
        var before = await Snapshot();

        var bad = new Func<Task>[]
        {
            () => broker.SendAsync(address, Message(0)),
            () => broker.SendAsync(address, Message(1, meta: "[1]")),
            () => broker.SendAsync(address, Message(1, meta: "{\"other\":1}")),
            () => broker.SendAsync(address, new OutgoingMessage { AutoId = true, Name = "x" }),
            () => broker.SendAsync(address, Message(3, substream: 2, size: 1)),
            () => broker.SendAsync(Address("new"), Message(1, name: "a/../b")),
            () => broker.FinishStreamAsync(address, 1, ""),
            () => broker.FinishStreamAsync(address, 2, address.Stream),
            () => broker.GetNextAsync(address, "", TimeSpan.Zero),
            () => broker.GetNextAsync(address, "g", TimeSpan.FromMinutes(2)),
            () => broker.GetNextAsync(address, "g", TimeSpan.Zero, resend: new ResendPolicy(0, 1)),
            () => broker.GetByIdAsync(address, 0, TimeSpan.Zero),
            () => broker.AcknowledgeAsync(address, "g", 0),
            () => broker.AcknowledgeAsync(address, "g", 9),
            () => broker.AcknowledgeManyAsync(address, "g", [1, 9]),
            () => broker.NegativeAcknowledgeAsync(address, "g", 2, 0),
            () => broker.SetLastReadAsync(address, "", 1),
            () => broker.PutStreamMetaAsync(address, "[]", MetaMode.Replace),
            () => broker.PutStreamMetaAsync(Address("new"), "{}", MetaMode.Update, upsert: false),
            () => broker.DeleteStreamAsync(Address("new")),
        };
        foreach (var call in bad)
        {
            var ex = await Assert.ThrowsAsync<BrokerException>(call);
            Assert.Equal(BrokerErrorCode.InvalidArgument, ex.Code);
        }

        Assert.Equal(before, await Snapshot());
    }

    private async Task<string> Snapshot()
    {
        var streams = await broker.ListStreamsAsync(address, "", StreamFilter.All);
        var groups = await broker.ListGroupsAsync(new StreamAddress(Beamtime));
        var unacked = await broker.GetUnacknowledgedAsync(address, "g", 0, 0);
        var records = new List<string>();
        for (ulong id = 1; id <= 2; id++)
        {
            var r = await broker.GetByIdAsync(address, id, TimeSpan.Zero, includePayload: true);
            records.Add($"{r.Id}:{r.Name}:{r.Meta}:{r.TimestampNs}:{Convert.ToHexString(r.Payload.Span)}");
        }

        return string.Join("|", streams.Select(s => s.ToString()).Concat(groups.Select(g => g.ToString()))
            .Concat(unacked.Entries.Select(e => e.ToString())).Concat(records));
    }
}
