using System.Diagnostics;
using System.Globalization;
using Anvil.Testing;

namespace Anvil.Pipeline.Tests;

/// <summary>
/// The rule stitch applies to announced chunk files (issue 15, item 6: a missing or damaged module file used to cost the
/// whole 20 s ChunkReadableTimeout): a file that stays the same fails after the settle time, one still arriving is waited
/// for. Real files; the probe reads a frame count written as text, as a detector file's reader would read its frames.
/// </summary>
public sealed class ChunkFileWaitTests : IDisposable
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(15);

    private readonly string folder = Directory.CreateTempSubdirectory("anvil-wait-").FullName;
    private readonly ChunkFileWait wait = new(Settle, Limit);

    private string File1 => Path.Combine(folder, "chunk.txt");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task Wait_MissingFile_FailsAfterTheSettleTimeNotTheLimit()
    {
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => wait.WaitAsync(File1, 10, Probe, _ => false, CancellationToken.None).DefaultTimeout());
        Assert.Contains("no such file", ex.Message, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, Settle, Limit / 2);
    }

    [Fact]
    public async Task Wait_DamagedFileUnchanged_FailsAfterTheSettleTimeWithTheReadersMessage()
    {
        await File.WriteAllTextAsync(File1, "garbage").DefaultTimeout();
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => wait.WaitAsync(File1, 10, Probe, _ => false, CancellationToken.None).DefaultTimeout());
        Assert.Contains("'garbage' is no frame count", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unchanged for 0.4 s at 7 bytes", ex.Message, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, Settle, Limit / 2);
    }

    [Fact]
    public async Task Wait_FileShortOfItsFramesUnchanged_FailsSayingHowMany()
    {
        await File.WriteAllTextAsync(File1, "4").DefaultTimeout();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => wait.WaitAsync(File1, 10, Probe, _ => false, CancellationToken.None).DefaultTimeout());
        Assert.Contains("holds 4 of the 10 frames announced", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wait_FinalFailure_FailsAtOnce()
    {
        await File.WriteAllTextAsync(File1, "garbage").DefaultTimeout();
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAsync<FormatException>(() => wait.WaitAsync(File1, 10, Probe, ex => ex is FormatException, CancellationToken.None).DefaultTimeout());
        Assert.True(clock.Elapsed < Settle, $"a final failure took {clock.Elapsed}");
    }

    [Fact]
    public async Task Wait_FileAppearingAndGrowingLongerThanTheSettleTime_IsReadWhole()
    {
        // A writer that makes the file after the announcement and then grows it, one step per look, for three settle times
        // in all: every change starts the settle time again. The clock moves 100 ms per look, so the test does not depend
        // on how fast this machine schedules a writer thread.
        var stepped = new ChunkFileWait(Settle, Limit, new SteppingClock(TimeSpan.FromMilliseconds(100)));
        var looks = 0;
        (int Value, int Frames) Writer(string path)
        {
            looks++;
            if (looks >= 3)
            {
                File.WriteAllText(path, looks < 12 ? new string('x', looks) : "10");
            }

            return Probe(path);
        }

        Assert.Equal(10, await stepped.WaitAsync(File1, 10, Writer, _ => false, CancellationToken.None).DefaultTimeout());
        Assert.Equal(12, looks);
    }

    [Fact]
    public async Task Wait_FileChangingPastTheLimit_TimesOutSayingSo()
    {
        var shortWait = new ChunkFileWait(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(600));
        using var stop = new CancellationTokenSource();
        var writing = Task.Run(async () =>
        {
            for (var n = 1; !stop.IsCancellationRequested; n++)
            {
                await File.WriteAllTextAsync(File1, new string('x', n));
                await Task.Delay(50);
            }
        });
        // The test's own time limit is a cancellation: DefaultTimeout would report any TimeoutException as its own.
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => shortWait.WaitAsync(File1, 10, Probe, _ => false, limit.Token));
        await stop.CancelAsync();
        await writing.DefaultTimeout();
        Assert.Contains("within 0.6 s, still changing", ex.Message, StringComparison.Ordinal);
    }

    // A file holding its frame count as text; anything else is unreadable, as a half-written HDF5 file is.
    private static (int Value, int Frames) Probe(string path)
    {
        var text = File.ReadAllText(path).Trim();
        var frames = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException($"'{text}' is no frame count");
        return (frames, frames);
    }

    // A clock that moves a fixed step each time it is read.
    private sealed class SteppingClock(TimeSpan step) : TimeProvider
    {
        private DateTimeOffset now = DateTimeOffset.UtcNow;

        public override DateTimeOffset GetUtcNow() => now += step;
    }
}
