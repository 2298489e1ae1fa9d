using Anvil.Pipeline;
using Anvil.Testing;

namespace Anvil.Console.Tests;

/// <summary>Result files written by the real <see cref="ResultFileWriter"/>, with peaks where a test wants them.</summary>
public static class SyntheticResults
{
    /// <summary>The committed P02.2 calibration: λ = 0.4836 Å.</summary>
    public static string Poni => Path.Combine(TestPaths.LambdaFixtures, "L2.poni");

    public const double WavelengthAngstrom = 0.4836;

    /// <summary>2θ bin centres: <paramref name="bins"/> evenly spaced from <paramref name="first"/> by <paramref name="step"/>.</summary>
    public static double[] Axis(int bins, double first = 2.0, double step = 0.01) => Enumerable.Range(0, bins).Select(i => first + (i * step)).ToArray();

    /// <summary>
    /// A profile: a slowly falling background plus Gaussian peaks (σ 0.02°) at <paramref name="peaks"/> 2θ,
    /// scaled by <paramref name="gain"/> so rows differ.
    /// </summary>
    public static float[] Profile(double[] axis, IEnumerable<double> peaks, double gain = 1)
    {
        var list = peaks.ToArray();
        return axis.Select(t => (float)(gain * ((50 * Math.Exp(-t / 20)) + list.Sum(p => 1000 * Math.Exp(-0.5 * Math.Pow((t - p) / 0.02, 2)))))).ToArray();
    }

    /// <summary>Writes <paramref name="directory"/>/<paramref name="acquisition"/>.nxs and returns its path.</summary>
    public static string Write(string directory, string acquisition, int frames, double[] axis, Func<int, float[]> row,
        string? calFile = null, IReadOnlySet<int>? failed = null, Func<int, (string M1File, int FileIndex, int Index)>? source = null)
    {
        using var writer = ResultFileWriter.Create(Path.Combine(directory, acquisition + ".nxs"));
        for (var frame = 1; frame <= frames; frame++)
        {
            var error = failed?.Contains(frame) == true ? "chunk part missing" : string.Empty;
            var curve = error.Length > 0 ? null : new CurveRow(axis, row(frame), new float[axis.Length], new float[axis.Length]);
            var (m1, fileIndex, index) = source?.Invoke(frame) ?? ("m1.h5", 0, frame - 1);
            writer.Write(new FrameResult(frame, fileIndex, index, m1, "h1", $$"""{"poni":"{{calFile ?? Poni}}","npt":{{axis.Length}}}""", curve, null, error));
        }

        return writer.Complete(frames, new ResultMetadata(calFile ?? Poni, "bbox", "2th_deg", axis.Length));
    }
}
