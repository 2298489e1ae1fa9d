using System.Diagnostics;
using Anvil.Broker.Core;
using Anvil.Testing;
using Xunit.Abstractions;
using static Anvil.Broker.Tests.BrokerTestHelpers;

namespace Anvil.Broker.Tests;

/// <summary>Checklist item 30: a stream of 1 000 000 messages keeps memory bounded (payloads stay on disk).</summary>
public sealed class ScaleTests(ITestOutputHelper output) : IDisposable
{
    private const int Count = 1_000_000;
    private const int PayloadBytes = 512;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Send_MillionMessages_HeapGrowsByTheIndexOnlyAndReadsComeFromDisk()
    {
        var address = Address("million");
        var payload = new byte[PayloadBytes];
        await using var broker = new MessageBroker(new BrokerOptions { DataDir = _dir.Path, Fsync = FsyncPolicy.Interval });
        var baseline = Heap();
        long atFifth = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var id = 1; id <= Count; id++)
        {
            payload[0] = (byte)id;
            await broker.SendAsync(address, new OutgoingMessage { Id = (ulong)id, Name = "frame", Meta = "{\"scan\":1}", Payload = payload });
            if (id == Count / 5)
            {
                atFifth = Heap();
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
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
