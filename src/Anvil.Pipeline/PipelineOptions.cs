using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>
/// The one pipeline configuration (section <c>Pipeline</c>): read from the file named by
/// <c>ANVIL_CONFIG</c> (default config/pipeline.json), each key overridable by an environment variable
/// such as <c>Pipeline__Npt=5000</c>. <see cref="DataRoot"/> and <see cref="OutputDir"/> are relative to the working
/// directory; settings files (PONI, mask, dark, flat) to the data root (<see cref="IntegrationSettings.Resolve"/>).
/// </summary>
public sealed record PipelineOptions : IntegrationOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Pipeline";

    /// <summary>Beamtime every broker call addresses.</summary>
    public string Beamtime { get; init; } = "demo";

    /// <summary>Detector data root: announced files must resolve below it.</summary>
    public string DataRoot { get; init; } = "data";

    /// <summary>Where merge writes one <c>&lt;acquisition&gt;.nxs</c> per acquisition.</summary>
    public string OutputDir { get; init; } = "out";

    /// <summary>The broker's address.</summary>
    public string Broker { get; init; } = ServiceAddresses.Broker;

    /// <summary>
    /// The worker pool a stitch, integrate or merge process belongs to: <c>live</c> (the chain every acquisition runs
    /// through) or <c>reprocess</c> (a separate pool, run at a lower CPU priority, that only reprocessings run through,
    /// so a reprocessing never takes the live chain's workers). <see cref="PipelineStreams.AcquisitionsOf"/> names the
    /// control stream each pool learns its acquisitions from.
    /// </summary>
    public string Pool { get; init; } = PipelineStreams.LivePool;

    /// <summary>Optional per-beamtime broker token (or the file holding it).</summary>
    public string? BrokerToken { get; init; }

    /// <summary>
    /// The token <see cref="BrokerToken"/> names: inline, or the contents of the file it names (<c>@path</c> or a path);
    /// null when none. Sent to the broker, and to ingest's Control service for changes (docs/broker.md §8).
    /// </summary>
    public string? ResolveBrokerToken() => ReadToken(BrokerToken);

    /// <summary>A token given inline or as <c>@path</c> / a path to a file holding it; null for none.</summary>
    public static string? ReadToken(string? value) =>
        value is null or "" ? null
        : File.Exists(value.TrimStart('@')) ? File.ReadAllText(value.TrimStart('@')).Trim()
        : value;

    /// <summary>
    /// Seconds between frames when the detector's files do not say (they are not readable where merge runs); the Lambda's
    /// own count_time + delay_time wins when readable. The result's time axis and the pressure's frame_time (<see cref="FrameTimes"/>).
    /// </summary>
    public double? FramePeriod { get; init; }

    /// <summary>The beamline (NeXus <c>NXinstrument/name</c> of the result's NXazint1d entry), e.g. "P02.2".</summary>
    public string Beamline { get; init; } = string.Empty;

    /// <summary>The facility (NeXus <c>NXsource/name</c>), e.g. "PETRA III".</summary>
    public string Facility { get; init; } = string.Empty;

    /// <summary>
    /// The detectors (section <c>Pipeline:Detectors:&lt;name&gt;</c>: <c>Kind</c>, <c>Poni</c>, <c>Mask</c>, … as
    /// <see cref="DetectorOptions"/>); none = one unnamed detector with the settings above, as before. Checked and
    /// read by <see cref="DetectorSet.From"/>.
    /// </summary>
    public Dictionary<string, DetectorOptions>? Detectors { get; init; }

    /// <summary>Frames per broker batch that stitch publishes.</summary>
    public int StitchBatch { get; init; } = 16;

    /// <summary>
    /// The longest stitch waits for an announced chunk file that keeps changing (appears, grows) to become readable
    /// with its frames, before failing them (<see cref="ChunkFileWait"/>).
    /// </summary>
    public TimeSpan ChunkReadableTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long an announced chunk file may stay unchanged and unreadable (missing, damaged, short of its frames) before
    /// stitch fails its frames (<see cref="ChunkFileWait"/>). On a network file system that caches "no such file"
    /// (NFS <c>lookupcache=all</c>), set it above the cache time.
    /// </summary>
    public TimeSpan ChunkSettleTime { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Resend delay for unacknowledged deliveries (a crashed worker's frames go to another).</summary>
    public TimeSpan ResendDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The configured integration settings (of new acquisitions: settings version 0) in the one settings model, paths
    /// resolved by its rule (relative ones from the data root). Not validated here: <see cref="IntegrationSettings.Validate"/>
    /// says what is wrong. Throws <see cref="FormatException"/> for a unit or method that is no name of one.
    /// </summary>
    public IntegrationSettings IntegrationDefaults() => ToSettings(Path.GetFullPath(DataRoot));
}

/// <summary>The fixed default addresses of the suite on one machine (documented in the README).</summary>
public static class ServiceAddresses
{
    public const string Broker = "http://127.0.0.1:5100";
    public const string Ingest = "http://127.0.0.1:5101";
    public const string Stitch = "http://127.0.0.1:5102";
    public const string Integrate = "http://127.0.0.1:5103";
    public const string Integrate2 = "http://127.0.0.1:5104";
    public const string Merge = "http://127.0.0.1:5105";
}

/// <summary>Broker data sources and group names of the chain; the stream is the acquisition name.</summary>
public static class PipelineStreams
{
    /// <summary>One dataset per chunk part, one part per detector module (ingest → stitch).</summary>
    public const string Raw = "raw";

    /// <summary>One message per frame, a FrameWorkItem in meta (stitch → integrate).</summary>
    public const string Frames = "frames";

    /// <summary>One message per frame, a Profile inline (integrate → merge).</summary>
    public const string Profiles = "profiles";

    /// <summary>Data source of the control stream announcing each new acquisition.</summary>
    public const string Control = "control";

    /// <summary>The control stream announcing the live chain's acquisitions.</summary>
    public const string Acquisitions = "acquisitions";

    /// <summary>The control stream announcing reprocessings (<c>&lt;acquisition&gt;_r&lt;k&gt;</c>), which only the reprocess pool follows.</summary>
    public const string Reprocessings = "reprocessings";

    /// <summary>The live chain's worker pool (<see cref="PipelineOptions.Pool"/>).</summary>
    public const string LivePool = "live";

    /// <summary>The reprocessing worker pool (<see cref="PipelineOptions.Pool"/>).</summary>
    public const string ReprocessPool = "reprocess";

    /// <summary>
    /// The control stream a pool's workers learn their acquisitions from: <see cref="Acquisitions"/> for the live pool,
    /// <see cref="Reprocessings"/> for the reprocess pool. Throws <see cref="ArgumentException"/> for any other pool.
    /// </summary>
    public static string AcquisitionsOf(string pool) => pool switch
    {
        LivePool => Acquisitions,
        ReprocessPool => Reprocessings,
        _ => throw new ArgumentException($"Pipeline:Pool '{pool}' is no worker pool: give '{LivePool}' (the live chain) or '{ReprocessPool}' (the reprocessing pool)."),
    };
}
