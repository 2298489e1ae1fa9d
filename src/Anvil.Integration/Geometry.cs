namespace Anvil.Integration;

/// <summary>
/// A flat-detector calibration as pyFAI stores it in a PONI file: lengths in metres, angles in radians.
/// Poni1/Pixel1 run along rows (slow axis, dim 1), Poni2/Pixel2 along columns (fast axis, dim 2).
/// </summary>
public sealed record Geometry(
    double Distance,
    double Poni1,
    double Poni2,
    double Rot1,
    double Rot2,
    double Rot3,
    double Wavelength,
    double Pixel1,
    double Pixel2,
    (int Rows, int Cols)? MaxShape = null);
