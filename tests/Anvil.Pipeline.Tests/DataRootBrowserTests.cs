namespace Anvil.Pipeline.Tests;

/// <summary>Data-root browsing for the console's file pickers: listings, and confinement with real symbolic links.</summary>
public sealed class DataRootBrowserTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("anvil-browse-").FullName;

    private string Root => Path.Combine(folder, "data");

    private string Outside => Path.Combine(folder, "outside");

    public DataRootBrowserTests()
    {
        Directory.CreateDirectory(Path.Combine(Root, "scan", "deep"));
        Directory.CreateDirectory(Path.Combine(Root, "calib"));
        File.WriteAllBytes(Path.Combine(Root, "calib", "L2.poni"), new byte[123]);
        File.WriteAllBytes(Path.Combine(Root, "calib", "mask.npy"), new byte[7]);
        File.WriteAllBytes(Path.Combine(Root, "a.txt"), new byte[3]);
        Directory.CreateDirectory(Outside);
        File.WriteAllText(Path.Combine(Outside, "secret.poni"), "x");
        Directory.CreateSymbolicLink(Path.Combine(Root, "escape"), Outside);
        File.CreateSymbolicLink(Path.Combine(Root, "secret.poni"), Path.Combine(Outside, "secret.poni"));
        Directory.CreateSymbolicLink(Path.Combine(Root, "calib-link"), Path.Combine(Root, "calib"));
        File.CreateSymbolicLink(Path.Combine(Root, "dangling"), Path.Combine(Root, "nothing-here"));
    }

    [Fact]
    public void List_Root_FoldersFirstThenFilesWithSizesAndLinksOutOfTheRootLeftOut()
    {
        var listing = DataRootBrowser.List(new DataRoot(Root), "");

        Assert.Equal(string.Empty, listing.Path);
        Assert.False(listing.Truncated);
        Assert.Equal(["calib", "calib-link", "scan", "a.txt"], listing.Entries.Select(e => e.Name));
        Assert.Equal([DataRootEntryKind.Directory, DataRootEntryKind.Directory, DataRootEntryKind.Directory, DataRootEntryKind.File], listing.Entries.Select(e => e.Kind));
        var file = listing.Entries[^1];
        Assert.Equal((3L, "a.txt"), (file.Size, file.Path));
        Assert.InRange(file.ModifiedUtc, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(1));
    }

    [Theory]
    [InlineData("calib")]
    [InlineData("calib/")]
    [InlineData("./calib")]
    [InlineData("calib-link")]
    public void List_Subfolder_EntriesCarryTheirPathFromTheRoot(string path)
    {
        var listing = DataRootBrowser.List(new DataRoot(Root), path, "*.poni");

        var entry = Assert.Single(listing.Entries);
        Assert.Equal(("L2.poni", 123L), (entry.Name, entry.Size));
        Assert.Equal($"{listing.Path}/L2.poni", entry.Path);
        Assert.StartsWith("calib", listing.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void List_AbsolutePathInsideTheRoot_Accepted()
    {
        var listing = DataRootBrowser.List(new DataRoot(Root), Path.Combine(Root, "scan"));

        Assert.Equal("scan", listing.Path);
        Assert.Equal("scan/deep", Assert.Single(listing.Entries).Path);
    }

    [Theory]
    [InlineData("..", "'..'")]
    [InlineData("scan/../..", "'..'")]
    [InlineData("escape", "symbolic link")]
    [InlineData("escape/", "symbolic link")]
    [InlineData("/etc", "outside the data root")]
    [InlineData("a.txt", "is a file")]
    [InlineData("missing", "does not exist")]
    [InlineData("scan\\deep", "backslash")]
    public void List_PathLeavingTheRootOrNoFolder_ArgumentExceptionSayingWhatToFix(string path, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => DataRootBrowser.List(new DataRoot(Root), path));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void List_AbsolutePathThroughALinkOutOfTheRoot_Refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => DataRootBrowser.List(new DataRoot(Root), Path.Combine(Root, "escape")));

        Assert.Contains("symbolic link", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => DataRootBrowser.List(new DataRoot(Root), Outside));
    }

    [Fact]
    public void List_RootReachedThroughASymbolicLink_StillListsAndConfines()
    {
        var alias = Path.Combine(folder, "alias");
        Directory.CreateSymbolicLink(alias, Root);

        var listing = DataRootBrowser.List(new DataRoot(alias), "calib");

        Assert.Equal(["L2.poni", "mask.npy"], listing.Entries.Select(e => e.Name));
        Assert.Throws<ArgumentException>(() => DataRootBrowser.List(new DataRoot(alias), "escape"));
    }

    [Fact]
    public void List_MoreEntriesThanAsked_Truncated()
    {
        var listing = DataRootBrowser.List(new DataRoot(Root), "calib", maxEntries: 1);

        Assert.True(listing.Truncated);
        Assert.Equal("L2.poni", Assert.Single(listing.Entries).Name);
    }

    [Fact]
    public void List_PatternWithASlash_Refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => DataRootBrowser.List(new DataRoot(Root), "", "../*.poni"));

        Assert.Contains("file name pattern", ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);
}
