namespace Anvil.Console.Service.Catalog;

/// <summary>The console's own settings (section <c>Console</c>); everything else comes from <c>Pipeline</c>.</summary>
public sealed record ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>How often the broker's profile streams are polled for new frames.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Result files kept in memory at once (each holds its whole frames × bins array).</summary>
    public int CachedFiles { get; init; } = 3;

    /// <summary>
    /// Ingest's address (its gRPC <c>Control</c> service, the suite's default http://127.0.0.1:5101) for the operator
    /// controls. The suite sets it (<c>Console__Ingest</c>); an ingest that does not answer makes every operator request a 503.
    /// </summary>
    public string Ingest { get; init; } = Anvil.Pipeline.ServiceAddresses.Ingest;

    /// <summary>
    /// Without accounts (services/console README "Access"): the client addresses that may operate (pause, resume, stop,
    /// settings); every other client can view only. Empty (the default) means any loopback address: the console's own
    /// machine. With accounts, the account's role decides instead. Never list a reverse proxy's address here: every
    /// client behind it would look like the proxy.
    /// </summary>
    public string[] OperatorAddresses { get; init; } = [];

    /// <summary>How long one call to ingest may take before the console answers 503.</summary>
    public TimeSpan ControlTimeout { get; init; } = TimeSpan.FromSeconds(15);
}
