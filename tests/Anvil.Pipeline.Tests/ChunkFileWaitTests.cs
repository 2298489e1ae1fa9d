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
        Assert.InRange(clock.Elapsed, Settle, Limit / 3);
    }

    [Fact]
    public async Task Wait_DamagedFileUnchanged_FailsAfterTheSettleTimeWithTheReadersMessage()
    {
        await File.WriteAllTextAsync(File1, "garbage").DefaultTimeout();
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => wait.WaitAsync(File1, 10, Probe, _ => false, CancellationToken.None).DefaultTimeout());
        Assert.Contains("'garbage' is no frame count", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unchanged for 0.4 s at 7 bytes", ex.Message, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, Settle, Limit / 3);
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
        // A writer that makes the file after the announcement and then grows it, one step every half settle time, for
        // about four settle times in all: every change starts the settle time again.
        var waiting = wait.WaitAsync(File1, 10, Probe, _ => false, CancellationToken.None);
        var writing = Task.Run(async () =>
        {
            await Task.Delay(Settle / 2);
            for (var frames = 1; frames <= 10; frames++)
            {
                await File.WriteAllTextAsync(File1, frames < 10 ? new string('x', frames) : "10");
                await Task.Delay(Settle / 5);
            }
        });
        Assert.Equal(10, await waiting.DefaultTimeout(TimeSpan.FromSeconds(20)));
        await writing.DefaultTimeout();
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
}
