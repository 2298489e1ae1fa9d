using Anvil.Broker.Core;

namespace Anvil.Broker.Service.Options;

/// <summary>The <c>Broker</c> configuration section (see services/broker/README.md).</summary>
public sealed class BrokerServiceOptions
{
    public const string Section = "Broker";

    /// <summary>Where streams and group state are stored.</summary>
    public string DataDir { get; set; } = "./broker-data";

    /// <summary>The beamtime data root for FILE references; may contain <c>{beamtime}</c>. Unset: FILE sends fail with NO_DATA_ROOT.</summary>
    public string? DataRoot { get; set; }

    /// <summary>Require FILE names below <c>raw/</c> (RAW sources) or <c>processed/</c> (PROCESSED sources), docs/broker.md §2.6.</summary>
    public bool RequireSourceSubfolder { get; set; }

    /// <summary>Beamline → current beamtime, for the "auto" beamtime.</summary>
    public Dictionary<string, string> Beamlines { get; set; } = [];

    public int MaxInlineBytes { get; set; } = 16 * 1024 * 1024;

    public int MaxWaitMs { get; set; } = 60_000;

    public int GapGraceMs { get; set; } = 1_000;

    public int MaxInFlight { get; set; } = 100_000;

    /// <summary><c>always</c> (default) or <c>interval</c>.</summary>
    public FsyncPolicy Fsync { get; set; } = FsyncPolicy.Always;

    public int FsyncIntervalMs { get; set; } = 10;

    /// <summary>Token checks (§8).</summary>
    public BrokerAuthOptions Auth { get; set; } = new();

    public BrokerOptions ToCore() => new()
    {
        DataDir = DataDir,
        DataRoot = DataRoot,
        RequireSourceSubfolder = RequireSourceSubfolder,
        Beamlines = Beamlines,
        MaxInlineBytes = MaxInlineBytes,
        MaxWait = TimeSpan.FromMilliseconds(MaxWaitMs),
        GapGrace = TimeSpan.FromMilliseconds(GapGraceMs),
        MaxInFlight = MaxInFlight,
        Fsync = Fsync,
        FsyncInterval = TimeSpan.FromMilliseconds(FsyncIntervalMs),
    };
}
