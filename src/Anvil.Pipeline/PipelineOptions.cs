namespace Anvil.Pipeline;

/// <summary>
/// The one pipeline configuration (section <c>Pipeline</c>): read from the file named by
/// <c>ANVIL_CONFIG</c> (default config/pipeline.json), each key overridable by an environment variable
/// such as <c>Pipeline__Npt=5000</c>. Relative paths are relative to the working directory.
/// </summary>
public sealed record PipelineOptions
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

    /// <summary>Optional per-beamtime broker token (or the file holding it).</summary>
    public string? BrokerToken { get; init; }

    /// <summary>pyFAI PONI calibration file.</summary>
    public string Poni { get; init; } = "config/L2.poni";

    /// <summary>Optional mask: DIOPTAS .mask (TIFF), .npy, .edf or <c>file.h5::/path</c>; 1 = masked.</summary>
    public string? Mask { get; init; }

    /// <summary>Number of radial bins.</summary>
    public int Npt { get; init; } = 2000;

    /// <summary>Radial unit: 2th_deg, 2th_rad, q_nm^-1 or q_A^-1.</summary>
    public string Unit { get; init; } = "2th_deg";

    /// <summary>Pixel splitting: no, bbox or full.</summary>
    public string Method { get; init; } = "bbox";

    /// <summary>Polarization factor (−1..1), or null for no polarization correction.</summary>
    public double? Polarization { get; init; } = 0.99;

    /// <summary>Frames per broker batch that stitch publishes.</summary>
    public int StitchBatch { get; init; } = 16;

    /// <summary>How long stitch waits for a chunk file to become readable before failing its frames.</summary>
    public TimeSpan ChunkReadableTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Resend delay for unacknowledged deliveries (a crashed worker's frames go to another).</summary>
    public TimeSpan ResendDelay { get; init; } = TimeSpan.FromSeconds(30);
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

    /// <summary>The control stream's name.</summary>
    public const string Acquisitions = "acquisitions";
}
