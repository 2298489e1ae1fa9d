namespace Anvil.Testing;

/// <summary>Locations of the repository and its committed fixtures, found from the test assembly.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The repository root (the folder holding global.json).</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>tests/fixtures.</summary>
    public static string Fixtures => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>tests/fixtures/lambda: 50 real Lambda 2M frames (3 modules × 5 parts), L2.poni and a DIOPTAS mask.</summary>
    public static string LambdaFixtures => Path.Combine(Fixtures, "lambda");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "global.json")) && Directory.Exists(Path.Combine(dir.FullName, "protos")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root (global.json + protos/) above {AppContext.BaseDirectory}.");
    }
}
