namespace Anvil.Broker.Service.Options;

/// <summary>The <c>Broker:Auth</c> section (docs/broker.md §8; see services/broker/README.md).</summary>
public sealed class BrokerAuthOptions
{
    /// <summary>On unless switched off explicitly; off is logged as a warning at every start.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A file of base64 secrets, one per line (the last one signs). Exclusive with <c>ANVIL_BROKER_SECRET</c>.</summary>
    public string? SecretFile { get; set; }

    /// <summary>Optional file of revoked token ids (<c>jti</c>), one per line; re-read within seconds of changing.</summary>
    public string? RevocationFile { get; set; }
}
