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
    private TiledMatrix(int tileRows, int tilePixels, int[] segBin, int[] segTile, int[] segStart, ushort[] local, float[]? weights, int[] chunkBounds)
    {
        TileRows = tileRows;
        TilePixels = tilePixels;
        SegBin = segBin;
        SegTile = segTile;
        SegStart = segStart;
        Local = local;
        Weights = weights;
        ChunkBounds = chunkBounds;
    }

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
    public int[] ChunkBounds { get; }

    public int Chunks => ChunkBounds.Length - 1;

    public static TiledMatrix From(Csr csr, int rows, int cols, int chunks)
    {
        var tileRows = Math.Clamp(65536 / cols, 1, 16);
        var tilePixels = tileRows * cols;
        var tiles = (rows + tileRows - 1) / tileRows;
        var indptr = csr.Indptr;
        var ind = csr.Indices;
        var npt = indptr.Length - 1;

        // Runs: the entries of one bin that fall in one band (contiguous, since a bin's pixels are ascending).
        var runCount = new int[npt + 1];
        Parallel.For(0, npt, b =>
        {
            var count = 0;
            var previous = -1;
            for (var j = indptr[b]; j < indptr[b + 1]; j++)
            {
                var t = ind[j] / tilePixels;
                if (t != previous)
                {
                    count++;
                    previous = t;
                }
            }

            runCount[b + 1] = count;
        });
        for (var b = 0; b < npt; b++)
        {
            runCount[b + 1] += runCount[b];
        }

        var runs = runCount[npt];
        var runTile = new int[runs];
        var runSrc = new int[runs];
        var runBin = new int[runs];
        Parallel.For(0, npt, b =>
        {
            var r = runCount[b];
            var previous = -1;
            for (var j = indptr[b]; j < indptr[b + 1]; j++)
            {
                var t = ind[j] / tilePixels;
                if (t != previous)
                {
                    runTile[r] = t;
                    runSrc[r] = j;
                    runBin[r] = b;
                    r++;
                    previous = t;
                }
            }
        });

        // Stable counting sort of the runs by band: bins stay ascending within a band.
        var tileStart = new int[tiles + 1];
        foreach (var t in runTile)
        {
            tileStart[t + 1]++;
        }

        for (var t = 0; t < tiles; t++)
        {
            tileStart[t + 1] += tileStart[t];
        }

        var fill = (int[])tileStart.Clone();
        var segBin = new int[runs];
        var segTile = new int[runs];
        var segSrc = new int[runs];
        var segLen = new int[runs];
        for (var r = 0; r < runs; r++)
        {
            var s = fill[runTile[r]]++;
            segBin[s] = runBin[r];
            segTile[s] = runTile[r];
            segSrc[s] = runSrc[r];
            var end = r + 1 < runs && runBin[r + 1] == runBin[r] ? runSrc[r + 1] : indptr[runBin[r] + 1];
            segLen[s] = end - runSrc[r];
        }

        var segStart = new int[runs + 1];
        for (var s = 0; s < runs; s++)
        {
            segStart[s + 1] = segStart[s] + segLen[s];
        }

        var local = GC.AllocateUninitializedArray<ushort>(segStart[runs]);
        var weights = csr.Weights is null ? null : GC.AllocateUninitializedArray<float>(segStart[runs]);
        Parallel.For(0, runs, s =>
        {
            var origin = segTile[s] * tilePixels;
            var src = segSrc[s];
            var dst = segStart[s];
            for (var q = 0; q < segLen[s]; q++)
            {
                local[dst + q] = (ushort)(ind[src + q] - origin);
            }

            if (weights is not null)
            {
                Array.Copy(csr.Weights!, src, weights, dst, segLen[s]);
            }
        });

        // Chunks of whole bands with about equal entries; fixed in number so sums do not depend on the thread count.
        var chunkBounds = new int[chunks + 1];
        chunkBounds[chunks] = runs;
        var total = (long)segStart[runs];
        var tile = 0;
        for (var c = 1; c < chunks; c++)
        {
            var target = total * c / chunks;
            while (tile < tiles && segStart[tileStart[tile]] < target)
            {
                tile++;
            }

            chunkBounds[c] = tileStart[tile];
        }

        return new TiledMatrix(tileRows, tilePixels, segBin, segTile, segStart, local, weights, chunkBounds);
    }
}
