using Anvil.Hdf5;
using Anvil.Integration.Formats;

namespace Anvil.Integration;

/// <summary>A pixel mask in the detector (stitched canvas) frame: one byte per pixel, 1 = masked.</summary>
public sealed record Mask(int Rows, int Cols, byte[] Data);

/// <summary>
/// Masks (1 = masked): DIOPTAS <c>.mask</c> and other TIFFs, NumPy <c>.npy</c> (bool/integer), EDF, and an HDF5
/// dataset written as <c>file.h5::/path/to/mask</c>. Any non-zero value is masked.
/// </summary>
public static class MaskFile
{
    /// <summary>Loads the mask in its own shape.</summary>
    public static Mask Load(string path)
    {
        if (HdfPath.Split(path) is { } hdf)
        {
            using var file = Hdf5File.OpenRead(hdf.File);
            var info = file.GetDatasetInfo(hdf.Dataset);
            if (info.Rank != 2)
            {
                throw new InvalidDataException($"mask dataset {path} has rank {info.Rank}; a mask is 2-D (rows × columns).");
            }

            return FromValues((int)info.Shape[0], (int)info.Shape[1], file.ReadDataset<double>(hdf.Dataset));
        }

        var (rows, cols, pixels) = ImageFile.LoadDoubles(path, "mask");
        return FromValues(rows, cols, pixels);
    }

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

    public static Mask FromValues(int rows, int cols, ReadOnlySpan<double> values)
    {
        if (values.Length != rows * cols)
        {
            throw new ArgumentException($"{values.Length} values for a {rows}×{cols} mask.", nameof(values));
        }

        var data = new byte[values.Length];
        for (var k = 0; k < data.Length; k++)
        {
            data[k] = values[k] != 0 ? (byte)1 : (byte)0;
        }

        return new Mask(rows, cols, data);
    }
}

/// <summary>
/// Dark and flat images, read as float32 in the stitched frame: TIFF, NumPy <c>.npy</c>, EDF, CBF, or an HDF5 dataset
/// written as <c>file.h5::/path</c> (2-D, or the first frame of a 3-D stack).
/// </summary>
public static class ImageFile
{
    /// <summary>Loads the image and checks it has the frame's shape.</summary>
    public static float[] Load(string path, int rows, int cols)
    {
        var (r, c, pixels) = Load(path);
        if (r != rows || c != cols)
        {
            throw new InvalidDataException($"image {path} is {r}×{c}, the frame is {rows}×{cols}; give an image of the detector's (stitched) shape.");
        }

        return pixels;
    }

    /// <summary>Loads the image in its own shape.</summary>
    public static (int Rows, int Cols, float[] Pixels) Load(string path)
    {
        if (HdfPath.Split(path) is { } hdf)
        {
            using var stack = Hdf5ImageStack.Open(hdf.File, hdf.Dataset);
            var frame = new float[stack.Rows * stack.Cols];
            stack.ReadFrame(0, frame);
            return (stack.Rows, stack.Cols, frame);
        }

        var (rows, cols, values) = LoadDoubles(path, "image");
        return (rows, cols, Array.ConvertAll(values, v => (float)v));
    }

    /// <summary>A TIFF, <c>.npy</c>, EDF or CBF file (its first image) as float64 values, row-major.</summary>
    internal static (int Rows, int Cols, double[] Pixels) LoadDoubles(string path, string what)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        try
        {
            switch (extension)
            {
                case ".mask" or ".tif" or ".tiff":
                    return TiffReader.Read(File.ReadAllBytes(path));
                case ".edf":
                    return EdfReader.Read(File.ReadAllBytes(path));
                case ".cbf":
                    {
                        var bytes = File.ReadAllBytes(path);
                        var image = CbfReader.Parse(bytes);
                        var pixels = new double[image.Rows * image.Cols];
                        CbfReader.Decode(bytes, image, pixels.AsSpan());
                        return (image.Rows, image.Cols, pixels);
                    }

                case ".npy":
                    {
                        var array = NpyFile.Read(path);
                        if (array.Shape.Length != 2)
                        {
                            throw new FormatException($"a {what} must be 2-D, this array has shape ({string.Join(", ", array.Shape)}).");
                        }

                        return (array.Shape[0], array.Shape[1], array.ToDoubles());
                    }

                default:
                    throw new FormatException($"unknown {what} format '{extension}' (use .mask/.tif, .npy, .edf, .cbf or file.h5::/dataset).");
            }
        }
        catch (FormatException ex) when (!ex.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new FormatException($"{path}: {ex.Message}", ex);
        }
    }
}

/// <summary>An HDF5 dataset named in a path as <c>file.h5::/path/in/file</c>.</summary>
public static class HdfPath
{
    /// <summary>The file and the dataset, or null when the path names no dataset.</summary>
    public static (string File, string Dataset)? Split(string path)
    {
        var separator = path.IndexOf("::", StringComparison.Ordinal);
        return separator < 0 ? null : (path[..separator], path[(separator + 2)..]);
    }

    /// <summary>The path made absolute against <paramref name="baseDirectory"/>, keeping a <c>::/dataset</c> suffix as it is.</summary>
    public static string GetFullPath(string path, string baseDirectory) =>
        Split(path) is { } hdf
            ? Path.GetFullPath(hdf.File, baseDirectory) + "::" + hdf.Dataset
            : Path.GetFullPath(path, baseDirectory);
}
