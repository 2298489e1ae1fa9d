namespace Anvil.Integration;

/// <summary>
/// The CSR matrix re-laid for speed: the detector is cut into bands of <see cref="TileRows"/> rows (≤ 65,536
/// pixels, ≈ 50 KB of an int16 frame, so a band's pixels stay in L1/L2 while its bins are summed), and each band
/// holds one segment per bin it touches. A segment lists the band's pixels of that bin in ascending order as
/// 16-bit offsets within the band, with the float32 coefficients alongside: 6 bytes per entry instead of 8.
/// Segments run band by band, bins ascending within a band.
/// </summary>
internal sealed class TiledMatrix
{
    public TiledMatrix(int tileRows, int tilePixels, int[] segBin, int[] segTile, int[] segStart, ushort[] local, float[]? weights, int[] entriesPerBin)
    {
        TileRows = tileRows;
        TilePixels = tilePixels;
        SegBin = segBin;
        SegTile = segTile;
        SegStart = segStart;
        Local = local;
        Weights = weights;
        EntriesPerBin = entriesPerBin;
        ChunkBounds = [0, segBin.Length];
    }

    /// <summary>Rows per band: at most 16, and at most 65,536 pixels so offsets fit 16 bits.</summary>
    public static int RowsPerTile(int cols) => Math.Clamp(65536 / cols, 1, 16);

    public int TileRows { get; }
    public int TilePixels { get; }

    /// <summary>Bin of each segment.</summary>
    public int[] SegBin { get; }

    /// <summary>Band of each segment (its pixels are band · <see cref="TilePixels"/> + offset).</summary>
    public int[] SegTile { get; }

    /// <summary>First entry of each segment; one more element than segments.</summary>
    public int[] SegStart { get; }

    public ushort[] Local { get; }
    public float[]? Weights { get; }

    /// <summary>Segment ranges of the fixed chunks (whole bands, balanced by entries); chunk c is [c, c+1).</summary>
    public int[] ChunkBounds { get; private set; }

    public int Chunks => ChunkBounds.Length - 1;

    /// <summary>Matrix entries of each bin.</summary>
    public int[] EntriesPerBin { get; }

    public int EntryCount => SegStart[^1];

    /// <summary>Cuts the segments into <paramref name="chunks"/> runs of whole bands with about equal entries.</summary>
    public void SetChunks(int chunks)
    {
        var bounds = new int[chunks + 1];
        var segments = SegBin.Length;
        bounds[chunks] = segments;
        var total = (long)EntryCount;
        var s = 0;
        for (var c = 1; c < chunks; c++)
        {
            var target = total * c / chunks;
            while (s < segments && (SegStart[s] < target || (s > 0 && SegTile[s] == SegTile[s - 1])))
            {
                s++;
            }

            bounds[c] = s;
        }

        ChunkBounds = bounds;
    }
}
