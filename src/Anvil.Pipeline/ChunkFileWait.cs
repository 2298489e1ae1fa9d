using System.Globalization;
using Anvil.Hdf5;

namespace Anvil.Pipeline;

/// <summary>
/// Waits until an announced chunk file (a Lambda module file, a detector image) is readable with its announced frames,
/// and tells a file that is still arriving from one that never will. The one rule, for every kind of chunk file
/// (docs/science.md "Announced files"):
/// <list type="bullet">
/// <item>A file that keeps changing (it appears, grows, is rewritten) or that the writer still holds locked is waited
/// for, up to <see cref="Limit"/> from the first look (<see cref="PipelineOptions.ChunkReadableTimeout"/>, 20 s).</item>
/// <item>A file that stays the same — still missing, or the same size and modification time failing the same way, or
/// short of its announced frames — for <see cref="Settle"/> (<see cref="PipelineOptions.ChunkSettleTime"/>, 2 s) is
/// taken as it is: its frames fail with the reason. A detector announces a file once written (ASAP::O's producer after
/// the writer closed it), so nothing more will come.</item>
/// <item>A failure the caller calls final (an HDF5 filter this machine cannot decode) fails at once.</item>
/// </list>
/// </summary>
public sealed class ChunkFileWait(TimeSpan settle, TimeSpan limit, TimeProvider? time = null)
{
    private readonly TimeProvider time = time ?? TimeProvider.System;

    /// <summary>How long a file must stay unchanged (and unreadable) before its frames fail.</summary>
    public TimeSpan Settle { get; } = settle;

    /// <summary>The longest wait for a file that keeps changing.</summary>
    public TimeSpan Limit { get; } = limit;

    /// <summary>The wait of a pipeline's options.</summary>
    public static ChunkFileWait From(PipelineOptions options) => new(options.ChunkSettleTime, options.ChunkReadableTimeout);

    /// <summary>
    /// Probes <paramref name="path"/> until <paramref name="probe"/> returns a value holding at least
    /// <paramref name="announcedFrames"/> frames (0 = any). Throws <see cref="InvalidDataException"/> for a file that
    /// settled unreadable (or missing, or short), <see cref="TimeoutException"/> for one still changing after
    /// <see cref="Limit"/>, and the probe's own exception when <paramref name="isFinal"/> says so. Messages say what was
    /// seen, not which file: the caller names it.
    /// </summary>
    public async Task<T> WaitAsync<T>(string path, int announcedFrames, Func<string, (T Value, int Frames)> probe, Func<Exception, bool> isFinal,
        CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        var unchangedSince = started;
        Observation? last = null;
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            var file = new FileInfo(path);
            var (exists, length, written) = file.Exists ? (true, file.Length, file.LastWriteTimeUtc) : (false, 0L, DateTime.MinValue);
            string failure;
            var busy = false;
            try
            {
                var (value, frames) = probe(path);
                if (announcedFrames <= 0 || frames >= announcedFrames)
                {
                    return value;
                }

                failure = string.Create(CultureInfo.InvariantCulture, $"holds {frames} of the {announcedFrames} frames announced");
            }
            catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException or UnauthorizedAccessException)
            {
                if (isFinal(ex))
                {
                    throw;
                }

                failure = exists ? ex.Message : "no such file";
                // HDF5's file lock: the writer still has it open (closing it, say). Not a settled state.
                busy = exists && ex.Message.Contains("unable to lock file", StringComparison.OrdinalIgnoreCase);
            }

            var now = time.GetUtcNow();
            var seen = new Observation(exists, length, written, failure);
            if (busy || seen != last)
            {
                last = seen;
                unchangedSince = now;
            }

            if (now - unchangedSince >= Settle)
            {
                throw new InvalidDataException(exists
                    ? string.Create(CultureInfo.InvariantCulture, $"{failure} (unchanged for {Seconds(Settle)} s at {length} bytes: damaged or incomplete)")
                    : $"no such file {Seconds(now - started)} s after it was announced");
            }

            if (now - started >= Limit)
            {
                throw new TimeoutException($"not readable{(announcedFrames > 0 ? string.Create(CultureInfo.InvariantCulture, $" with {announcedFrames} frames") : string.Empty)} within {Seconds(Limit)} s, still changing: {failure}");
            }

            await Task.Delay(delay, time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
        }
    }

    /// <summary>An HDF5 filter this machine cannot decode: no wait makes the file readable.</summary>
    public static bool UnsupportedFilter(Exception ex) => ex is Hdf5UnsupportedFilterException;

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);

    private sealed record Observation(bool Exists, long Length, DateTime Written, string Failure);
}
