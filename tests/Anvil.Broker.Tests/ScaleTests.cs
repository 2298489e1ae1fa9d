using System.Diagnostics;
using Anvil.Broker.Core;
using Anvil.Testing;
using Xunit.Abstractions;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>Checklist item 30: a stream of 1 000 000 messages keeps memory bounded (payloads stay on disk).</summary>
[Collection(AloneCollection.Name)]
public sealed class ScaleTests(ITestOutputHelper output) : IDisposable
{
    private const int Count = 1_000_000;
    private const int PayloadBytes = 512;
    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Send_MillionMessages_HeapGrowsByTheIndexOnlyAndReadsComeFromDisk()
    {
        var address = Address("million");
        var payload = new byte[PayloadBytes];
        var options = new BrokerOptions { DataDir = dir.Path, Fsync = FsyncPolicy.Interval };
        var broker = new MessageBroker(options);
        var baseline = Heap();
        long atFifth = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        const int batchSize = 1000;
        for (var first = 1; first <= Count; first += batchSize)
        {
            var batch = new (StreamAddress, OutgoingMessage)[batchSize];
            for (var i = 0; i < batchSize; i++)
            {
                var id = first + i;
                var bytes = new byte[PayloadBytes];
                bytes[0] = (byte)id;
                batch[i] = (address, new OutgoingMessage { Id = (ulong)id, Name = "frame", Meta = "{\"scan\":1}", Payload = bytes });
            }

            var results = await broker.SendManyAsync(batch);
            Assert.All(results, r => Assert.Null(r.Error));
            if (first + batchSize - 1 == Count / 5)
            {
                cpu += Process.GetCurrentProcess().TotalProcessorTime - HeapTimed(out atFifth);
            }
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var atEnd = Heap();
        var perMessage = (double)(atEnd - atFifth) / (Count - (Count / 5));
        output.WriteLine($"sent {Count} x {PayloadBytes} B in {seconds:F1} s ({Count / seconds:F0} msg/s wall, {Count / cpuSeconds:F0} msg/CPU-s); " +
            $"heap {baseline >> 20} -> {atFifth >> 20} -> {atEnd >> 20} MiB, {perMessage:F0} B/message");

        // The payloads alone are 488 MiB: the heap holds only the index (well under 128 B per message).
        Assert.True(perMessage < 128, $"heap grows by {perMessage:F0} B per message");
        Assert.True(atEnd - baseline < 160L << 20, $"heap grew by {(atEnd - baseline) >> 20} MiB");

        var read = await broker.GetByIdAsync(address, 777_777, TimeSpan.Zero, includePayload: true).DefaultTimeout();
        Assert.Equal(unchecked((byte)777_777), read.Payload.Span[0]);
        Assert.Equal(PayloadBytes, read.Payload.Length);

        // Consume and acknowledge a share of it (one consumer, payloads included).
        const int consumed = 200_000;
        cpu = Process.GetCurrentProcess().TotalProcessorTime;
        clock.Restart();
        for (var i = 1; i <= consumed; i++)
        {
            var m = await broker.GetNextAsync(address, "g", TimeSpan.Zero, includePayload: true);
            Assert.Equal((ulong)i, m.Id);
            await broker.AcknowledgeAsync(address, "g", m.Id);
        }

        seconds = clock.Elapsed.TotalSeconds;
        cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        output.WriteLine($"consumed+acked {consumed} in {seconds:F1} s ({consumed / seconds:F0} msg/s wall, {consumed / cpuSeconds:F0} msg/CPU-s)");
        Assert.Equal((ulong)consumed, await broker.GetLastAcknowledgedAsync(address, "g").DefaultTimeout());
        var journal = Directory.EnumerateFiles(dir.Path, "*.journal", SearchOption.AllDirectories).Single();
        Assert.True(new FileInfo(journal).Length < 8L << 20, "the group journal is compacted, not one record per change forever");
        await broker.DisposeAsync();

        // Recovery loads sealed segments from their index checkpoints and scans only the tail segment.
        clock.Restart();
        await using var reopened = new MessageBroker(options);
        output.WriteLine($"recovered {Count} messages in {clock.Elapsed.TotalSeconds:F2} s");
        Assert.Equal((ulong)Count, await reopened.GetCurrentSizeAsync(address).DefaultTimeout());
        Assert.Equal((ulong)consumed + 1, (await reopened.GetNextAsync(address, "g", TimeSpan.Zero).DefaultTimeout()).Id);
    }

    private static TimeSpan HeapTimed(out long heap)
    {
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        heap = Heap();
        return Process.GetCurrentProcess().TotalProcessorTime - before;
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

/// <summary>
/// Tests that force full garbage collections and fill the heap: they run alone, after the others, because a blocking
/// collection pauses every thread of the test process, in-process broker servers included, and would push their
/// latency-sensitive tests past their deadlines.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone";
}
