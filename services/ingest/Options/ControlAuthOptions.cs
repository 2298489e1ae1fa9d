namespace Anvil.Ingest.Service.Options;

/// <summary>
/// Who may change the run through ingest's Control service (section <c>Control:Auth</c>; README "Reliability", docs/broker.md
/// §8): changes (UpdateSettings, Pause, Resume, StopAcquisition, Reprocess) need a token with access <c>control</c> for the
/// pipeline's beamtime, signed like the broker's, whenever ingest listens beyond loopback.
/// </summary>
public sealed class ControlAuthOptions
{
    public const string Section = "Control:Auth";

    /// <summary>
    /// Null (the default): tokens are required when ingest listens on any non-loopback address, and not on loopback only.
    /// True: always required (a loopback-only ingest behind a proxy, or a test). False: never (logged as a warning at every
    /// start; for a private network such as a Compose project's, where the published port is loopback only).
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>The broker's secret file (base64 secrets, one a line; docs/broker.md §8), or <c>ANVIL_BROKER_SECRET</c>.</summary>
    public string? SecretFile { get; set; }
}
