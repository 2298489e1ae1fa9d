namespace Anvil.Pressure.Tests;

public sealed class JcpdsTests
{
    private const string Gold = """
        VERSION: 4
        COMMENT: Gold (Au), test card
        K0: 167.00
        K0P: 5.50
        SYMMETRY: CUBIC
        A: 4.07860
        ALPHAT: 0.000014
        DIHKL: 2.3548 100.0 1 1 1
        DIHKL: 2.0393 52.0 2 0 0
        """;

    [Fact]
    public void Version4Cubic_GivesABm3MarkerWithTheCardsNumbers()
    {
        var marker = JcpdsFile.Parse(Gold, "au");
        var scale = marker.DefaultScale;
        Assert.Equal(EosForm.BirchMurnaghan3, scale.Form);
        Assert.Equal(4.0786 * 4.0786 * 4.0786, scale.V0, 9);
        Assert.Equal(167.0, scale.K0);
        Assert.Equal(5.5, scale.K0Prime);
        Assert.Contains("Gold (Au)", scale.Citation);
        Assert.Equal(2.3548, marker.Lattice.DSpacing(new Hkl(1, 1, 1), scale.V0), 4);
    }

    [Fact]
    public void Hexagonal_KeepsCOverA()
    {
        var marker = JcpdsFile.Parse("VERSION: 4\nK0: 100\nK0P: 4\nSYMMETRY: HEXAGONAL\nA: 2.5\nC: 4.0\n", "hcp");
        Assert.Equal(Structure.Hexagonal, marker.Lattice.Structure);
        Assert.Equal(1.6, marker.Lattice.CoverA, 12);
        Assert.Equal(2.0, marker.Lattice.DSpacing(new Hkl(0, 0, 2), marker.DefaultScale.V0), 12);
    }

    [Theory]
    [InlineData("VERSION: 3\nK0: 167\nK0P: 5\nSYMMETRY: CUBIC\nA: 4.08\n", "version")]
    [InlineData("K0: 167\nK0P: 5\nSYMMETRY: CUBIC\nA: 4.08\n", "VERSION")]
    [InlineData("VERSION: 4\nK0P: 5\nSYMMETRY: CUBIC\nA: 4.08\n", "K0")]
    [InlineData("VERSION: 4\nK0: 167\nK0P: 5\nSYMMETRY: ORTHORHOMBIC\nA: 4.08\n", "ORTHORHOMBIC")]
    [InlineData("VERSION: 4\nK0: 167\nK0P: 5\nSYMMETRY: CUBIC\nA: abc\n", "A")]
    [InlineData("VERSION: 4\nK0: 167\nK0P: 5\nSYMMETRY: HEXAGONAL\nA: 2.5\n", "C")]
    public void BrokenCards_AreRefusedByName(string text, string mention)
    {
        var ex = Assert.Throws<FormatException>(() => JcpdsFile.Parse(text, "card"));
        Assert.Contains(mention, ex.Message);
    }

    [Theory]
    [InlineData("VERSION: 4\nK0: 0\nK0P: 5\nSYMMETRY: CUBIC\nA: 4.08\n")]
    [InlineData("VERSION: 4\nK0: 167\nK0P: 5\nSYMMETRY: CUBIC\nA: -4.08\n")]
    public void NonsenseEosNumbers_AreRefused(string text) =>
        Assert.ThrowsAny<Exception>(() => JcpdsFile.Parse(text, "card"));

    [Fact]
    public void Load_NamesAMissingFile() =>
        Assert.Throws<FileNotFoundException>(() => JcpdsFile.Load("/nonexistent/au.jcpds"));
}
