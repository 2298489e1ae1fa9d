namespace Anvil.Ingest.Service.Options;

/// <summary>Ingest settings (section <c>Ingest</c>).</summary>
public sealed class IngestOptions
{
    public const string Section = "Ingest";

    /// <summary>Directory (below the data root, or absolute inside it) to watch for Lambda chunk files and detector image sequences (TIFF, CBF, EDF, Eiger master); empty = no watching.</summary>
    public string? Watch { get; set; }

    /// <summary>Detector modules per chunk in watch mode (3 for a Lambda 2M).</summary>
    public int Modules { get; set; } = 3;

    /// <summary>Watch mode finishes an acquisition after this long without a new chunk file.</summary>
    public TimeSpan FinishAfterIdle { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often watch mode scans the directory.</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromMilliseconds(250);
}
