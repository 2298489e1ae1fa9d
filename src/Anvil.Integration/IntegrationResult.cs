namespace Anvil.Integration;

/// <summary>
/// One 1-D pattern, reused frame after frame (no allocation per frame). Arrays have <see cref="Npt"/> entries;
/// intensity and sigma are float32 like pyFAI's, the sums float64. Empty bins hold the dummy (or 0).
/// </summary>
public sealed class IntegrationResult
{
    public IntegrationResult(int npt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(npt, 1);
        Npt = npt;
        Radial = new double[npt];
        TwoThetaDeg = new double[npt];
        Intensity = new float[npt];
        Sigma = new float[npt];
        Count = new double[npt];
        SumSignal = new double[npt];
        SumNormalization = new double[npt];
        SumVariance = new double[npt];
    }

    public int Npt { get; }

    /// <summary>Bin centres in the settings' unit.</summary>
    public double[] Radial { get; }

    /// <summary>Bin centres as 2θ in degrees (what DIOPTAS expects as "binning").</summary>
    public double[] TwoThetaDeg { get; }

    public float[] Intensity { get; }
    public float[] Sigma { get; }

    /// <summary>Σ w over contributing pixels (pixel fractions for bbox/full splitting).</summary>
    public double[] Count { get; }

    public double[] SumSignal { get; }
    public double[] SumNormalization { get; }
    public double[] SumVariance { get; }
}
