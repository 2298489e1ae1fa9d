namespace Anvil.Console.Service.Catalog;

/// <summary>The console's own settings (section <c>Console</c>); everything else comes from <c>Pipeline</c>.</summary>
public sealed record ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>How often the broker's profile streams are polled for new frames.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Result files kept in memory at once (each holds its whole frames × bins array).</summary>
    public int CachedFiles { get; init; } = 3;
}
