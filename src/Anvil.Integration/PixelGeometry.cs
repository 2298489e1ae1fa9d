namespace Anvil.Integration;

/// <summary>
/// pyFAI 0.21.3's per-pixel geometry, dtype for dtype: centres from float32 arithmetic, everything after in
/// float64; corners from float64 edges, stored float32. See docs/science.md §3 and src/Anvil.Integration/README.md.
/// </summary>
internal readonly struct PixelGeometry
{
    private readonly double c1, c2, c3, s1, s2, s3;
    private readonly double distance, qFactor;
    private readonly float pixel1F, pixel2F, poni1F, poni2F;
    private readonly Geometry g;
    private readonly bool q;

    public PixelGeometry(Geometry geometry, RadialUnit unit)
    {
        g = geometry;
        q = unit.IsQ();
        c1 = Math.Cos(g.Rot1);
        c2 = Math.Cos(g.Rot2);
        c3 = Math.Cos(g.Rot3);
        s1 = Math.Sin(g.Rot1);
        s2 = Math.Sin(g.Rot2);
        s3 = Math.Sin(g.Rot3);
        distance = g.Distance;
        qFactor = 4.0e-9 * Math.PI / g.Wavelength;
        pixel1F = (float)g.Pixel1;
        pixel2F = (float)g.Pixel2;
        poni1F = (float)g.Poni1;
        poni2F = (float)g.Poni2;
    }

    /// <summary>Centre of pixel row i along axis 1 relative to the PONI, computed in float32 as pyFAI does.</summary>
    public double CentreP1(int i) => pixel1F * (i + 0.5f) - poni1F;

    public double CentreP2(int j) => pixel2F * (j + 0.5f) - poni2F;

    /// <summary>Pixel edge i (0..rows) along axis 1, in float64.</summary>
    public double EdgeP1(int i) => g.Pixel1 * i - g.Poni1;

    public double EdgeP2(int j) => g.Pixel2 * j - g.Poni2;

    /// <summary>2θ (rad) and χ (rad) of a detector-plane point.</summary>
    public void Angles(double p1, double p2, out double tth, out double chi)
    {
        // R3·R2·R1 applied to (p1, p2, L), expanded; the operation order matches pyFAI's for bit parity.
        var l = distance;
        var t1 = p1 * c2 * c3 + p2 * (c3 * s1 * s2 - c1 * s3) - l * (c1 * c3 * s2 + s1 * s3);
        var t2 = p1 * c2 * s3 + p2 * (c1 * c3 + s1 * s2 * s3) - l * (-c3 * s1 + c1 * s2 * s3);
        var t3 = p1 * s2 - p2 * c2 * s1 + l * c1 * c2;
        tth = Math.Atan2(Math.Sqrt(t1 * t1 + t2 * t2), t3);
        chi = Math.Atan2(t1, t2);
    }

    /// <summary>
    /// 2θ (rad) and the two factors polarisation needs, without χ's atan2: cos²2θ = t3²/|t|² and
    /// cos 2χ = (t2² − t1²)/(t1² + t2²) (1 on the beam axis, where pyFAI's χ is atan2(0, 0) = 0).
    /// </summary>
    public void TwoTheta(double p1, double p2, out double tth, out double cos2Tth, out double cos2Chi)
    {
        var l = distance;
        var t1 = p1 * c2 * c3 + p2 * (c3 * s1 * s2 - c1 * s3) - l * (c1 * c3 * s2 + s1 * s3);
        var t2 = p1 * c2 * s3 + p2 * (c1 * c3 + s1 * s2 * s3) - l * (-c3 * s1 + c1 * s2 * s3);
        var t3 = p1 * s2 - p2 * c2 * s1 + l * c1 * c2;
        var r2 = t1 * t1 + t2 * t2;
        tth = Math.Atan2(Math.Sqrt(r2), t3);
        cos2Tth = t3 * t3 / (r2 + t3 * t3);
        cos2Chi = r2 > 0 ? (t2 * t2 - t1 * t1) / r2 : 1.0;
    }

    public static float Polarization(double cos2Tth, double cos2Chi, double factor) =>
        (float)(0.5 * (1.0 + cos2Tth - factor * cos2Chi * (1.0 - cos2Tth)));

    /// <summary>The internal radial value (2θ in rad or q in nm⁻¹) of a 2θ.</summary>
    public double Radial(double tth) => q ? qFactor * Math.Sin(tth / 2.0) : tth;

    /// <summary>Relative solid angle cos³α from the unrotated position (1 at the PONI).</summary>
    public double SolidAngle(double p1, double p2)
    {
        var cosa = distance / Math.Sqrt(distance * distance + p1 * p1 + p2 * p2);
        return cosa * cosa * cosa;
    }

    /// <summary>2θ in degrees of an internal radial value.</summary>
    public double TwoThetaDeg(double radial) =>
        q ? 2.0 * Math.Asin(radial / qFactor) * (180.0 / Math.PI) : radial * (180.0 / Math.PI);
}
