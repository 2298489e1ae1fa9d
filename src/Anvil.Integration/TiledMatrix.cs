using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Anvil.Integration;

/// <summary>
/// The CSR matrix re-laid for SIMD: the detector is cut into bands of <see cref="TileRows"/> rows (≤ 65,536 pixels,
/// ≈ 50 KB of an int16 frame, so a band's pixels stay in L1/L2 while its bins are summed). Within a band, bins go in
/// blocks of <see cref="Lanes"/> consecutive bins (block k holds bins 8k..8k+7); a block the band touches is a
/// <em>group</em>, stored as steps of 8 entries, one per lane (bin): entry (step s, lane l) of group g is at
/// <c>GroupStart[g] + 8·s + l</c>. A lane lists the band's pixels of its bin in ascending order as 16-bit offsets
/// within the band, with the float32 coefficients alongside; lanes shorter than the group's longest are padded
/// with coefficient 0 and the offset of a pixel the lane (or group) already holds (sliced ELLPACK). One vector step then sums eight bins at once, with no
/// horizontal sum and no tail.
/// </summary>
internal sealed unsafe class TiledMatrix
{
    /// <summary>Bins per group: one 256-bit vector of float32.</summary>
    public const int Lanes = 8;

    public TiledMatrix(int tileRows, int tilePixels, ReadOnlySpan<int> groupBin, ReadOnlySpan<int> groupTile, ReadOnlySpan<int> groupStart,
        ReadOnlySpan<int> laneLength, ushort[] local, float[] weights, int[] entriesPerBin)
    {
        // Pinned (the large arrays are allocated so by the builder), so the kernels take their addresses once.
        TileRows = tileRows;
        TilePixels = tilePixels;
        GroupBin = Pinned.Copy(groupBin);
        GroupTile = Pinned.Copy(groupTile);
        GroupStart = Pinned.Copy(groupStart);
        LaneLength = Pinned.Copy(laneLength);
        foreach (var length in laneLength)
        {
            LongestLane = Math.Max(LongestLane, length);
        }

        Local = local;
        Weights = weights;
        EntriesPerBin = entriesPerBin;
        ChunkBounds = [0, GroupBin.Length];
        long entries = 0;
        foreach (var e in entriesPerBin)
        {
            entries += e;
        }

        EntryCount = checked((int)entries);
    }

    /// <summary>Rows per band: at most 16, and at most 65,536 pixels so offsets fit 16 bits.</summary>
    public static int RowsPerTile(int cols) => Math.Clamp(65536 / cols, 1, 16);

    public int TileRows { get; }
    public int TilePixels { get; }

    /// <summary>First bin of each group (a multiple of <see cref="Lanes"/>).</summary>
    public int[] GroupBin { get; }

    /// <summary>Band of each group (its pixels are band · <see cref="TilePixels"/> + offset).</summary>
    public int[] GroupTile { get; }

    /// <summary>First entry of each group; one more element than groups. A group holds (next − first) / 8 steps.</summary>
    public int[] GroupStart { get; }

    /// <summary>Real (unpadded) entries of lane l of group g at [g · 8 + l].</summary>
    public int[] LaneLength { get; }

    public ushort[] Local { get; }
    /// <summary>Coefficients (1 for each real no-split entry), 0 for padding.</summary>
    public float[] Weights { get; }

    /// <summary>The most real entries any lane holds.</summary>
    public int LongestLane { get; }

    public int* GroupBinAt => Pinned.At(GroupBin);
    public int* GroupTileAt => Pinned.At(GroupTile);
    public int* GroupStartAt => Pinned.At(GroupStart);
    public int* LaneLengthAt => Pinned.At(LaneLength);

    /// <summary>Address of <see cref="Local"/> (the builder allocates it pinned).</summary>
    public ushort* LocalAt => Pinned.At(Local);

    /// <summary>Address of <see cref="Weights"/> (the builder allocates it pinned).</summary>
    public float* WeightsAt => Pinned.At(Weights);

    /// <summary>Group ranges of the fixed chunks (whole bands, balanced by entries); chunk c is [c, c+1).</summary>
    public int[] ChunkBounds { get; private set; }

    public int Chunks => ChunkBounds.Length - 1;

    /// <summary>Matrix entries of each bin.</summary>
    public int[] EntriesPerBin { get; }

    /// <summary>Real matrix entries (pyFAI's CSR size).</summary>
    public int EntryCount { get; }

    /// <summary>Stored entries, padding included.</summary>
    public int StoredCount => GroupStart[^1];

    public int Groups => GroupBin.Length;

    /// <summary>Cuts the groups into <paramref name="chunks"/> runs of whole bands with about equal entries.</summary>
    public void SetChunks(int chunks)
    {
        var bounds = new int[chunks + 1];
        var groups = Groups;
        bounds[chunks] = groups;
        var total = (long)StoredCount;
        var g = 0;
        for (var c = 1; c < chunks; c++)
        {
            var target = total * c / chunks;
            while (g < groups && (GroupStart[g] < target || (g > 0 && GroupTile[g] == GroupTile[g - 1])))
            {
                g++;
            }

            bounds[c] = g;
        }

        ChunkBounds = bounds;
    }
}

/// <summary>Arrays on the pinned object heap, whose addresses never change: kernels use them without <c>fixed</c>.</summary>
internal static unsafe class Pinned
{
    /// <summary>The address of a pinned array's first element (null for null). Only for arrays allocated pinned.</summary>
    public static T* At<T>(T[]? array) where T : unmanaged =>
        array is null ? null : (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));

    /// <summary>A pinned copy.</summary>
    public static T[] Copy<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        var copy = GC.AllocateUninitializedArray<T>(source.Length, pinned: true);
        source.CopyTo(copy);
        return copy;
    }
}
