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
}
