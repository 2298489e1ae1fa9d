using Xunit.Abstractions;

namespace Anvil.Integration.Tests;

/// <summary>Every committed pyFAI case: bin centres ≤ 1e-9, intensity and sigma ≤ 1e-5 relative on bins with signal.</summary>
public sealed class ParityTests(ITestOutputHelper output)
{
    private const double RadialTolerance = 1e-9;
    private const double ValueTolerance = 1e-5;

    public static TheoryData<string> CaseNames() => [.. PyFaiCases.Names];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Integrate_PyFaiCase_MatchesReference(string name)
    {
        var c = PyFaiCases.Get(name);
        var settings = PyFaiCases.Settings(c);
        var (rows, cols, frame) = PyFaiCases.Frame(c);
        using var engine = IntegrationEngine.Build(PyFaiCases.Geometry(c), rows, cols, PyFaiCases.Mask(c), settings);
        var result = engine.CreateResult();
        engine.Integrate<int>(frame, result, PyFaiCases.Image(c, "dark"), PyFaiCases.Image(c, "flat"));

        var expected = PyFaiCases.Expected(c);
        Assert.Equal(settings.Npt, expected.GetLength(0));
        double dRadial = 0, dI = 0, dS = 0, dCount = 0;
        var emptyMismatch = 0;
        var exactCount = settings.Method == SplitMethod.No;
        for (var b = 0; b < settings.Npt; b++)
        {
            dRadial = Math.Max(dRadial, Rel(result.Radial[b], expected[b, 0]));
            var count = expected[b, 3];
            dCount = Math.Max(dCount, exactCount ? Math.Abs(result.Count[b] - count) : Rel(result.Count[b], count));
            if (count > 0)
            {
                dI = Math.Max(dI, Rel(result.Intensity[b], expected[b, 1]));
                dS = Math.Max(dS, Rel(result.Sigma[b], expected[b, 2]));
            }
            else if (result.Count[b] != 0 || (settings.Dummy is not null && result.Intensity[b] != expected[b, 1]))
            {
                emptyMismatch++;
            }
        }

        output.WriteLine($"{name}: radial {dRadial:G3}, I {dI:G3}, sigma {dS:G3}, count {dCount:G3}, entries {engine.EntryCount}");
        Assert.True(dRadial <= RadialTolerance, $"radial centres differ by {dRadial:G3} relative");
        Assert.True(dCount <= (exactCount ? 0 : ValueTolerance), $"counts differ by {dCount:G3}");
        Assert.True(dI <= ValueTolerance, $"intensity differs by {dI:G3} relative");
        Assert.True(dS <= ValueTolerance, $"sigma differs by {dS:G3} relative");
        Assert.Equal(0, emptyMismatch);
    }

    private static double Rel(double actual, double expected) =>
        actual == expected ? 0 : Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-300);
}
