using System.Runtime.CompilerServices;

namespace Anvil.Testing;

/// <summary>Every await in a test carries a timeout, so a hang becomes a quick, located failure.</summary>
public static class TaskTimeoutExtensions
{
    /// <summary>The default time limit of one awaited step.</summary>
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(30);

    public static async Task<T> DefaultTimeout<T>(this Task<T> task, TimeSpan? timeout = null,
        [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            return await task.WaitAsync(timeout ?? DefaultLimit).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"Timed out after {timeout ?? DefaultLimit} at {Path.GetFileName(file)}:{line}.", ex);
        }
    }

    public static async Task DefaultTimeout(this Task task, TimeSpan? timeout = null,
        [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            await task.WaitAsync(timeout ?? DefaultLimit).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"Timed out after {timeout ?? DefaultLimit} at {Path.GetFileName(file)}:{line}.", ex);
        }
    }

    /// <summary>Polls a named condition under a deadline (never a bare sleep in a test).</summary>
    public static async Task Until(string what, Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultLimit);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met in time: {what}.");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    /// <summary>Polls an asynchronous named condition (each try bounded by the time left) under a deadline.</summary>
    public static async Task UntilAsync(string what, Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultLimit);
        while (!await condition().WaitAsync(Max(deadline - DateTime.UtcNow, TimeSpan.FromMilliseconds(1))).ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met in time: {what}.");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
