namespace Anvil.Broker.Core;

public enum FsyncPolicy
{
    /// <summary>Every acknowledged write is on disk before its reply (§7, default).</summary>
    Always,

    /// <summary>Writes reach the OS before the reply; a background flush syncs every <see cref="BrokerOptions.FsyncInterval"/>.</summary>
    Interval,
}

/// <summary>Broker limits and storage settings (defaults from docs/broker.md).</summary>
public sealed record BrokerOptions
{
    /// <summary>Storage directory; null keeps everything in memory (tests of pure semantics).</summary>
    public string? DataDir { get; init; }

    /// <summary>
    /// The beamtime data root FILE references must resolve into (§2.6). May contain <c>{beamtime}</c>;
    /// null means no root is configured (FILE sends fail with NO_DATA_ROOT).
    /// </summary>
    public string? DataRoot { get; init; }

    /// <summary>
    /// When true, FILE names must start with <c>raw/</c> for RAW sources and <c>processed/</c> for PROCESSED ones (§2.6).
    /// Off by default because Anvil's pipeline names files relative to the data root without that prefix.
    /// </summary>
    public bool RequireSourceSubfolder { get; init; }

    /// <summary>Static beamline → beamtime map that resolves the "auto" beamtime (§1).</summary>
    public IReadOnlyDictionary<string, string> Beamlines { get; init; } = new Dictionary<string, string>();

    public int MaxInlineBytes { get; init; } = 16 * 1024 * 1024;

    public TimeSpan MaxWait { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan GapGrace { get; init; } = TimeSpan.FromSeconds(1);

    public int MaxInFlight { get; init; } = 100_000;

    public FsyncPolicy Fsync { get; init; } = FsyncPolicy.Always;

    public TimeSpan FsyncInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Segment files roll over at this size (§7).</summary>
    public long SegmentBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>A group journal is compacted into a snapshot once it grows past this size (§7).</summary>
    public long JournalCompactBytes { get; init; } = 4L * 1024 * 1024;
}
