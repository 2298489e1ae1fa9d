using Anvil.Viewer;

namespace Anvil.Console.Tests;

/// <summary>The viewer's science without a host: units, reduction, background, phases.</summary>
public sealed class ViewerLibraryTests
{
    private const double Lambda = 0.4836;

    [Theory]
    [InlineData(10.0)]
    [InlineData(25.0)]
    public void Units_KnownAngle_MatchBraggAndRoundTrip(double twoTheta)
    {
        var theta = twoTheta / 2 * Math.PI / 180;
        Assert.Equal(4 * Math.PI * Math.Sin(theta) / Lambda, RadialUnits.FromTwoTheta(twoTheta, RadialUnit.QPerAngstrom, Lambda), 12);
        Assert.Equal(40 * Math.PI * Math.Sin(theta) / Lambda, RadialUnits.FromTwoTheta(twoTheta, RadialUnit.QPerNanometre, Lambda), 11);
        Assert.Equal(Lambda / (2 * Math.Sin(theta)), RadialUnits.FromTwoTheta(twoTheta, RadialUnit.DAngstrom, Lambda), 12);
        foreach (var (unit, _) in RadialUnits.All)
        {
            Assert.Equal(twoTheta, RadialUnits.ToTwoTheta(RadialUnits.FromTwoTheta(twoTheta, unit, Lambda), unit, Lambda), 9);
        }
    }

    [Fact]
    public void Axis_WithoutWavelength_RefusesQAndD()
    {
        var axis = new RadialAxis([1, 2, 3], null, "calibration file x.poni not found");
        Assert.Equal([RadialUnit.TwoThetaDeg], axis.Units);
        var ex = Assert.Throws<UnitNotSupportedException>(() => axis.Values(RadialUnit.DAngstrom));
        Assert.Contains("x.poni not found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reduce_MeanAndMax_OverRowsAndColumns()
    {
        var matrix = FrameMatrix.FromDense([1, 2, 3, 4, 5, 6, 7, 8], 4);
        var mean = ImageReducer.Reduce(matrix, 0, 2, [0, 2, 4], 1, ReduceMode.Mean);
        Assert.Equal([(1 + 2 + 5 + 6) / 4f, (3 + 4 + 7 + 8) / 4f], mean.Values);
        var max = ImageReducer.Reduce(matrix, 0, 2, [0, 2, 4], 2, ReduceMode.Max);
        Assert.Equal([2f, 4, 6, 8], max.Values);
        var zoomed = ImageReducer.Reduce(matrix, 1, 2, [1, 1.5, 2], 5, ReduceMode.Mean);
        Assert.Equal(1, zoomed.Height);
        Assert.Equal([6f, 6], zoomed.Values);
    }

    [Fact]
    public void Reduce_LargeMatrix_CoarseLevelGivesTheExactOverview()
    {
        const int rows = 4000, cols = 500;
        var data = new float[rows * cols];
        var random = new Random(7);
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (float)(random.NextDouble() * 1000);
        }

        var exact = FrameMatrix.FromDense(data, cols);
        var coarse = FrameMatrix.FromDense(data, cols);
        coarse.BuildCoarse(targetCells: 25_000);
        Assert.Equal(80, coarse.Coarse!.RowBlock);
        var edges = Enumerable.Range(0, 101).Select(c => c * 5.0).ToArray();
        foreach (var mode in new[] { ReduceMode.Mean, ReduceMode.Max })
        {
            var a = ImageReducer.Reduce(exact, 0, rows, edges, 10, mode);
            var b = ImageReducer.Reduce(coarse, 0, rows, edges, 10, mode);
            Assert.Equal(a.Height, b.Height);
            for (var i = 0; i < a.Values.Length; i++)
            {
                Assert.Equal(a.Values[i], b.Values[i], 0.01f);
            }
        }
    }

    [Fact]
    public void Reduce_LiveMatrix_MissingRowsAreNaN()
    {
        var matrix = FrameMatrix.Live(2);
        matrix.Set(2, [1, 2]);
        var image = ImageReducer.Reduce(matrix, 0, 3, [0, 1, 2], 3, ReduceMode.Mean);
        Assert.Equal(3, image.Height);
        Assert.True(float.IsNaN(image.Values[0]));
        Assert.Equal(2f, image.Values[5]);
        Assert.Equal(1, matrix.Filled);
    }

    [Fact]
    public void Background_LinearBaseWithNarrowPeaks_FollowsTheBase()
    {
        var n = 2000;
        var baseLine = Enumerable.Range(0, n).Select(i => 100 + (0.05 * i)).ToArray();
        var profile = baseLine.Select((b, i) => (float)(b + (500 * Math.Exp(-0.5 * Math.Pow((i - 700) / 4.0, 2))) + (300 * Math.Exp(-0.5 * Math.Pow((i - 1300) / 4.0, 2))))).ToArray();
        var background = Background.Estimate(profile);
        Assert.InRange(background[700], baseLine[700] * 0.95, baseLine[700] * 1.05);
        Assert.InRange(background[1300], baseLine[1300] * 0.95, baseLine[1300] * 1.05);
        for (var i = 100; i < n - 100; i += 50)
        {
            Assert.InRange(background[i], baseLine[i] * 0.95, baseLine[i] * 1.05);
        }

        var subtracted = Background.Subtract(profile);
        Assert.InRange(subtracted[700], 450, 520);
    }

    [Fact]
    public void Phases_BuiltInCeO2_FccReflections()
    {
        var ceo2 = Phases.BuiltIn("ceo2")!;
        Assert.Equal("CeO2", ceo2.Name);
        Assert.Equal([(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1)], ceo2.Reflections.Take(4).Select(r => (r.H, r.K, r.L)));
        Assert.Equal(5.4116 / Math.Sqrt(3), ceo2.Reflections[0].D, 12);
        var lab6 = Phases.BuiltIn("LaB6")!;
        Assert.Equal((1, 0, 0), (lab6.Reflections[0].H, lab6.Reflections[0].K, lab6.Reflections[0].L));
    }

    [Fact]
    public void Jcpds_Version4_ReadsReflectionsAndName()
    {
        var phase = Phases.ParseJcpds("""
            VERSION:   4
            COMMENT: Gold (Au)
            K0: 167.000000
            SYMMETRY: CUBIC
            A: 4.078200
            DIHKL: 2.3546 100.0 1 1 1
            DIHKL: 2.0391 52.0 2 0 0
            """, "au");
        Assert.Equal("Gold (Au)", phase.Name);
        Assert.Equal([2.3546, 2.0391], phase.Reflections.Select(r => r.D));
        Assert.Equal(52.0, phase.Reflections[1].Intensity);
        Assert.Throws<FormatException>(() => Phases.ParseJcpds("VERSION: 4\nCOMMENT: empty\n", "x"));
    }
}
