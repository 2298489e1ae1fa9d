namespace Anvil.Integration.Tests;

/// <summary>The settings model's units, d-spacing among them (binned as q_A^-1, given as d = 2π/q; README "d-spacing").</summary>
public sealed class RadialUnitTests
{
    [Theory]
    [InlineData("2th_deg", RadialUnit.TwoThetaDeg, "deg")]
    [InlineData("2th_rad", RadialUnit.TwoThetaRad, "rad")]
    [InlineData("q_nm^-1", RadialUnit.QNm, "1/nm")]
    [InlineData("q_A^-1", RadialUnit.QA, "1/angstrom")]
    [InlineData("d_A", RadialUnit.DA, "angstrom")]
    public void Parse_EveryName_RoundTripsWithItsNexusUnits(string name, RadialUnit unit, string nexus)
    {
        Assert.Equal(unit, RadialUnits.Parse(name));
        Assert.Equal(name, unit.Format());
        Assert.Equal(nexus, unit.NexusUnits());
        Assert.Equal(unit, IntegrationSettings.FromJson(new IntegrationSettings { Unit = unit }.ToJson()).Unit);
    }

    [Fact]
    public void Parse_UnknownName_SaysWhichNamesExist()
    {
        var ex = Assert.Throws<FormatException>(() => RadialUnits.Parse("d_nm"));
        Assert.Equal("unit 'd_nm' is unknown: give 2th_deg, 2th_rad, q_nm^-1, q_A^-1 or d_A.", ex.Message);
    }

    [Fact]
    public void DSpacing_BinnedAsQInAngstrom_CentreAndRangeAreTwoPiOverQ()
    {
        const double qNm = 31.4;
        Assert.Equal(qNm * 0.1, RadialUnit.QA.FromInternal(qNm));
        Assert.Equal(2 * Math.PI / (qNm * 0.1), RadialUnit.DA.FromInternal(qNm));
        var (lo, hi) = RadialUnit.DA.ToInternalRange(1.0, 2.0);
        Assert.Equal(2 * Math.PI / 2.0 / 0.1, lo);
        Assert.Equal(2 * Math.PI / 1.0 / 0.1, hi);
        Assert.True(RadialUnit.DA.IsQ());
    }

    [Theory]
    [InlineData(0.0, 2.0)]
    [InlineData(-1.0, 2.0)]
    public void Validate_DSpacingRangeReachingZero_IsRefusedNamingTheField(double lo, double hi)
    {
        var errors = new IntegrationSettings { Unit = RadialUnit.DA, RadialRange = (lo, hi) }.Validate(checkFiles: false);
        var error = Assert.Single(errors);
        Assert.Equal("radial_range", error.Field);
        Assert.Contains("above 0 Å", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_DSpacing_SameIntensitiesAsQInAngstromWithDescendingD()
    {
        var geometry = PyFaiCases.Geometry(PyFaiCases.Get("centred_no_dA"));
        var frame = Enumerable.Range(0, 64 * 80).Select(i => (float)(i % 97)).ToArray();
        using var q = IntegrationEngine.Build(geometry, 64, 80, [], new IntegrationSettings { Npt = 50, Unit = RadialUnit.QA });
        using var d = IntegrationEngine.Build(geometry, 64, 80, [], new IntegrationSettings { Npt = 50, Unit = RadialUnit.DA });
        var (rq, rd) = (q.CreateResult(), d.CreateResult());
        q.Integrate<float>(frame, rq);
        d.Integrate<float>(frame, rd);
        Assert.Equal(rq.Intensity, rd.Intensity);
        Assert.Equal(rq.TwoThetaDeg, rd.TwoThetaDeg);
        Assert.Equal(rq.Radial.Select(v => 2 * Math.PI / v), rd.Radial);
        Assert.True(rd.Radial[0] > rd.Radial[^1], "d descends as q ascends");
    }
}
