namespace Anvil.Console.Service.Status;

/// <summary>
/// Frames per second and time to completion per acquisition, from the merged-frame counts the Status tab reads
/// (ingest's ListAcquisitions) each time it polls: the rate is the change of frames merged over the last
/// <see cref="Window"/> of those readings, the time to completion what is announced but not merged yet at that rate.
/// </summary>
public sealed class AcquisitionRates(TimeProvider time)
{
    /// <summary>How far back the rate looks.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, Queue<(DateTimeOffset At, ulong Merged)>> samples = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    /// <summary>Records a reading; returns the rate (frames/s; null until two readings at least a second apart) and the seconds left (null when unknown).</summary>
    public (double? Rate, double? EtaSeconds) Observe(string acquisition, ulong merged, ulong expected, bool done)
    {
        var now = time.GetUtcNow();
        lock (gate)
        {
            var queue = samples.TryGetValue(acquisition, out var q) ? q : samples[acquisition] = new();
            queue.Enqueue((now, merged));

            // Keep the newest reading older than the window as the baseline, so the rate always spans about Window.
            while (queue.Count > 2 && queue.ElementAt(1).At <= now - Window)
            {
                queue.Dequeue();
            }

            var (firstAt, firstMerged) = queue.Peek();
            var seconds = (now - firstAt).TotalSeconds;
            double? rate = seconds >= 1 && merged >= firstMerged ? (merged - firstMerged) / seconds : null;
            var left = expected > merged ? expected - merged : 0;
            double? eta = done || left == 0 ? 0 : rate is > 0 ? left / rate : null;
            return (rate, eta);
        }
    }
}
