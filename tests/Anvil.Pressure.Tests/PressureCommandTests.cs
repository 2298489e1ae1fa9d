using System.Globalization;
using Anvil.Cli;
using Anvil.Hdf5;

namespace Anvil.Pressure.Tests;

/// <summary>`anvil pressure` as the user types it: options, messages, exit codes and the P–t table.</summary>
public sealed class PressureCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("anvil-pressure-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static double Truth(long frame) => 8 + (0.25 * (frame - 1));

    [Fact]
    public async Task Run_PrintsTheTableAndWritesTheNewFile()
    {
        var input = Result();
        var (rc, text) = await Run(input, "--marker", "Au", "--reflection", "111", "--window", Window(), "--frame-period", "0.1");
        Assert.Equal(0, rc);
        var rows = text.Split('\n').Where(l => l.TrimEnd().EndsWith(" ok", StringComparison.Ordinal)).ToArray();
        Assert.Equal(28, rows.Length);
        Assert.Contains("lost: no data in the window (NaN", text);
        Assert.Contains("Fei et al. 2007", text);
        Assert.Contains("wavelength 0.2906 Å from PONI", text);
        Assert.Contains("wrote " + Path.Combine(dir, "sim_00001_pressure.nxs"), text);

        // Frame 5 row: t = 0.4 s and a pressure within 0.1 GPa of the truth.
        var frame5 = rows.Single(r => r.TrimStart().StartsWith("5 ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(0.4, double.Parse(frame5[1], CultureInfo.InvariantCulture), 9);
        Assert.Equal(Truth(5), double.Parse(frame5[5], CultureInfo.InvariantCulture), 0.1);
    }

    [Fact]
    public async Task UserLatticeWithAusNumbers_GivesAusPressures()
    {
        var input = Result();
        Assert.Equal(0, (await Run(input, "--marker", "Au", "--reflection", "111", "--window", Window(), "--out", Path.Combine(dir, "a.nxs"))).Rc);
        Assert.Equal(0, (await Run(input, "--lattice", "fcc", "--v0", "67.850", "--k0", "167", "--k0p", "6.00", "--eos", "vinet", "--reflection", "111",
            "--window", Window(), "--out", Path.Combine(dir, "b.nxs"))).Rc);
        Assert.Equal(Pressures("a.nxs"), Pressures("b.nxs"));
    }

    [Fact]
    public async Task JcpdsCard_IsABm3Marker()
    {
        var input = Result();
        var card = Path.Combine(dir, "gold.jcpds");
        File.WriteAllText(card, "VERSION: 4\nCOMMENT: gold card\nK0: 167.0\nK0P: 5.77\nSYMMETRY: CUBIC\nA: 4.078634\nALPHAT: 0\nDIHKL: 2.3548 100 1 1 1\n");
        var (rc, text) = await Run(input, "--jcpds", card, "--reflection", "111", "--window", Window());
        Assert.Equal(0, rc);
        Assert.Contains("bm3", text);
        using var file = Hdf5File.OpenRead(Path.Combine(dir, "sim_00001_pressure.nxs"));
        Assert.Equal("Birch-Murnaghan 3rd order", file.GetAttributeString("/processed/pressure", "eos"));
        Assert.Contains("jcpds: gold card", file.GetAttributeString("/processed/pressure", "scale"));
    }

    [Theory]
    [InlineData("missing reflection", "--reflection", "--marker", "Au")]
    [InlineData("half a user EOS", "--k0", "--marker", "Au", "--reflection", "111", "--v0", "67.85")]
    [InlineData("card and marker", "--jcpds", "--marker", "Au", "--jcpds", "x.jcpds", "--reflection", "111")]
    [InlineData("window syntax", "2θ1:2θ2", "--marker", "Au", "--reflection", "111", "--window", "7.0-7.4")]
    [InlineData("unknown option", "--widnow", "--marker", "Au", "--reflection", "111", "--widnow", "7:8")]
    [InlineData("no published BM3", "--v0 --k0 --k0p", "--marker", "Cu", "--reflection", "111", "--eos", "bm3")]
    [InlineData("unknown marker", "built in are", "--marker", "Au2", "--reflection", "111")]
    [InlineData("nonsense K0", "K0", "--marker", "Au", "--reflection", "111", "--v0", "67.85", "--k0", "-1", "--k0p", "6")]
    [InlineData("unknown shape", "--shape", "--marker", "Au", "--reflection", "111", "--shape", "lorentz")]
    [InlineData("zero period", "--frame-period", "--marker", "Au", "--reflection", "111", "--frame-period", "0")]
    [InlineData("width factor below 1", "--max-fwhm-change", "--marker", "Au", "--reflection", "111", "--max-fwhm-change", "0.9")]
    public async Task UsageMistakes_AreUsageErrorsThatSayWhat(string why, string mention, params string[] options)
    {
        var input = Result();
        var ex = await Assert.ThrowsAsync<UsageException>(() => Run(input, options));
        Assert.True(ex.Message.Contains(mention, StringComparison.Ordinal), $"{why}: '{ex.Message}' does not mention {mention}");
        Assert.False(File.Exists(Path.Combine(dir, "sim_00001_pressure.nxs")));
    }

    [Fact]
    public async Task InputProblems_ExitWithOneAndWriteNothing()
    {
        var input = Result(poni: false);
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(1, (await Run(input, "--marker", "Au", "--reflection", "111")).Rc);
            Assert.Equal(1, (await Run(input, "--marker", "Au", "--reflection", "222", "--wavelength", "0.2906")).Rc);
            Assert.Equal(1, (await Run(input, "--marker", "Au", "--reflection", "100", "--wavelength", "0.2906")).Rc);
        }
        finally
        {
            Console.SetError(saved);
        }

        Assert.Contains("no wavelength", error.ToString());
        Assert.Contains("outside the radial range", error.ToString());
        Assert.Contains("forbidden in an fcc lattice", error.ToString());
        Assert.False(File.Exists(Path.Combine(dir, "sim_00001_pressure.nxs")));
    }

    private static string Window()
    {
        var start = SimpleAuProfiles.TwoTheta(Truth(1), 3);
        return string.Create(CultureInfo.InvariantCulture, $"{start - 0.15}:{start + 0.15}");
    }

    private double[] Pressures(string name)
    {
        using var file = Hdf5File.OpenRead(Path.Combine(dir, name));
        return file.ReadDataset<double>("/processed/pressure/pressure");
    }

    private string Result(bool poni = true) => SimulatedResult.Write(dir, 30, [12, 13], Truth, poni);

    private static async Task<(int Rc, string Text)> Run(string input, params string[] options)
    {
        var output = new StringWriter();
        var line = new CommandLine([input, .. options], new HashSet<string>(StringComparer.Ordinal));
        var rc = await PressureCommand.RunAsync(line, output, CancellationToken.None);
        return (rc, output.ToString());
    }
}
