using Anvil.Broker.Core;
using Anvil.Hosting;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>
/// docs/broker.md §7, a full disk under reads: a read whose group change cannot be journalled fails with STORAGE_FULL and
/// is undone. Its consumer never got the delivery, so it uses up no resend: however often the read is retried while the
/// disk is full, once there is room the same id comes, as a first delivery, and the stream finishes only after every id
/// was delivered and acknowledged. (Before the fix each failed read counted as an attempt; after MaxAttempts failures the
/// id was exhausted, the group moved on and the stream finished without it: frames went missing under a real suite.)
/// On a real tmpfs filled to the last byte: the group journal's last page takes a few more records, then reads fail.
/// </summary>
public sealed class DiskFullReadTests : IDisposable
{
    private static readonly ResendPolicy Resend = new(DelayMs: 5000, MaxAttempts: 3);
    private readonly FullDisk disk = FullDisk.Mount(megabytes: 4);
    private readonly ManualTimeProvider time = new();
    private readonly StreamAddress address = Address();

    public void Dispose() => disk.Dispose();

    private const int Messages = 600;

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Read_DiskFull_RetriedOftenerThanMaxAttempts_SameIdComesOnceThereIsRoom_NothingSkipped(int pull)
    {
        var broker = new MessageBroker(new BrokerOptions { DataDir = disk.Path }, time);
        await using (broker)
        {
            await Run(broker, pull);
        }

        // The journal on disk agrees with memory: reopened, the group holds every ack and nothing in flight.
        await using var reopened = new MessageBroker(new BrokerOptions { DataDir = disk.Path }, time);
        await reopened.Recovery.DefaultTimeout();
        Assert.Empty((await reopened.GetUnacknowledgedAsync(address, "g", 0, 0).DefaultTimeout()).Entries);
        Assert.Equal((ulong)Messages, await reopened.GetLastAcknowledgedAsync(address, "g").DefaultTimeout());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Read_DiskFullBeforeTheGroupsJournalExists_FailsUntilThereIsRoom_ThenStartsAtTheFirstId(int pull)
    {
        await using var broker = new MessageBroker(new BrokerOptions { DataDir = disk.Path }, time);
        await broker.SendIds(address, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        disk.Fill(bytesLeft: 0);

        // The group's first read must create its journal, which a full disk refuses: the read is undone, pointer and all.
        for (var retry = 0; retry < 2 * (Resend.MaxAttempts + 1); retry++)
        {
            await Fails(() => Read(broker, pull), ErrorReasons.StorageFull);
        }

        disk.MakeRoom();
        var first = await broker.GetNextManyAsync(address, "g", pull, TimeSpan.Zero, resend: Resend).DefaultTimeout();
        Assert.Equal(1UL, first.Messages[0].Id);
        Assert.All(first.Messages, m => Assert.Equal(1u, m.DeliveryCount));
        Assert.Equal(Enumerable.Range(1, pull).Select(i => (ulong)i), first.Messages.Select(m => m.Id));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Read_RecordsWaitingForRoom_FailUntilThereIsRoom_ThenComeAsFirstDeliveries_NoResendWait(int pull)
    {
        await using var broker = new MessageBroker(new BrokerOptions { DataDir = disk.Path }, time);
        await broker.SendIds(address, 1);
        Assert.Equal(1UL, (await Read(broker, pull)).Single());
        await broker.AcknowledgeAsync(address, "g", 1).DefaultTimeout();

        // A batch of sends the full disk refused: its records wait in memory for room, and no reader gets them before.
        disk.Fill(bytesLeft: 0);
        var batch = Enumerable.Range(2, 199).Select(i => (address, Message((ulong)i, payload: new byte[200]))).ToArray();
        await Fails(() => broker.SendManyAsync(batch), ErrorReasons.StorageFull);
        for (var retry = 0; retry < 2 * (Resend.MaxAttempts + 1); retry++)
        {
            await Fails(() => Read(broker, pull), ErrorReasons.StorageFull);
        }

        // Room again: id 2 comes next, a first delivery, without waiting out a resend delay (the clock has not moved).
        disk.MakeRoom();
        var delivered = new List<ulong>();
        while (delivered.Count < 199)
        {
            var next = await broker.GetNextManyAsync(address, "g", pull, TimeSpan.Zero, resend: Resend).DefaultTimeout();
            Assert.All(next.Messages, m => Assert.Equal(1u, m.DeliveryCount));
            delivered.AddRange(next.Messages.Select(m => m.Id));
        }

        Assert.Equal(Enumerable.Range(2, 199).Select(i => (ulong)i), delivered);
    }

    private async Task Run(MessageBroker broker, int pull)
    {
        await broker.SendIds(address, Enumerable.Range(1, Messages).Select(i => (ulong)i).ToArray());
        var delivered = new List<ulong>();

        // The first read opens the group's journal; then the disk is filled, and reads go on until its last page is full.
        delivered.AddRange(await Read(broker, pull));
        disk.Fill(bytesLeft: 0);
        BrokerException? full = null;
        while (full is null && delivered.Count < Messages)
        {
            try
            {
                delivered.AddRange(await Read(broker, pull));
            }
            catch (BrokerException ex) when (ex.Reason == ErrorReasons.StorageFull)
            {
                full = ex;
            }
        }

        Assert.True(full is not null, $"the disk never filled up: {delivered.Count} ids delivered");
        var next = delivered[^1] + 1;

        // The consumer retries, far more often than the resend policy allows attempts: every read fails the same way.
        for (var retry = 0; retry < 2 * (Resend.MaxAttempts + 1); retry++)
        {
            await Fails(() => Read(broker, pull), ErrorReasons.StorageFull);
        }

        // Room again: the id whose reads failed comes next, as a first delivery; nothing was skipped or used up.
        disk.MakeRoom();
        var after = await broker.GetNextManyAsync(address, "g", pull, TimeSpan.Zero, resend: Resend).DefaultTimeout();
        Assert.Equal(next, after.Messages[0].Id);
        Assert.All(after.Messages, m => Assert.Equal(1u, m.DeliveryCount));
        delivered.AddRange(after.Messages.Select(m => m.Id));
        while (delivered.Count < Messages)
        {
            delivered.AddRange(await Read(broker, pull));
        }

        Assert.Equal(Enumerable.Range(1, Messages).Select(i => (ulong)i), delivered);
        Assert.Equal(0, (await broker.GetUnacknowledgedAsync(address, "g", 0, 0).DefaultTimeout()).Entries.Count(e => e.Exhausted));
        await broker.FinishStreamAsync(address, Messages, string.Empty).DefaultTimeout();

        // Not finished while anything is unacknowledged; finished once all is.
        await Fails(() => Read(broker, pull), ErrorReasons.EndOfStream);
        await broker.AcknowledgeManyAsync(address, "g", delivered).DefaultTimeout();
        await Fails(() => Read(broker, pull), ErrorReasons.StreamFinished);
    }

    private async Task<IEnumerable<ulong>> Read(MessageBroker broker, int pull)
    {
        if (pull == 1)
        {
            return [(await broker.GetNextAsync(address, "g", TimeSpan.Zero, resend: Resend).DefaultTimeout()).Id];
        }

        var batch = await broker.GetNextManyAsync(address, "g", pull, TimeSpan.Zero, resend: Resend).DefaultTimeout();
        return batch.Messages.Select(m => m.Id);
    }
}
