namespace Anvil.Integration.Tests;

/// <summary>
/// The matrix itself against pyFAI, independent of the per-frame kernels: for every committed case, each bin's
/// coefficients summed over the pixels the frame leaves in (float64, ascending pixel order, which is the order
/// pyFAI's CSR engine sums them in) must equal pyFAI's count column exactly. One float32 ulp off in one
/// coefficient changes a sum by ≈ 1e-11 relative, so this holds every split mode, full splitting included, to
/// pyFAI's coefficients bit for bit.
/// </summary>
public sealed class MatrixParityTests
{
    [Theory]
    [MemberData(nameof(ParityTests.CaseNames), MemberType = typeof(ParityTests))]
    public void Build_PyFaiCase_CoefficientSumsEqualPyFaiCounts(string name)
    {
        var (c, settings, frame, matrix) = Matrix(name);

        // pyFAI leaves out NaN pixels and, with a dummy, values within delta_dummy of it (Lambda: −1 via ExcludeNegative).
        var kept = Array.ConvertAll(frame, v => !double.IsNaN(v)
            && !(settings.ExcludeNegative && v < 0)
            && !(settings.Dummy is { } dummy && Math.Abs(v - dummy) <= (settings.DeltaDummy ?? 0)));

        // Groups run band by band, and a lane lists its bin's pixels of the band ascending, so walking the groups
        // in order visits each bin's pixels in ascending order.
        var sums = new double[settings.Npt];
        for (var g = 0; g < matrix.Groups; g++)
        {
            var origin = matrix.GroupTile[g] * matrix.TilePixels;
            foreach (var (bin, e) in EntriesOf(matrix, g))
            {
                if (kept[origin + matrix.Local[e]])
                {
                    sums[bin] += matrix.Weights[e];
                }
            }
        }

        var expected = PyFaiCases.Expected(c);
        var differing = Enumerable.Range(0, settings.Npt).Where(b => sums[b] != expected[b, 3]).ToArray();
        Assert.True(differing.Length == 0,
            $"{differing.Length} bins differ from pyFAI's count, first {(differing.Length > 0 ? $"bin {differing[0]}: {sums[differing[0]]:R} vs {expected[differing[0], 3]:R}" : "")}");
    }

    /// <summary>
    /// Padding entries carry coefficient 0 and the offset of a pixel their group already holds: a padding entry aimed
    /// at a pixel outside the matrix (a masked gap at −1) would send its lane down the slow exclusion path every frame.
    /// </summary>
    [Theory]
    [InlineData("lambda_bbox_2th_deg")]
    [InlineData("tilted_full_2th_deg")]
    public void Build_Padding_PointsAtPixelsOfItsOwnGroup(string name)
    {
        var matrix = Matrix(name).Matrix;
        var padded = 0;
        for (var g = 0; g < matrix.Groups; g++)
        {
            var real = EntriesOf(matrix, g).Select(e => matrix.Local[e.Entry]).ToHashSet();
            var steps = (matrix.GroupStart[g + 1] - matrix.GroupStart[g]) / TiledMatrix.Lanes;
            for (var lane = 0; lane < TiledMatrix.Lanes; lane++)
            {
                for (var s = matrix.LaneLength[(g * TiledMatrix.Lanes) + lane]; s < steps; s++, padded++)
                {
                    var j = matrix.GroupStart[g] + (s * TiledMatrix.Lanes) + lane;
                    Assert.Equal(0f, matrix.Weights[j]);
                    Assert.Contains(matrix.Local[j], real);
                }
            }
        }

        Assert.True(padded > 0, "the case has padding to check");
    }

    /// <summary>A committed case's settings, frame and matrix, built without the per-frame kernels.</summary>
    private static (System.Text.Json.JsonElement Case, IntegrationSettings Settings, double[] Frame, TiledMatrix Matrix) Matrix(string name)
    {
        var c = PyFaiCases.Get(name);
        var settings = PyFaiCases.Settings(c);
        var (rows, cols, frame) = PyFaiCases.Frame(c);
        var mask = PyFaiCases.Mask(c);
        return (c, settings, frame, new CsrBuilder(PyFaiCases.Geometry(c), rows, cols, mask.Length == 0 ? null : mask, settings).Build());
    }

    /// <summary>Bin and entry index of every real entry of group g, lane by lane, pixels ascending.</summary>
    private static IEnumerable<(int Bin, int Entry)> EntriesOf(TiledMatrix m, int g)
    {
        for (var lane = 0; lane < TiledMatrix.Lanes; lane++)
        {
            for (var s = 0; s < m.LaneLength[(g * TiledMatrix.Lanes) + lane]; s++)
            {
                yield return (m.GroupBin[g] + lane, m.GroupStart[g] + (s * TiledMatrix.Lanes) + lane);
            }
        }
    }
}
