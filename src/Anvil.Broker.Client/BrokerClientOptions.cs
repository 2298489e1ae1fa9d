namespace Anvil.Broker.Client;

/// <summary>Immutable options of a <see cref="BrokerClient"/>; change with <c>with</c>.</summary>
public sealed record BrokerClientOptions
{
    /// <summary>Options for the demo beamtime with no token.</summary>
    public static BrokerClientOptions Default { get; } = new();

    /// <summary>The beamtime every call addresses.</summary>
    public string Beamtime { get; init; } = "demo";

    /// <summary>A signed per-beamtime token (sent as <c>authorization: Bearer</c>), or null.</summary>
    public string? Token { get; init; }

    /// <summary>How long transient failures (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED) are retried.</summary>
    public TimeSpan RetryFor { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a call refused because the broker's disk is full (RESOURCE_EXHAUSTED STORAGE_FULL) is retried; null = <see cref="RetryFor"/>.
    /// A service that answers a caller who retries by itself (ingest, for detector drivers) answers at once instead.
    /// </summary>
    public TimeSpan? RetryWhileFullFor { get; init; }
}
