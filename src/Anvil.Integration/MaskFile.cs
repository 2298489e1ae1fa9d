using Anvil.Integration.Formats;

namespace Anvil.Integration;

/// <summary>A pixel mask in the detector (stitched canvas) frame: one byte per pixel, 1 = masked.</summary>
public sealed record Mask(int Rows, int Cols, byte[] Data);

/// <summary>
/// Loads masks: DIOPTAS <c>.mask</c> and other TIFFs, NumPy <c>.npy</c> (bool/integer), EDF. Any non-zero value
/// is masked. HDF5 masks are read elsewhere; pass their bytes to <see cref="FromValues"/> or straight to the engine.
/// </summary>
public static class MaskFile
{
    public static Mask Load(string path)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        try
        {
            switch (extension)
            {
                case ".mask" or ".tif" or ".tiff":
                    {
                        var (rows, cols, pixels) = TiffReader.Read(File.ReadAllBytes(path));
                        return FromValues(rows, cols, pixels);
                    }

                case ".npy":
                    {
                        var array = NpyFile.Read(path);
                        if (array.Shape.Length != 2)
                        {
                            throw new FormatException($"a mask must be 2-D, this array has shape ({string.Join(", ", array.Shape)}).");
                        }

                        return FromValues(array.Shape[0], array.Shape[1], array.ToDoubles());
                    }

                case ".edf":
                    {
                        var (rows, cols, pixels) = EdfReader.Read(File.ReadAllBytes(path));
                        return FromValues(rows, cols, pixels);
                    }

                default:
                    throw new FormatException($"unknown mask format '{extension}' (use .mask/.tif, .npy or .edf).");
            }
        }
        catch (FormatException ex) when (!ex.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new FormatException($"{path}: {ex.Message}", ex);
        }
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

/// <summary>Reads a 2-D image (dark, flat, mask) from TIFF, NumPy <c>.npy</c> or EDF as float64 values, row-major.</summary>
public static class ImageFile
{
    public static (int Rows, int Cols, double[] Pixels) Load(string path)
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
                case ".npy":
                    {
                        var array = NpyFile.Read(path);
                        if (array.Shape.Length != 2)
                        {
                            throw new FormatException($"an image must be 2-D, this array has shape ({string.Join(", ", array.Shape)}).");
                        }

                        return (array.Shape[0], array.Shape[1], array.ToDoubles());
                    }

                default:
                    throw new FormatException($"unknown image format '{extension}' (use .tif, .npy or .edf).");
            }
        }
        catch (FormatException ex) when (!ex.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new FormatException($"{path}: {ex.Message}", ex);
        }
    }
}
