using System.Diagnostics.Metrics;
using Anvil.Broker.Core;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>§5 gaps and §4.8 stream information: checklist items 1, 21–24, 26.</summary>
public sealed class GapAndStreamTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly MessageBroker _broker;
    private readonly StreamAddress _address = Address();

    public GapAndStreamTests() => _broker = new MessageBroker(new BrokerOptions(), _time, new BrokerMetrics());

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

        await _broker.SendIds(address, 1, 2, 4);
        Assert.Equal(1UL, (await _broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        Assert.Equal(2UL, (await _broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        var call = _broker.GetNextAsync(address, "g", TimeSpan.FromSeconds(3));
        _time.Advance(TimeSpan.FromSeconds(3));
        var ex = await Fails(() => call.DefaultTimeout(), ErrorReasons.NoData);
        Assert.Equal(("3", "4"), (ex.Metadata["id"], ex.Metadata["last_id"]));
        Assert.Equal(4UL, (await _broker.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);

        var gap = Assert.Single(await _broker.ListGapsAsync(address, "g").DefaultTimeout());
        Assert.Equal((3UL, ErrorReasons.NoData, false), (gap.Id, gap.Kind, gap.Resolved));
        Assert.Equal(3UL, Assert.Single(await _broker.ListGapsAsync(address, "").DefaultTimeout()).Id);
        Assert.Equal(1, Interlocked.Read(ref gapsMeasured));
        Assert.Equal(3UL, await _broker.GetCurrentSizeAsync(address).DefaultTimeout());
    }

    [Fact]
    public async Task GetNext_GapYoungerThanGrace_EndOfStreamWaitingForIdAndPointerStays()
    {
        await _broker.SendIds(_address, 1, 2, 4);
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        var ex = await Fails(() => _broker.GetNextAsync(_address, "g", TimeSpan.Zero), ErrorReasons.EndOfStream);
        Assert.Equal("3", ex.Metadata["waiting_for_id"]);
        await _broker.SendIds(_address, 3);
        Assert.Equal(3UL, (await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        Assert.Empty(await _broker.ListGapsAsync(_address, "g").DefaultTimeout());
    }

    [Fact]
    public async Task GetNext_IdStoredAfterItsGapWasDeclared_DeliveredLateAheadOfNewIdsEvenAfterFinish()
    {
        await _broker.SendIds(_address, 1, 2, 4);
        await _broker.FinishStreamAsync(_address, 4, "").DefaultTimeout();
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        _time.Advance(TimeSpan.FromSeconds(1));
        await Fails(() => _broker.GetNextAsync(_address, "g", TimeSpan.Zero), ErrorReasons.NoData);
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        await Fails(() => _broker.GetNextAsync(_address, "g", TimeSpan.Zero), ErrorReasons.StreamFinished);

        await _broker.SendIds(_address, 3);
        var late = await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        Assert.Equal((3UL, RedeliveryReason.Late), (late.Id, late.RedeliveryReason));
        Assert.True(Assert.Single(await _broker.ListGapsAsync(_address, "g").DefaultTimeout()).Resolved);
        await Fails(() => _broker.GetNextAsync(_address, "g", TimeSpan.Zero), ErrorReasons.StreamFinished);
    }

    [Fact]
    public async Task ListStreams_FieldsOrderFromAndFilters_ReflectEveryWrite()
    {
        await _broker.SendIds(Address("b"), 1, 2);
        _time.Advance(TimeSpan.FromSeconds(1));
        await _broker.SendIds(Address("a"), 1, 3);
        _time.Advance(TimeSpan.FromSeconds(1));
        await _broker.FinishStreamAsync(Address("a"), 5, "b").DefaultTimeout();
        await _broker.SendIds(Address("z", source: "other"), 1);

        var all = await _broker.ListStreamsAsync(_address, "", StreamFilter.All).DefaultTimeout();
        Assert.Equal(["b", "a"], all.Select(s => s.Name));
        var a = all[1];
        Assert.Equal((5UL, true, "b"), (a.LastId, a.Finished, a.NextStream));
        Assert.True(a.TimestampLastNs > a.TimestampCreatedNs);
        Assert.Equal(2UL, all[0].LastId);
        Assert.Equal(["a"], (await _broker.ListStreamsAsync(_address, "a", StreamFilter.All).DefaultTimeout()).Select(s => s.Name));
        Assert.Empty(await _broker.ListStreamsAsync(_address, "nope", StreamFilter.All).DefaultTimeout());
        Assert.Equal(["a"], (await _broker.ListStreamsAsync(_address, "", StreamFilter.Finished).DefaultTimeout()).Select(s => s.Name));
        Assert.Equal(["b"], (await _broker.ListStreamsAsync(_address, "", StreamFilter.Unfinished).DefaultTimeout()).Select(s => s.Name));
        Assert.Equal(2UL, await _broker.GetCurrentSizeAsync(Address("a")).DefaultTimeout());
        Assert.Equal("a", (await _broker.GetStreamInfoAsync(Address("a")).DefaultTimeout()).Name);
        await Fails(() => _broker.GetStreamInfoAsync(Address("nope")), ErrorReasons.NoData);
    }

    [Fact]
    public async Task PutStreamMeta_ReplaceUpdateInsert_FollowTheModes()
    {
        await Fails(() => _broker.GetStreamMetaAsync(_address, TimeSpan.Zero), ErrorReasons.NoData);
        await Fails(() => _broker.PutStreamMetaAsync(_address, "{\"a\":1}", MetaMode.Update, upsert: false), ErrorReasons.MetaNotFound);
        await _broker.PutStreamMetaAsync(_address, "{\"a\":1,\"b\":2}", MetaMode.Insert).DefaultTimeout();
        await Fails(() => _broker.PutStreamMetaAsync(_address, "{\"a\":1}", MetaMode.Insert), ErrorReasons.MetaExists);
        await _broker.PutStreamMetaAsync(_address, "{\"b\":3,\"c\":4}", MetaMode.Update).DefaultTimeout();
        Assert.Equal("{\"a\":1,\"b\":3,\"c\":4}", await _broker.GetStreamMetaAsync(_address, TimeSpan.Zero).DefaultTimeout());
        await _broker.PutStreamMetaAsync(_address, "{\"z\":0}", MetaMode.Replace).DefaultTimeout();
        Assert.Equal("{\"z\":0}", await _broker.GetStreamMetaAsync(_address, TimeSpan.Zero).DefaultTimeout());
        Assert.Empty(await _broker.ListStreamsAsync(_address, "", StreamFilter.All).DefaultTimeout());

        var waiting = _broker.GetBeamtimeMetaAsync(_address, TimeSpan.FromSeconds(10));
        await _broker.PutBeamtimeMetaAsync(_address, "{\"pi\":\"x\"}", MetaMode.Replace).DefaultTimeout();
        Assert.Equal("{\"pi\":\"x\"}", await waiting.DefaultTimeout());
    }

    [Fact]
    public async Task DeleteStream_Existing_RemovesRecordsGroupsAndMetaAndIdsRestartAtOne()
    {
        await _broker.SendIds(_address, 1, 2);
        await _broker.PutStreamMetaAsync(_address, "{\"a\":1}", MetaMode.Replace).DefaultTimeout();
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        var waiting = _broker.GetNextAsync(_address, "h", TimeSpan.FromSeconds(30));
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        var waiter = _broker.GetNextAsync(_address, "g", TimeSpan.FromSeconds(30));

        Assert.True(await _broker.DeleteStreamAsync(_address).DefaultTimeout());
        var ended = await Fails(() => waiter.DefaultTimeout(), ErrorReasons.EndOfStream);
        Assert.Equal("false", ended.Metadata["stream_exists"]);
        Assert.Equal(1UL, (await waiting.DefaultTimeout()).Id);
        Assert.Empty(await _broker.ListStreamsAsync(_address, "", StreamFilter.All).DefaultTimeout());
        Assert.Empty(await _broker.ListGroupsAsync(_address).DefaultTimeout());
        await Fails(() => _broker.GetStreamMetaAsync(_address, TimeSpan.Zero), ErrorReasons.NoData);
        await Fails(() => _broker.DeleteStreamAsync(_address), ErrorReasons.StreamNotFound);
        Assert.False(await _broker.DeleteStreamAsync(_address, errorOnNotExist: false).DefaultTimeout());

        await _broker.SendIds(_address, 1);
        Assert.Equal(1UL, (await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
    }

    [Fact]
    public async Task ListGroups_AfterReadsAndAcks_ReportsPointerBacklogAndGaps()
    {
        await _broker.SendIds(_address, 1, 2, 3, 4);
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        await _broker.AcknowledgeAsync(_address, "g", 1).DefaultTimeout();
        var info = Assert.Single(await _broker.ListGroupsAsync(new StreamAddress(Beamtime)).DefaultTimeout());
        Assert.Equal(("scan1", "g", 1UL, 1UL, 1UL, 3UL, 0UL), (info.Stream, info.Group, info.Pointer, info.LastAcknowledged, info.Acknowledged, info.Backlog, info.GapsOpen));
    }

    [Fact]
    public async Task InvalidArgument_EveryCall_LeavesStateUnchanged()
    {
        await _broker.SendIds(_address, 1, 2);
        await _broker.GetNextAsync(_address, "g", TimeSpan.Zero).DefaultTimeout();
        var before = await Snapshot();

        var bad = new Func<Task>[]
        {
            () => _broker.SendAsync(_address, Message(0)),
            () => _broker.SendAsync(_address, Message(1, meta: "[1]")),
            () => _broker.SendAsync(_address, Message(1, meta: "{\"other\":1}")),
            () => _broker.SendAsync(_address, new OutgoingMessage { AutoId = true, Name = "x" }),
            () => _broker.SendAsync(_address, Message(3, substream: 2, size: 1)),
            () => _broker.SendAsync(Address("new"), Message(1, name: "a/../b")),
            () => _broker.FinishStreamAsync(_address, 1, ""),
            () => _broker.FinishStreamAsync(_address, 2, _address.Stream),
            () => _broker.GetNextAsync(_address, "", TimeSpan.Zero),
            () => _broker.GetNextAsync(_address, "g", TimeSpan.FromMinutes(2)),
            () => _broker.GetNextAsync(_address, "g", TimeSpan.Zero, resend: new ResendPolicy(0, 1)),
            () => _broker.GetByIdAsync(_address, 0, TimeSpan.Zero),
            () => _broker.AcknowledgeAsync(_address, "g", 0),
            () => _broker.AcknowledgeAsync(_address, "g", 9),
            () => _broker.AcknowledgeManyAsync(_address, "g", [1, 9]),
            () => _broker.NegativeAcknowledgeAsync(_address, "g", 2, 0),
            () => _broker.SetLastReadAsync(_address, "", 1),
            () => _broker.PutStreamMetaAsync(_address, "[]", MetaMode.Replace),
            () => _broker.PutStreamMetaAsync(Address("new"), "{}", MetaMode.Update, upsert: false),
            () => _broker.DeleteStreamAsync(Address("new")),
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
        var streams = await _broker.ListStreamsAsync(_address, "", StreamFilter.All);
        var groups = await _broker.ListGroupsAsync(new StreamAddress(Beamtime));
        var unacked = await _broker.GetUnacknowledgedAsync(_address, "g", 0, 0);
        var records = new List<string>();
        for (ulong id = 1; id <= 2; id++)
        {
            var r = await _broker.GetByIdAsync(_address, id, TimeSpan.Zero, includePayload: true);
            records.Add($"{r.Id}:{r.Name}:{r.Meta}:{r.TimestampNs}:{Convert.ToHexString(r.Payload.Span)}");
        }

        return string.Join("|", streams.Select(s => s.ToString()).Concat(groups.Select(g => g.ToString()))
            .Concat(unacked.Entries.Select(e => e.ToString())).Concat(records));
    }
}
