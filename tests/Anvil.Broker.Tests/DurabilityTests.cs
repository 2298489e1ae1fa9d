using Anvil.Broker.Core;
using Anvil.Testing;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>docs/broker.md §7 and checklist items 26, 29: what a durable broker brings back after it is reopened on the same data directory.</summary>
public sealed class DurabilityTests : IDisposable
{
    private static readonly ResendPolicy Resend = new(DelayMs: 1000, MaxAttempts: 3);
    private readonly TempDir dir = new();
    private readonly ManualTimeProvider time = new();
    private readonly StreamAddress address = Address();

    public void Dispose() => dir.Dispose();

    [Theory]
    [InlineData(FsyncPolicy.Always)]
    [InlineData(FsyncPolicy.Interval)]
    public async Task Reopen_AfterSendsAndGroupChanges_RestoresRecordsPointersAcksAndRedeliveries(FsyncPolicy fsync)
    {
        await using (var broker = Open(fsync))
        {
            for (ulong id = 1; id <= 6; id++)
            {
                if (id != 4)
                {
                    await broker.SendAsync(address, Message(id, meta: $"{{\"n\":{id}}}", payload: [(byte)id, 9, 9])).DefaultTimeout();
                }
            }

            await broker.SendAsync(address, Message(10, substream: 1, size: 2)).DefaultTimeout();
            await broker.PutStreamMetaAsync(address, "{\"scan\":1}", MetaMode.Replace).DefaultTimeout();
            await broker.PutBeamtimeMetaAsync(address, "{\"pi\":\"x\"}", MetaMode.Replace).DefaultTimeout();
            Assert.Equal(1UL, (await Next(broker, "g", Resend)).Id);
            Assert.Equal(2UL, (await Next(broker, "g", Resend)).Id);
            Assert.Equal(3UL, (await Next(broker, "g")).Id);
            await broker.AcknowledgeAsync(address, "g", 1).DefaultTimeout();
            await broker.NegativeAcknowledgeAsync(address, "g", 3, 5000).DefaultTimeout();

            // Id 2's resend deadline passes first; then id 4, missing, is declared a gap (the grace has passed).
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.Equal(2UL, (await Next(broker, "g", Resend)).Id);
            await Fails(() => Next(broker, "g"), ErrorReasons.NoData);
            await broker.SetLastReadAsync(address, "other", 5).DefaultTimeout();
            await broker.FinishStreamAsync(address, 10, "next").DefaultTimeout();
        }

        await using (var broker = Open(fsync))
        {
            var record = await broker.GetByIdAsync(address, 5, TimeSpan.Zero, includePayload: true).DefaultTimeout();
            Assert.Equal("frame_00005", record.Name);
            Assert.Equal("{\"n\":5}", record.Meta);
            Assert.Equal(new byte[] { 5, 9, 9 }, record.Payload.ToArray());
            Assert.Equal(6UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
            Assert.Equal("{\"scan\":1}", await broker.GetStreamMetaAsync(address, TimeSpan.Zero).DefaultTimeout());
            Assert.Equal("{\"pi\":\"x\"}", await broker.GetBeamtimeMetaAsync(address, TimeSpan.Zero).DefaultTimeout());
            var info = await broker.GetStreamInfoAsync(address).DefaultTimeout();
            Assert.True(info.Finished);
            Assert.Equal("next", info.NextStream);
            Assert.Equal(1UL, await broker.GetLastAcknowledgedAsync(address, "g").DefaultTimeout());
            var gaps = await broker.ListGapsAsync(address, "g").DefaultTimeout();
            Assert.Equal(4UL, Assert.Single(gaps).Id);

            // The pointer is past the gap: 5 comes next; 3 only when its nack is due; 2 when its resend deadline passes.
            Assert.Equal(5UL, (await Next(broker, "g")).Id);
            time.Advance(TimeSpan.FromSeconds(5));
            var redelivered = new[] { await Next(broker, "g"), await Next(broker, "g") }.OrderBy(m => m.Id).ToArray();
            Assert.Equal([2UL, 3UL], redelivered.Select(m => m.Id));
            Assert.Equal(RedeliveryReason.Resend, redelivered[0].RedeliveryReason);
            Assert.Equal(3u, redelivered[0].DeliveryCount);
            Assert.Equal(RedeliveryReason.Nack, redelivered[1].RedeliveryReason);
            Assert.Equal(6UL, (await Next(broker, "other")).Id);

            // A late id declared a gap before the restart is still delivered LATE.
            await broker.SendAsync(address, Message(4)).DefaultTimeout();
            var late = await Next(broker, "g");
            Assert.Equal((4UL, RedeliveryReason.Late), (late.Id, late.RedeliveryReason));
        }
    }

    [Theory]
    [InlineData(FsyncPolicy.Always)]
    [InlineData(FsyncPolicy.Interval)]
    public async Task SendMany_MixedBatch_EachMessageStoredOrFailedAloneAndDurable(FsyncPolicy fsync)
    {
        var other = Address("other");
        var batch = new List<(StreamAddress, OutgoingMessage)>();
        for (ulong id = 1; id <= 100; id++)
        {
            batch.Add((id % 10 == 0 ? other : address, Message(id, meta: id == 42 ? "[1]" : $"{{\"n\":{id}}}")));
        }

        batch.Add((address, Message(7, meta: "{\"n\":7}"))); // an identical resend inside the batch
        batch.Add((address, Message(8, meta: "{\"n\":0}"))); // a conflicting one
        batch.Add((new StreamAddress(""), Message(1)));
        await using (var broker = Open(fsync))
        {
            var results = await broker.SendManyAsync(batch).DefaultTimeout();
            Assert.Equal(103, results.Count);
            Assert.Equal(ErrorReasons.WrongInput, results[41].Error!.Reason);
            Assert.True(results[100].Outcome!.Duplicate);
            Assert.Equal(ErrorReasons.ConflictingDuplicate, results[101].Error!.Reason);
            Assert.NotNull(results[102].Error);
            Assert.Equal(99, results.Take(100).Count(r => r.Outcome is { Duplicate: false }));
        }

        await using var reopened = Open(fsync);
        Assert.Equal(89UL, await reopened.GetCurrentSizeAsync(address).DefaultTimeout());
        Assert.Equal(10UL, await reopened.GetCurrentSizeAsync(other).DefaultTimeout());
        Assert.Equal("{\"n\":8}", (await reopened.GetByIdAsync(address, 8, TimeSpan.Zero)).Meta);
        Assert.Equal("frame_00050", (await reopened.GetByIdAsync(other, 50, TimeSpan.Zero)).Name);
    }

    [Fact]
    public async Task Reopen_ManySegments_SealedOnesLoadFromTheirIndexAndCorruptionIsReported()
    {
        var ids = Enumerable.Range(1, 300).Select(i => (ulong)i).ToArray();
        await using (var broker = Open(segmentBytes: 2048))
        {
            await broker.SendIds(address, ids[..150]);
        }

        // Reopened mid-segment: the tail's index entries are rebuilt, so its checkpoint is complete when it seals.
        await using (var broker = Open(segmentBytes: 2048))
        {
            await broker.SendIds(address, ids[150..]);
            await broker.FinishStreamAsync(address, 300, "").DefaultTimeout();
        }

        var streamDir = Path.GetDirectoryName(Directory.EnumerateFiles(dir.Path, "seg-000000.log", SearchOption.AllDirectories).Single())!;
        var segments = Directory.GetFiles(streamDir, "seg-*.log").Length;
        Assert.True(segments > 10, $"only {segments} segments");
        Assert.Equal(segments - 1, Directory.GetFiles(streamDir, "seg-*.idx").Length);

        await using (var reopened = Open(segmentBytes: 2048))
        {
            Assert.Equal(300UL, await reopened.GetCurrentSizeAsync(address).DefaultTimeout());
            Assert.True((await reopened.GetStreamInfoAsync(address).DefaultTimeout()).Finished);
            foreach (var id in ids)
            {
                Assert.Equal($"frame_{id:D5}", (await reopened.GetByIdAsync(address, id, TimeSpan.Zero)).Name);
            }
        }

        // A flipped byte in a sealed segment: its checkpoint still loads, and the read of that record reports it.
        var first = Path.Combine(streamDir, "seg-000000.log");
        var bytes = await File.ReadAllBytesAsync(first);
        bytes[20] ^= 0x01;
        await File.WriteAllBytesAsync(first, bytes);
        await using (var reopened = Open(segmentBytes: 2048))
        {
            var ex = await Assert.ThrowsAsync<BrokerException>(() => reopened.GetByIdAsync(address, 1, TimeSpan.Zero));
            Assert.Equal((BrokerErrorCode.Unavailable, ErrorReasons.StorageUnavailable), (ex.Code, ex.Reason));
            Assert.Equal("frame_00300", (await reopened.GetByIdAsync(address, 300, TimeSpan.Zero)).Name);
        }

        // Without the checkpoints the sealed segment is scanned: the stream is refused as a whole.
        foreach (var idx in Directory.GetFiles(streamDir, "seg-*.idx"))
        {
            File.Delete(idx);
        }

        await using (var reopened = Open(segmentBytes: 2048))
        {
            var ex = await Assert.ThrowsAsync<BrokerException>(() => reopened.GetCurrentSizeAsync(address));
            Assert.Equal(ErrorReasons.StorageUnavailable, ex.Reason);
            Assert.Equal(0UL, await reopened.GetCurrentSizeAsync(Address("other")).DefaultTimeout());
        }
    }

    [Fact]
    public async Task Reopen_WithTornTail_CutsItAndKeepsEarlierRecords()
    {
        await using (var broker = Open())
        {
            await broker.SendIds(address, 1, 2, 3);
        }

        var segment = Directory.EnumerateFiles(dir.Path, "seg-000000.log", SearchOption.AllDirectories).Single();
        var length = new FileInfo(segment).Length;
        using (var file = File.OpenHandle(segment, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(file, length - 3);
        }

        await using (var broker = Open())
        {
            Assert.Equal(2UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
            Assert.Equal("frame_00002", (await broker.GetByIdAsync(address, 2, TimeSpan.Zero)).Name);
            await Fails(() => broker.GetByIdAsync(address, 3, TimeSpan.Zero), ErrorReasons.EndOfStream);

            // The cut tail is reused: id 3 can be sent again and survives another restart.
            await broker.SendIds(address, 3);
        }

        await using (var again = Open())
        {
            Assert.Equal(3UL, await again.GetCurrentSizeAsync(address).DefaultTimeout());
        }
    }

    [Fact]
    public async Task Reopen_WithBitFlipInLastRecord_CutsItAndKeepsEarlierRecords()
    {
        await using (var broker = Open())
        {
            await broker.SendIds(address, 1, 2, 3);
        }

        var segment = Directory.EnumerateFiles(dir.Path, "seg-000000.log", SearchOption.AllDirectories).Single();
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[^2] ^= 0x10;
        await File.WriteAllBytesAsync(segment, bytes);

        await using var reopened = Open();
        Assert.Equal(2UL, await reopened.GetCurrentSizeAsync(address).DefaultTimeout());
        Assert.Equal("frame_00001", (await reopened.GetByIdAsync(address, 1, TimeSpan.Zero)).Name);
    }

    [Fact]
    public async Task DeleteStream_ThenReopen_StreamStaysGoneAndIdsRestartAtOne()
    {
        await using (var broker = Open())
        {
            await broker.SendIds(address, 1, 2);
            await Next(broker, "g");
            await broker.PutStreamMetaAsync(address, "{}", MetaMode.Replace).DefaultTimeout();
            Assert.True(await broker.DeleteStreamAsync(address).DefaultTimeout());
            await broker.SendIds(address, 1);
        }

        await using var reopened = Open();
        Assert.Equal(1UL, await reopened.GetCurrentSizeAsync(address).DefaultTimeout());
        Assert.Equal(1UL, (await Next(reopened, "g")).Id);
        await Fails(() => reopened.GetStreamMetaAsync(address, TimeSpan.Zero), ErrorReasons.NoData);
    }

    [Fact]
    public async Task GroupJournal_PastCompactionSize_IsSnapshottedAndReplaysTheSameState()
    {
        const int count = 400;
        await using (var broker = Open(compactBytes: 4096))
        {
            await broker.SendIds(address, [.. Enumerable.Range(1, count).Select(i => (ulong)i)]);
            for (var i = 1; i <= count; i++)
            {
                var m = await Next(broker, "g", Resend);
                if (m.Id % 3 != 0)
                {
                    await broker.AcknowledgeAsync(address, "g", m.Id).DefaultTimeout();
                }
            }
        }

        var journal = Directory.EnumerateFiles(dir.Path, "*.journal", SearchOption.AllDirectories).Single();
        Assert.True(new FileInfo(journal).Length < 16_384, $"journal is {new FileInfo(journal).Length} bytes: it was not compacted");

        await using var reopened = Open(compactBytes: 4096);
        var unacked = await reopened.GetUnacknowledgedAsync(address, "g", 0, 0).DefaultTimeout();
        Assert.Equal(Enumerable.Range(1, count).Where(i => i % 3 == 0).Select(i => (ulong)i), unacked.Entries.Select(e => e.Id));
        Assert.All(unacked.Entries, e => Assert.Equal(1u, e.DeliveryCount));
        await Fails(() => Next(reopened, "g"), ErrorReasons.EndOfStream);
    }

    [Fact]
    public async Task InvalidArgument_EveryCall_LeavesTheDataDirectoryByteIdentical()
    {
        var root = Path.Combine(dir.Path, "root");
        Directory.CreateDirectory(root);
        await using var broker = new MessageBroker(new BrokerOptions { DataDir = Path.Combine(dir.Path, "data"), DataRoot = root, MaxInlineBytes = 64 }, time);
        await broker.SendIds(address, 1, 2);
        await broker.SendAsync(address, Message(5, substream: 1, size: 2)).DefaultTimeout();
        await Next(broker, "g");
        await broker.PutStreamMetaAsync(address, "{\"a\":1}", MetaMode.Replace).DefaultTimeout();
        var before = Fingerprint(Path.Combine(dir.Path, "data"));

        var bad = new Func<Task>[]
        {
            () => broker.SendAsync(address, Message(0)),
            () => broker.GetByIdAsync(address, 0, TimeSpan.Zero),
            () => broker.AcknowledgeAsync(address, "g", 0),
            () => broker.SendAsync(address, Message(1, meta: "[1]")),
            () => broker.SendAsync(address, Message(1, meta: "{\"other\":1}")),
            () => broker.SendAsync(address, Message(3, meta: "{not json")),
            () => broker.SendAsync(address, Message(3, payload: new byte[65])),
            () => broker.SendAsync(address, new OutgoingMessage { AutoId = true, Name = "x" }),
            () => broker.SendAsync(address, Message(5, substream: 1, size: 3)),
            () => broker.SendAsync(address, Message(2, substream: 1, size: 2)),
            () => broker.SendAsync(Address("new"), Message(1, name: "a/../b")),
            () => broker.SendAsync(Address("new"), Message(1, name: "")),
            () => broker.SendAsync(Address("new"), new OutgoingMessage { Id = 1, Name = "../x", PayloadKind = PayloadKind.File }),
            () => broker.SendAsync(Address("new"), new OutgoingMessage { Id = 1, Name = "/etc/passwd", PayloadKind = PayloadKind.File }),
            () => broker.SendAsync(new StreamAddress(""), Message(1)),
            () => broker.SendAsync(new StreamAddress("bad/beamtime"), Message(1)),
            () => broker.SendAsync(Address("x\u0001y"), Message(1)),
            () => broker.FinishStreamAsync(address, 1, ""),
            () => broker.FinishStreamAsync(address, 5, address.Stream),
            () => broker.GetNextAsync(address, "", TimeSpan.Zero),
            () => broker.GetNextAsync(address, "g", TimeSpan.FromMinutes(2)),
            () => broker.GetNextAsync(address, "g", TimeSpan.Zero, resend: new ResendPolicy(0, 1)),
            () => broker.AcknowledgeAsync(address, "g", 9),
            () => broker.AcknowledgeManyAsync(address, "g", [1, 9]),
            () => broker.AcknowledgeManyAsync(address, "g", [.. Enumerable.Range(1, 10_001).Select(i => (ulong)i)]),
            () => broker.NegativeAcknowledgeAsync(address, "g", 2, 0),
            () => broker.SetLastReadAsync(address, "", 1),
            () => broker.SetLastReadAsync(address, "g", ulong.MaxValue),
            () => broker.PutStreamMetaAsync(address, "[]", MetaMode.Replace),
            () => broker.PutStreamMetaAsync(address, "{}", MetaMode.Insert),
            () => broker.PutStreamMetaAsync(Address("new"), "{}", MetaMode.Update, upsert: false),
            () => broker.PutBeamtimeMetaAsync(address, "1", MetaMode.Replace),
            () => broker.DeleteStreamAsync(Address("new")),
            () => broker.QueryAsync(address, "meta.a REGEXP 'x'", 0),
        };
        foreach (var call in bad)
        {
            var ex = await Assert.ThrowsAsync<BrokerException>(call);
            Assert.Equal(BrokerErrorCode.InvalidArgument, ex.Code);
            Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        }

        Assert.Equal(before, Fingerprint(Path.Combine(dir.Path, "data")));
    }

    private static string Fingerprint(string dir) =>
        string.Join("\n", Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(dir, f)} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))}"));

    [Theory]
    [InlineData(FsyncPolicy.Always, 4L * 1024 * 1024)]
    [InlineData(FsyncPolicy.Interval, 4L * 1024 * 1024)]
    [InlineData(FsyncPolicy.Always, 512)]
    public async Task Reopen_AfterGetNextManyAndAcknowledgeMany_RestoresPointerAcksAndInFlight(FsyncPolicy fsync, long compactBytes)
    {
        // The batched calls write their journal records with one write each; a small compaction threshold makes a
        // batch cross a compaction.
        await using (var broker = Open(fsync, compactBytes))
        {
            for (ulong id = 1; id <= 40; id++)
            {
                await broker.SendAsync(address, Message(id)).DefaultTimeout();
            }

            var first = await broker.GetNextManyAsync(address, "g", 25, TimeSpan.Zero, resend: Resend).DefaultTimeout();
            Assert.Equal(Enumerable.Range(1, 25).Select(i => (ulong)i), first.Messages.Select(m => m.Id));
            Assert.Empty(await broker.AcknowledgeManyAsync(address, "g", [.. Enumerable.Range(1, 20).Select(i => (ulong)i)]).DefaultTimeout());
        }

        await using (var broker = Open(fsync, compactBytes))
        {
            var unacked = await broker.GetUnacknowledgedAsync(address, "g", 1, 40).DefaultTimeout();
            Assert.Equal([21UL, 22, 23, 24, 25], unacked.Entries.Where(e => e.Delivered).Select(e => e.Id));
            Assert.Equal(26UL, (await Next(broker, "g")).Id);
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.Equal(21UL, (await Next(broker, "g", Resend)).Id);
        }
    }

    [Fact]
    public async Task Reads_SequentialAndByIdAcrossSegments_ReturnWhatWasStored()
    {
        // Sequential reads go through the log's read-ahead buffer, reads by id mostly not; small segments make both
        // cross segment boundaries, and sends between reads make the buffer meet newly appended records.
        await using var broker = Open(FsyncPolicy.Interval, segmentBytes: 16 * 1024);
        static byte[] Payload(ulong id) => [.. Enumerable.Range(0, 300 + (int)(id % 7) * 50).Select(i => (byte)(i + (int)id))];
        for (ulong id = 1; id <= 150; id++)
        {
            await broker.SendAsync(address, Message(id, meta: $"{{\"n\":{id}}}", payload: Payload(id))).DefaultTimeout();
        }

        for (ulong id = 1; id <= 200; id++)
        {
            if (id > 150)
            {
                await broker.SendAsync(address, Message(id, meta: $"{{\"n\":{id}}}", payload: Payload(id))).DefaultTimeout();
            }

            var next = await broker.GetNextAsync(address, "g", TimeSpan.Zero, includePayload: true).DefaultTimeout();
            Assert.Equal(id, next.Id);
            Assert.Equal($"{{\"n\":{id}}}", next.Meta);
            Assert.Equal(Payload(id), next.Payload.ToArray());
            if (id % 10 == 0)
            {
                var back = (id / 3) + 1;
                var byId = await broker.GetByIdAsync(address, back, TimeSpan.Zero, includePayload: true).DefaultTimeout();
                Assert.Equal(Payload(back), byId.Payload.ToArray());
            }
        }
    }

    [Fact]
    public async Task Reopen_AfterTheGraceOfAMissingIdPassed_DeclaresTheGapAtOnce()
    {
        await using (var broker = Open())
        {
            await broker.SendIds(address, 1, 3, 4);
            Assert.Equal(1UL, (await Next(broker, "g")).Id);
        }

        // The gap's age counts from when id 3 was stored, so the restart does not start the grace again (§5).
        time.Advance(TimeSpan.FromSeconds(2));
        await using (var broker = Open())
        {
            await Fails(() => Next(broker, "g"), ErrorReasons.NoData);
            Assert.Equal(3UL, (await Next(broker, "g")).Id);
        }
    }

    [Fact]
    public async Task Reopen_BeforeTheGraceOfAMissingIdPassed_StillWaitsForIt()
    {
        await using (var broker = Open())
        {
            await broker.SendIds(address, 1, 3);
            Assert.Equal(1UL, (await Next(broker, "g")).Id);
        }

        time.Advance(TimeSpan.FromMilliseconds(300));
        await using (var broker = Open())
        {
            var ex = await Fails(() => Next(broker, "g"), ErrorReasons.EndOfStream);
            Assert.Equal("2", ex.Metadata["waiting_for_id"]);
            time.Advance(TimeSpan.FromMilliseconds(800));
            await Fails(() => Next(broker, "g"), ErrorReasons.NoData);
        }
    }

    [Theory]
    [InlineData(FsyncPolicy.Always)]
    [InlineData(FsyncPolicy.Interval)]
    public async Task Send_DiskFull_FailsWithStorageFullAndStoresNothing(FsyncPolicy fsync)
    {
        await using var broker = Open(fsync);

        // The stream's first segment is /dev/full: every write to it fails with ENOSPC, as on a full disk.
        var directory = new Anvil.Broker.Core.Storage.BrokerStorage(dir.Path).EnsureStreamDirectory(Validation.Stream(address, broker.Options));
        File.CreateSymbolicLink(Anvil.Broker.Core.Storage.FileLog.SegmentPath(directory, 0), "/dev/full");

        var ex = await Fails(() => broker.SendAsync(address, Message(1)), ErrorReasons.StorageFull);
        Assert.Equal(BrokerErrorCode.ResourceExhausted, ex.Code);
        Assert.Contains("disk is full", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0UL, await broker.GetCurrentSizeAsync(address).DefaultTimeout());
        await Fails(() => broker.GetByIdAsync(address, 1, TimeSpan.Zero), ErrorReasons.EndOfStream);

        var batch = await Fails(() => broker.SendManyAsync([(address, Message(2)), (address, Message(3))]), ErrorReasons.StorageFull);
        Assert.Equal(BrokerErrorCode.ResourceExhausted, batch.Code);

        // After the failed batch the log is out of batch mode: a later send still goes to the disk and fails, and no
        // reader is served the batch's records, which never reached the OS.
        await Fails(() => broker.SendAsync(address, Message(4)), ErrorReasons.StorageFull);
        await Fails(() => broker.GetByIdAsync(address, 2, TimeSpan.Zero), ErrorReasons.StorageFull);
    }

    private MessageBroker Open(FsyncPolicy fsync = FsyncPolicy.Always, long compactBytes = 4L * 1024 * 1024, long segmentBytes = 64L << 20) =>
        new(new BrokerOptions { DataDir = dir.Path, Fsync = fsync, JournalCompactBytes = compactBytes, SegmentBytes = segmentBytes }, time);

    private static Task<MessageRecord> Next(MessageBroker broker, string group, ResendPolicy? resend = null) =>
        broker.GetNextAsync(Address(), group, TimeSpan.Zero, resend: resend).DefaultTimeout();
}
