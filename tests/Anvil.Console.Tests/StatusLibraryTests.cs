using System.Diagnostics;
using Anvil.Console.Service.Status;
using Anvil.ServiceDefaults;
using Microsoft.Extensions.Logging;

namespace Anvil.Console.Tests;

/// <summary>The Status tab's log parsing and rate arithmetic, on their own.</summary>
public sealed class StatusLibraryTests
{
    // The .NET console logger's format as the services write it (ServiceDefaults: scopes, UTC timestamps), cut mid-entry
    // at the top as a tail is, with a line from native code in between.
    private const string Log = """
              Content root path: /somewhere
        2026-12-06T10:31:02.123Z info: Anvil.Stitch.Service.Planning.StitchPlanner[1002]
              stitch: acquisition a_1 started
        HDF5-DIAG: Error detected in HDF5 (1.10.8) thread 1:
          #000: H5F.c line 413 in H5Fopen(): unable to open file
        2026-12-06T10:31:03.000Z fail: Anvil.Stitch.Service.Planning.StitchPlanner[3001]
              => SpanId:1234567890abcdef, TraceId:fd3bc68abea362e08a6d33faca40d0f2, ParentId:0000000000000000
              Chunk part 0 of a_1 fails its frames: truncated file
        2026-12-06T10:31:04.500Z warn: Anvil.Workers.AcquisitionWorker[1001]
              stitch: broker unavailable; retrying
        """;

    [Fact]
    public void RecentLog_WritesWhatTheParserReads_TraceIdFromTheActivityScope_ExceptionKept_OldestLinesDropped()
    {
        // What a service keeps for ProcessStatus/GetLog where no supervisor keeps its output: the same shape.
        var recent = new RecentLog();
        using (var factory = LoggerFactory.Create(b => b
            .Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId)
            .AddProvider(new RecentLogProvider(recent))))
        {
            var logger = factory.CreateLogger("Anvil.Stitch.Service.Planning.StitchPlanner");
            logger.LogInformation("stitch: acquisition a_1 started");
            using var frame = new Activity("stitch chunk").Start();
            logger.LogError(new IOException("truncated file"), "Chunk part 0 of a_1 fails its frames");
            var entries = ServiceLogs.Parse(recent.Tail(100));
            Assert.Equal(["info", "fail"], entries.Select(e => e.Level));
            Assert.Null(entries[0].TraceId);
            Assert.Equal(frame.TraceId.ToHexString(), entries[1].TraceId);
            Assert.Equal("Anvil.Stitch.Service.Planning.StitchPlanner[0]", entries[1].Category);
            Assert.StartsWith("Chunk part 0 of a_1 fails its frames\nSystem.IO.IOException: truncated file", entries[1].Text, StringComparison.Ordinal);
        }

        for (var i = 0; i < RecentLog.Capacity; i++)
        {
            recent.Add([$"line {i}"]);
        }

        // The two entries were six lines (a header and the message; a header, the scope, the message, the exception).
        Assert.Equal(6UL, recent.Dropped);
        Assert.StartsWith("line 0\n", recent.Tail(RecentLog.Capacity), StringComparison.Ordinal);
        Assert.EndsWith($"line {RecentLog.Capacity - 1}\n", recent.Tail(1), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ConsoleLoggerText_EntriesWithTimeLevelCategoryTraceAndText()
    {
        var entries = ServiceLogs.Parse(Log);
        Assert.Equal(["info", "out", "fail", "warn"], entries.Select(e => e.Level));
        Assert.Equal([1, 2, 3, 4], entries.Select(e => e.Line));
        Assert.Equal("2026-12-06T10:31:02.123Z", entries[0].Time);
        Assert.Equal("Anvil.Stitch.Service.Planning.StitchPlanner[1002]", entries[0].Category);
        Assert.Equal("stitch: acquisition a_1 started", entries[0].Text);
        Assert.Null(entries[0].TraceId);
        Assert.Null(entries[1].Time);
        Assert.Equal("HDF5-DIAG: Error detected in HDF5 (1.10.8) thread 1:\n#000: H5F.c line 413 in H5Fopen(): unable to open file", entries[1].Text);
        Assert.Equal("fd3bc68abea362e08a6d33faca40d0f2", entries[2].TraceId);
        Assert.Equal("Chunk part 0 of a_1 fails its frames: truncated file", entries[2].Text);
    }

    [Theory]
    [InlineData("", 4)]
    [InlineData("info", 4)]
    [InlineData("warn", 2)]
    [InlineData("fail", 1)]
    [InlineData("crit", 0)]
    public void AtLeast_Level_KeepsThatLevelAndWorse(string level, int kept) =>
        Assert.Equal(kept, ServiceLogs.Parse(Log).Count(e => ServiceLogs.AtLeast(e, level)));

    [Fact]
    public void Contains_Text_CaseInsensitiveOverTextCategoryAndTrace()
    {
        var entries = ServiceLogs.Parse(Log);
        Assert.Equal([3], entries.Where(e => ServiceLogs.Contains(e, "FAILS ITS")).Select(e => e.Line));
        Assert.Equal([4], entries.Where(e => ServiceLogs.Contains(e, "acquisitionworker")).Select(e => e.Line));
        Assert.Equal([3], entries.Where(e => ServiceLogs.Contains(e, "fd3bc68a")).Select(e => e.Line));
        Assert.False(ServiceLogs.IsLevel("loud"));
        Assert.False(ServiceLogs.IsTraceId("FD3BC68ABEA362E08A6D33FACA40D0F2"));
    }

    [Fact]
    public void Rates_MergedFramesOverTheLastTenSeconds_AndTimeLeft()
    {
        var clock = new ManualClock();
        var rates = new AcquisitionRates(clock);
        Assert.Equal((null, null), rates.Observe("a", merged: 0, expected: 100, done: false));
        for (var second = 1; second <= 20; second++)
        {
            clock.Now += TimeSpan.FromSeconds(1);
            var (rate, eta) = rates.Observe("a", merged: (ulong)(second <= 10 ? 2 * second : 20 + (5 * (second - 10))), expected: 100, done: false);
            if (second == 5)
            {
                Assert.Equal(2.0, rate!.Value, 6);
                Assert.Equal(90 / 2.0, eta!.Value, 6);
            }
        }

        // From second 10 on it merged 5 frames a second: the window has forgotten the slower start.
        clock.Now += TimeSpan.FromSeconds(1);
        var (now, left) = rates.Observe("a", merged: 75, expected: 100, done: false);
        Assert.Equal(5.0, now!.Value, 6);
        Assert.Equal(5.0, left!.Value, 6);

        // Stalled: no rate, time left unknown; done: nothing left.
        for (var i = 0; i < 12; i++)
        {
            clock.Now += TimeSpan.FromSeconds(1);
            (now, left) = rates.Observe("a", merged: 75, expected: 100, done: false);
        }

        Assert.Equal(0.0, now!.Value);
        Assert.Null(left);
        Assert.Equal(0.0, rates.Observe("a", merged: 100, expected: 100, done: true).EtaSeconds);
    }

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
