namespace Anvil.Console.Service.Status;

/// <summary>Where the Status tab looks (section <c>Console</c>, beside <see cref="Catalog.ConsoleOptions"/>).</summary>
public sealed record StatusOptions
{
    /// <summary>
    /// The supervisor's JSON API (`anvil up` sets <c>Console__Supervisor</c>, e.g. http://127.0.0.1:5180): process ids,
    /// restarts, last exit codes and times, logs. Empty (Compose, Kubernetes) = no supervisor: the tab then shows health,
    /// CPU and memory from the services themselves and says that restarts and logs are the platform's.
    /// </summary>
    public string Supervisor { get; init; } = string.Empty;

    /// <summary>
    /// Service instance → gRPC address, the services the tab checks when no supervisor lists them (the suite sets
    /// <c>Console__Services__&lt;instance&gt;</c> too). Empty = the suite's documented defaults on 127.0.0.1
    /// (<see cref="Pipeline.ServiceAddresses"/>). Under Compose, e.g. <c>Console__Services__stitch=http://stitch:5102</c>.
    /// </summary>
    public Dictionary<string, string> Services { get; init; } = new(StringComparer.Ordinal);

    /// <summary>How long one look at a service (health, process status) or at the supervisor may take.</summary>
    public TimeSpan StatusTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The instances to check without a supervisor: <see cref="Services"/>, or the defaults when none are configured.</summary>
    public IReadOnlyList<(string Name, string Address)> Instances() => Services.Count > 0
        ? Services.Select(s => (s.Key, s.Value)).ToArray()
        :
        [
            ("broker", Pipeline.ServiceAddresses.Broker), ("ingest", Pipeline.ServiceAddresses.Ingest), ("stitch", Pipeline.ServiceAddresses.Stitch),
            ("integrate", Pipeline.ServiceAddresses.Integrate), ("integrate-2", Pipeline.ServiceAddresses.Integrate2), ("merge", Pipeline.ServiceAddresses.Merge),
        ];
}
