using System.Collections.Concurrent;
using Anvil.Broker.Core;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §4 and checklist items 6–20: groups, waiting, finish, acks and redelivery, on the core with a manual clock.</summary>
public sealed class ConsumerTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    private static readonly ResendPolicy Resend = new(DelayMs: 1000, MaxAttempts: 3);
    private readonly ManualTimeProvider time = new();
    private readonly MessageBroker broker;
    private readonly StreamAddress address = Address();

    public ConsumerTests() => broker = new MessageBroker(new BrokerOptions(), time);

    private Task<MessageRecord> Next(string group = "g", ResendPolicy? resend = null) =>
        broker.GetNextAsync(address, group, TimeSpan.Zero, resend: resend).DefaultTimeout();

    [Fact]
    public async Task GetNextMany_BacklogOfTen_ReturnsUpToMaxInIdOrderAndMovesThePointer()
    {
        await broker.SendIds(address, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);

        var first = await broker.GetNextManyAsync(address, "g", 4, TimeSpan.Zero).DefaultTimeout();
        var second = await broker.GetNextManyAsync(address, "g", 4, TimeSpan.Zero).DefaultTimeout();
        var third = await broker.GetNextManyAsync(address, "g", 4, TimeSpan.Zero).DefaultTimeout();

        Assert.Equal([1UL, 2, 3, 4], first.Messages.Select(m => m.Id));
        Assert.Equal([5UL, 6, 7, 8], second.Messages.Select(m => m.Id));
        Assert.Equal([9UL, 10], third.Messages.Select(m => m.Id));
        Assert.Null(third.Error);
        Assert.Equal("frame_00009", third.Messages[0].Name);
        await Fails(() => broker.GetNextManyAsync(address, "g", 4, TimeSpan.Zero), ErrorReasons.EndOfStream);
    }

    [Fact]
    public async Task GetNextMany_MissingIdAfterTheFirst_StopsBeforeItWithoutDeclaringAGap()
    {
        await broker.SendIds(address, 1, 2, 4);
        time.Advance(TimeSpan.FromMinutes(1));

        var batch = await broker.GetNextManyAsync(address, "g", 10, TimeSpan.Zero).DefaultTimeout();

        Assert.Equal([1UL, 2], batch.Messages.Select(m => m.Id));
        Assert.Empty(await broker.ListGapsAsync(address, "g").DefaultTimeout());

        // A call that starts at the missing id treats it as GetNext does: past the grace it is a declared gap.
        await Fails(() => broker.GetNextManyAsync(address, "g", 10, TimeSpan.Zero), ErrorReasons.NoData);
        Assert.Equal([4UL], (await broker.GetNextManyAsync(address, "g", 10, TimeSpan.Zero).DefaultTimeout()).Messages.Select(m => m.Id));
    }

    [Fact]
    public async Task GetNextMany_DueRedeliveryAndNewIds_DeliversBothWithTheirCounts()
    {
        await broker.SendIds(address, 1, 2);
        Assert.Equal(1UL, (await Next(resend: Resend)).Id);
        time.Advance(TimeSpan.FromSeconds(2));
        await broker.SendIds(address, 3);

        var batch = await broker.GetNextManyAsync(address, "g", 10, TimeSpan.Zero, resend: Resend).DefaultTimeout();

        Assert.Equal([(1UL, 2U, RedeliveryReason.Resend), (2UL, 1U, RedeliveryReason.None), (3UL, 1U, RedeliveryReason.None)],
            batch.Messages.Select(m => (m.Id, m.DeliveryCount, m.RedeliveryReason)));
    }

    [Fact]
    public async Task GetNextMany_MaxZero_FailsWithInvalidArgument() =>
        await Fails(() => broker.GetNextManyAsync(address, "g", 0, TimeSpan.Zero), ErrorReasons.WrongInput);

    [Fact]
    public async Task GetNext_FourConsumersInOneGroup_EachIdGoesToExactlyOne()
    {
        var broker = new MessageBroker(new BrokerOptions());
        var ids = Enumerable.Range(1, 10_000).Select(i => (ulong)i).ToArray();
        var producer = Task.Run(() => broker.SendIds(address, ids));
        var received = new ConcurrentBag<ulong>();
        var consumers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                try
                {
                    received.Add((await broker.GetNextAsync(address, "shared", TimeSpan.FromSeconds(5))).Id);
                }
                catch (BrokerException ex) when (ex.Reason == ErrorReasons.StreamFinished)
                {
                    return;
                }
            }
        })).ToArray();
        await producer.DefaultTimeout();
        await broker.FinishStreamAsync(address, 10_000, "").DefaultTimeout();
        await Task.WhenAll(consumers).DefaultTimeout(TimeSpan.FromSeconds(60));

        Assert.Equal(10_000, received.Count);
        Assert.Equal(ids, received.Order());
    }

    [Fact]
    public async Task GetNext_TwoGroups_EachReceivesEveryId()
    {
        await broker.SendIds(address, 1, 2, 3);
        foreach (var group in new[] { "a", "b" })
        {
            Assert.Equal(new ulong[] { 1, 2, 3 }, new[] { (await Next(group)).Id, (await Next(group)).Id, (await Next(group)).Id });
        }
    }

    [Fact]
    public async Task GetNext_AbsentStreamTimeoutZero_EndOfStreamAtOnceWithStreamExistsFalse()
    {
        var ex = await Fails(() => Next(), ErrorReasons.EndOfStream);
        Assert.Equal(BrokerErrorCode.NotFound, ex.Code);
        Assert.Equal("false", ex.Metadata["stream_exists"]);
        Assert.Empty(await broker.ListStreamsAsync(address, "", StreamFilter.All).DefaultTimeout());
    }

    [Fact]
    public async Task GetNext_AbsentStreamWithTimeout_EndOfStreamOnlyAfterTheTimeout()
    {
        var call = broker.GetNextAsync(address, "g", TimeSpan.FromSeconds(2));
        time.Advance(TimeSpan.FromMilliseconds(1999));
        await Task.Yield();
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var ex = await Fails(() => call.DefaultTimeout(), ErrorReasons.EndOfStream);
        Assert.Equal("false", ex.Metadata["stream_exists"]);
    }

    [Fact]
    public async Task GetNext_MessageStoredDuringWait_ReturnsItBeforeTheTimeout()
    {
        var call = broker.GetNextAsync(address, "g", TimeSpan.FromSeconds(30));
        Assert.False(call.IsCompleted);
        await broker.SendIds(address, 1);
        Assert.Equal(1UL, (await call.DefaultTimeout()).Id);
    }

    [Fact]
    public async Task GetNext_FinishedStream_EveryMemberGetsStreamFinishedRepeatedly()
    {
        await broker.SendIds(address, 1, 2);
        await broker.FinishStreamAsync(address, 2, "scan2").DefaultTimeout();
        await Next("g");
        await Next("g");
        for (var i = 0; i < 3; i++)
        {
            var ex = await Fails(() => Next("g"), ErrorReasons.StreamFinished);
            Assert.Equal(BrokerErrorCode.OutOfRange, ex.Code);
            Assert.Equal("2", ex.Metadata["last_id"]);
            Assert.Equal("scan2", ex.Metadata["next_stream"]);
        }

        await broker.FinishStreamAsync(Address("other"), 0, "").DefaultTimeout();
        var empty = await Fails(() => broker.GetNextAsync(Address("other"), "g", TimeSpan.Zero), ErrorReasons.StreamFinished);
        Assert.Equal("", empty.Metadata["next_stream"]);
    }

    [Fact]
    public async Task GetNext_InFlightUnderResend_WithholdsStreamFinishedUntilAcked()
    {
        await broker.SendIds(address, 1);
        await broker.FinishStreamAsync(address, 1, "").DefaultTimeout();
        await Next(resend: new ResendPolicy(1000, 0));

        await Fails(() => Next(resend: Resend), ErrorReasons.EndOfStream);
        var waiting = broker.GetNextAsync(address, "g", TimeSpan.FromMilliseconds(500));
        await broker.AcknowledgeAsync(address, "g", 1).DefaultTimeout();
        await Fails(() => waiting.DefaultTimeout(), ErrorReasons.StreamFinished);
    }

    [Fact]
    public async Task GetLast_FinishedStream_ReturnsTheLastMessageAndWithGroupEachNewestOnce()
    {
        await broker.SendIds(address, 1, 2);
        Assert.Equal(2UL, (await broker.GetLastAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        await Fails(() => broker.GetLastAsync(address, "g", TimeSpan.Zero), ErrorReasons.EndOfStream);
        await broker.SendIds(address, 3);
        Assert.Equal(3UL, (await broker.GetLastAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
        await broker.FinishStreamAsync(address, 3, "").DefaultTimeout();

        Assert.Equal(3UL, (await broker.GetLastAsync(address, "", TimeSpan.Zero).DefaultTimeout()).Id);
        Assert.Equal(3UL, (await broker.GetLastAsync(address, "", TimeSpan.Zero).DefaultTimeout()).Id);
        await Fails(() => broker.GetLastAsync(address, "g", TimeSpan.Zero), ErrorReasons.StreamFinished);
        await Fails(() => broker.GetLastAsync(Address("empty"), "", TimeSpan.Zero), ErrorReasons.EndOfStream);
    }

    [Fact]
    public async Task GetById_AboveMissingAndPastFinish_EndOfStreamNoDataAndStreamFinished()
    {
        await broker.SendIds(address, 1, 3);
        Assert.Equal(3UL, (await broker.GetByIdAsync(address, 3, TimeSpan.Zero).DefaultTimeout()).Id);
        await Fails(() => broker.GetByIdAsync(address, 4, TimeSpan.Zero), ErrorReasons.EndOfStream);
        var missing = await Fails(() => broker.GetByIdAsync(address, 2, TimeSpan.Zero), ErrorReasons.NoData);
        Assert.Equal("2", missing.Metadata["id"]);
        await Fails(() => broker.GetByIdAsync(address, 0, TimeSpan.Zero), ErrorReasons.WrongInput);
        await broker.FinishStreamAsync(address, 3, "").DefaultTimeout();
        var call = broker.GetByIdAsync(address, 4, TimeSpan.FromSeconds(10));
        await Fails(() => call.DefaultTimeout(), ErrorReasons.StreamFinished);
    }

    [Fact]
    public async Task GetNextDataset_ThreePartsOutOfOrderFromThreeProducers_ServedOnlyWhenComplete()
    {
        await Task.WhenAll(new uint[] { 3, 1 }.Select(k => Task.Run(() => broker.SendAsync(address, Message(1, substream: k, size: 3))))).DefaultTimeout();
        var call = broker.GetNextDatasetAsync(address, "g", 0, TimeSpan.FromSeconds(10));
        await Task.Yield();
        Assert.False(call.IsCompleted);
        await broker.SendAsync(address, Message(1, substream: 2, size: 3)).DefaultTimeout();
        var dataset = await call.DefaultTimeout();
        Assert.Equal([1u, 2, 3], dataset.Parts.Select(p => p.DatasetSubstream));
        Assert.Equal(3u, dataset.ExpectedSize);
        Assert.Equal(1UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
        await Fails(() => broker.GetNextAsync(address, "plain", TimeSpan.Zero), ErrorReasons.IsDataset);
    }

    [Fact]
    public async Task GetNextDataset_MinSizeTwoOfThree_ServedWithExactlyTwoParts()
    {
        await broker.SendAsync(address, Message(1, substream: 1, size: 3)).DefaultTimeout();
        await broker.SendAsync(address, Message(1, substream: 3, size: 3)).DefaultTimeout();
        var dataset = await broker.GetNextDatasetAsync(address, "g", 2, TimeSpan.Zero).DefaultTimeout();
        Assert.Equal([1u, 3], dataset.Parts.Select(p => p.DatasetSubstream));
        Assert.Equal(1UL, await broker.GetCurrentDatasetCountAsync(address, includeIncomplete: true).DefaultTimeout());
        Assert.Equal(0UL, await broker.GetCurrentDatasetCountAsync(address, includeIncomplete: false).DefaultTimeout());
    }

    [Fact]
    public async Task GetNextDataset_MinSizeThreeWithTwoParts_PartialDataWithThePartsAfterGrace()
    {
        await broker.SendAsync(address, Message(1, substream: 1, size: 3)).DefaultTimeout();
        await broker.SendAsync(address, Message(1, substream: 2, size: 3)).DefaultTimeout();
        var call = broker.GetNextDatasetAsync(address, "g", 3, TimeSpan.FromSeconds(2));
        time.Advance(TimeSpan.FromSeconds(2));
        var ex = await Fails(() => call.DefaultTimeout(), ErrorReasons.PartialData);
        Assert.Equal(BrokerErrorCode.FailedPrecondition, ex.Code);
        Assert.Equal([1u, 2], ex.PartialDataset!.Parts.Select(p => p.DatasetSubstream));
        Assert.Equal("3", ex.Metadata["expected_size"]);
    }

    [Fact]
    public async Task Acknowledge_Twice_AlreadyAcknowledgedAndAckManyReportsWithoutFailing()
    {
        await broker.SendIds(address, 1, 2, 3);
        await broker.AcknowledgeAsync(address, "g", 1).DefaultTimeout();
        await Fails(() => broker.AcknowledgeAsync(address, "g", 1), ErrorReasons.AlreadyAcknowledged);
        Assert.Equal([1UL], await broker.AcknowledgeManyAsync(address, "g", [1, 2]).DefaultTimeout());
        await Fails(() => broker.AcknowledgeManyAsync(address, "g", [3, 9]), ErrorReasons.UnknownId);
        Assert.Equal(2UL, await broker.GetLastAcknowledgedAsync(address, "g").DefaultTimeout());
        await Fails(() => broker.GetLastAcknowledgedAsync(address, "other"), ErrorReasons.NoData);
    }

    [Fact]
    public async Task NegativeAcknowledge_WithDelay_RedeliveredAfterTheDelayAndNotBefore()
    {
        await broker.SendIds(address, 1);
        await Fails(() => broker.NegativeAcknowledgeAsync(address, "g", 1, 0), ErrorReasons.NotDelivered);
        await Next();
        await broker.NegativeAcknowledgeAsync(address, "g", 1, 5000).DefaultTimeout();

        time.Advance(TimeSpan.FromMilliseconds(4999));
        await Fails(() => Next(), ErrorReasons.EndOfStream);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var again = await Next();
        Assert.Equal((1UL, 2u, RedeliveryReason.Nack), (again.Id, again.DeliveryCount, again.RedeliveryReason));
    }

    [Fact]
    public async Task GetNext_UnackedUnderResend_RedeliveredExactlyMaxAttemptsThenExhausted()
    {
        await broker.SendIds(address, 1);
        Assert.Equal(1u, (await Next(resend: Resend)).DeliveryCount);
        for (uint attempt = 1; attempt <= Resend.MaxAttempts; attempt++)
        {
            time.Advance(TimeSpan.FromMilliseconds(999));
            await Fails(() => Next(resend: Resend), ErrorReasons.EndOfStream);
            time.Advance(TimeSpan.FromMilliseconds(1));
            var again = await Next(resend: Resend);
            Assert.Equal((1UL, attempt + 1, RedeliveryReason.Resend), (again.Id, again.DeliveryCount, again.RedeliveryReason));
        }

        time.Advance(TimeSpan.FromSeconds(10));
        await Fails(() => Next(resend: Resend), ErrorReasons.EndOfStream);
        var unacked = await broker.GetUnacknowledgedAsync(address, "g", 0, 0).DefaultTimeout();
        Assert.True(Assert.Single(unacked.Entries).Exhausted);
    }

    [Fact]
    public async Task GetNext_WaitingUnderResend_WakesAtTheRedeliveryDeadline()
    {
        await broker.SendIds(address, 1);
        await Next(resend: Resend);
        var call = broker.GetNextAsync(address, "g", TimeSpan.FromSeconds(30), resend: Resend);
        time.Advance(Second);
        var again = await call.DefaultTimeout();
        Assert.Equal(RedeliveryReason.Resend, again.RedeliveryReason);
    }

    [Fact]
    public async Task GetUnacknowledged_Range_ReturnsExactlyUnackedIdsIncludingUndeliveredAndMissing()
    {
        await broker.SendIds(address, 1, 2, 3, 5, 6);
        await Next();
        await Next();
        await broker.AcknowledgeManyAsync(address, "g", [2, 5]).DefaultTimeout();

        var all = await broker.GetUnacknowledgedAsync(address, "g", 0, 0).DefaultTimeout();
        Assert.Equal([1UL, 3, 4, 6], all.Entries.Select(e => e.Id));
        Assert.True(all.Entries.Single(e => e.Id == 4).Gap);
        Assert.True(all.Entries.Single(e => e.Id == 1).Delivered);
        Assert.False(all.Entries.Single(e => e.Id == 3).Delivered);
        var range = await broker.GetUnacknowledgedAsync(address, "g", 3, 5).DefaultTimeout();
        Assert.Equal([3UL, 4], range.Entries.Select(e => e.Id));
    }

    [Fact]
    public async Task SetLastRead_Five_NextIsSixAndRedeliveriesAboveAreDroppedAndResetReplays()
    {
        await broker.SendIds(address, 1, 2, 3, 4, 5, 6, 7, 8);
        for (var i = 0; i < 7; i++)
        {
            await Next(resend: Resend);
        }

        await broker.SetLastReadAsync(address, "g", 5).DefaultTimeout();
        time.Advance(TimeSpan.FromSeconds(2));
        var ids = new List<ulong>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add((await Next()).Id);
        }

        // Ids 1..5 are due for resend (kept); 6 and 7 lost their in-flight entries and come through the pointer again.
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5, 6, 7, 8 }, ids.Order().ToArray());
        Assert.Equal([6UL, 7, 8], ids.Skip(5));
        await broker.SetLastReadAsync(address, "g", 0).DefaultTimeout();
        Assert.Equal(1UL, (await Next()).Id);
    }

    [Fact]
    public async Task ResetLastRead_UnderResend_AnAlreadyAckedIdReadAgainIsNeverInFlight_TheFinishComesAtOnce()
    {
        // A restarted merge rebuilds its file by reading the group again from id 1 under a resend policy; ids its dead
        // predecessor had acked must not wait out their resend deadlines (nor hold back the finish): the group already
        // has them, and acking them again is refused as "already acknowledged".
        await broker.SendIds(address, 1, 2, 3);
        await broker.FinishStreamAsync(address, 3, "").DefaultTimeout();
        await Next(resend: Resend);
        await Next(resend: Resend);
        await broker.AcknowledgeAsync(address, "g", 1).DefaultTimeout();

        await broker.SetLastReadAsync(address, "g", 0).DefaultTimeout();
        Assert.Equal([1UL, 2, 3], new[] { (await Next(resend: Resend)).Id, (await Next(resend: Resend)).Id, (await Next(resend: Resend)).Id });
        Assert.Equal([1UL], await broker.AcknowledgeManyAsync(address, "g", [1, 2, 3]).DefaultTimeout());

        Assert.Empty((await broker.GetUnacknowledgedAsync(address, "g", 0, 0).DefaultTimeout()).Entries);
        await Fails(() => Next(resend: Resend), ErrorReasons.StreamFinished);
        time.Advance(TimeSpan.FromSeconds(10));
        await Fails(() => Next(resend: Resend), ErrorReasons.StreamFinished);
    }

    [Fact]
    public async Task GetNext_AfterSetLastReadBeyondHighest_WaitsForValuePlusOne()
    {
        await broker.SendIds(address, 1);
        await broker.SetLastReadAsync(address, "g", 10).DefaultTimeout();
        await Fails(() => Next(), ErrorReasons.EndOfStream);
        await broker.SendIds(address, 11);
        Assert.Equal(11UL, (await Next()).Id);
    }
}
