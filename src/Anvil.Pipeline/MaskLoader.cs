using Anvil.Hdf5;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>
/// Loads an operator's mask (1 = masked) in the stitched frame: DIOPTAS .mask (TIFF), .npy and .edf through
/// <see cref="MaskFile"/>, and an HDF5 dataset written as <c>file.h5::/path/to/mask</c>.
/// </summary>
public static class MaskLoader
{
    /// <summary>Loads the mask and checks it has the frame's shape.</summary>
    public static byte[] Load(string path, int rows, int cols)
    {
        var mask = Load(path);
        if (mask.Rows != rows || mask.Cols != cols)
        {
            throw new InvalidDataException($"mask {path} is {mask.Rows}×{mask.Cols}, the stitched frame is {rows}×{cols}; give a mask made for this detector.");
        }

        return mask.Data;
    }

    /// <summary>
    /// Anvil's mask rule: the detector's own mask (pixels no module covers; empty = none) OR the operator's mask at
    /// <paramref name="path"/> (null or empty = none). <paramref name="detector"/> is combined in place.
    /// </summary>
    public static byte[] Combine(byte[] detector, string? path, int rows, int cols)
    {
        if (string.IsNullOrEmpty(path))
        {
            return detector;
        }

        var user = Load(path, rows, cols);
        if (detector.Length == 0)
        {
            return user;
        }

        for (var i = 0; i < detector.Length; i++)
        {
            detector[i] |= user[i];
        }

        return detector;
    }

    /// <summary>Loads the mask in its own shape.</summary>
    public static Mask Load(string path)
    {
        var separator = path.IndexOf("::", StringComparison.Ordinal);
        if (separator < 0)
        {
            return MaskFile.Load(path);
        }

        using var file = Hdf5File.OpenRead(path[..separator]);
        var dataset = path[(separator + 2)..];
        var info = file.GetDatasetInfo(dataset);
        if (info.Rank != 2)
        {
            throw new InvalidDataException($"mask dataset {path} has rank {info.Rank}; a mask is 2-D (rows × columns).");
        }

        return MaskFile.FromValues((int)info.Shape[0], (int)info.Shape[1], file.ReadDataset<double>(dataset));
    }
}
