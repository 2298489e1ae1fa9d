namespace Anvil.Pressure.Tests;

public sealed class LatticeTests
{
    [Theory]
    [InlineData("111", 1, 1, 1)]
    [InlineData("200", 2, 0, 0)]
    [InlineData("1 1 1", 1, 1, 1)]
    [InlineData("2,2,0", 2, 2, 0)]
    [InlineData("-1 1 3", -1, 1, 3)]
    public void Hkl_Parses(string text, int h, int k, int l) => Assert.Equal(new Hkl(h, k, l), Hkl.Parse(text));

    [Theory]
    [InlineData("11")]
    [InlineData("000")]
    [InlineData("a b c")]
    public void Hkl_RefusesNonsense(string text) => Assert.Throws<FormatException>(() => Hkl.Parse(text));

    [Fact]
    public void Cubic_DSpacingsFollowTheMillerIndices()
    {
        var fcc = new Lattice(Structure.Fcc);
        var v = 4.0786 * 4.0786 * 4.0786;
        Assert.Equal(4.0786 / Math.Sqrt(3), fcc.DSpacing(new Hkl(1, 1, 1), v), 12);
        Assert.Equal(4.0786 / 2, fcc.DSpacing(new Hkl(2, 0, 0), v), 12);
        Assert.Equal(v, fcc.VolumeFromD(new Hkl(2, 2, 0), 4.0786 / Math.Sqrt(8)), 9);
    }

    [Fact]
    public void ForbiddenReflections_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new Lattice(Structure.Fcc).Shape(new Hkl(1, 0, 0)));
        Assert.Throws<ArgumentException>(() => new Lattice(Structure.Fcc).Shape(new Hkl(2, 1, 0)));
        Assert.Throws<ArgumentException>(() => new Lattice(Structure.Bcc).Shape(new Hkl(1, 1, 1)));
        Assert.Equal(Math.Sqrt(2), new Lattice(Structure.Bcc).Shape(new Hkl(1, 1, 0)), 12);
        Assert.Equal(1, new Lattice(Structure.SimpleCubic).Shape(new Hkl(1, 0, 0)), 12);
    }

    [Fact]
    public void Hexagonal_DSpacingsAndVolume()
    {
        // a = 2.5, c = 4.0: d(002) = c/2, d(100) = a·√3/2, V = √3/2·a²c.
        var hex = new Lattice(Structure.Hexagonal, 4.0 / 2.5);
        var v = Math.Sqrt(3) / 2 * 2.5 * 2.5 * 4.0;
        Assert.Equal(v, hex.Volume(2.5), 12);
        Assert.Equal(2.0, hex.DSpacing(new Hkl(0, 0, 2), v), 12);
        Assert.Equal(2.5 * Math.Sqrt(3) / 2, hex.DSpacing(new Hkl(1, 0, 0), v), 12);
        Assert.Equal(v, hex.VolumeFromD(new Hkl(1, 0, 1), hex.DSpacing(new Hkl(1, 0, 1), v)), 10);
    }

    [Fact]
    public void Bragg_RoundTripsAndRefusesTheUnreachable()
    {
        Assert.Equal(7.0, Bragg.TwoTheta(Bragg.DSpacing(7.0, 0.29), 0.29), 12);
        Assert.True(double.IsNaN(Bragg.TwoTheta(0.1, 0.29)));

        // σ_d by the derivative, checked with a finite difference.
        var numeric = (Bragg.DSpacing(7.0005, 0.29) - Bragg.DSpacing(6.9995, 0.29)) / 0.001 * 0.01;
        Assert.Equal(Math.Abs(numeric), Bragg.DSpacingError(7.0, 0.01, 0.29), 8);
    }

    [Theory]
    [InlineData("fcc", Structure.Fcc)]
    [InlineData("B1", Structure.Fcc)]
    [InlineData("bcc", Structure.Bcc)]
    [InlineData("b2", Structure.SimpleCubic)]
    [InlineData("hex:1.633", Structure.Hexagonal)]
    public void Lattices_Parse(string text, Structure structure) => Assert.Equal(structure, Markers.ParseLattice(text).Structure);

    [Fact]
    public void Lattices_RefuseUnknownOrIncomplete()
    {
        Assert.Throws<FormatException>(() => Markers.ParseLattice("hex"));
        Assert.Throws<FormatException>(() => Markers.ParseLattice("triclinic"));
    }
}
