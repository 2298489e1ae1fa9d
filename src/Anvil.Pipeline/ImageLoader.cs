using Anvil.Hdf5;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>
/// Loads a dark or flat image as float32 in the stitched frame: NumPy <c>.npy</c>, EDF, TIFF, or an HDF5 dataset
/// written as <c>file.h5::/path</c> (2-D, or the first frame of a 3-D stack).
/// </summary>
public static class ImageLoader
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
        var separator = path.IndexOf("::", StringComparison.Ordinal);
        if (separator >= 0)
        {
            using var stack = Hdf5ImageStack.Open(path[..separator], path[(separator + 2)..]);
            var frame = new float[stack.Rows * stack.Cols];
            stack.ReadFrame(0, frame);
            return (stack.Rows, stack.Cols, frame);
        }

        var (rows, cols, values) = ImageFile.Load(path);
        return (rows, cols, Array.ConvertAll(values, v => (float)v));
    }
}
