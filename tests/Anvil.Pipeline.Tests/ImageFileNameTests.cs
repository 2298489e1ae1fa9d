namespace Anvil.Pipeline.Tests;

/// <summary>Watch mode's names for single-image detector sequences.</summary>
public sealed class ImageFileNameTests
{
    [Theory]
    [InlineData("pe_00001.tif", "pe", 1)]
    [InlineData("LaB6-0007.TIFF", "LaB6", 7)]
    [InlineData("ramp_2_00012.cbf", "ramp_2", 12)]
    [InlineData("sample.1_0000.edf", "sample.1", 0)]
    [InlineData("scan42_master.h5", "scan42", 0)]
    public void SequencesAndMastersParse(string name, string acquisition, long number)
    {
        Assert.True(ImageFileName.TryParse(name, out var a, out var n));
        Assert.Equal((acquisition, number), (a, n));
    }

    [Theory]
    [InlineData("scan42_data_000001.h5")] // an Eiger data file belongs to its master
    [InlineData("testasapo1_1009_00002_m1_part00000.nxs")] // a Lambda chunk
    [InlineData("pe.tif")] // no number
    [InlineData("pe_00001.tif.part")]
    [InlineData("bad name_00001.tif")]
    public void OtherFilesDoNot(string name) => Assert.False(ImageFileName.TryParse(name, out _, out _));
}
