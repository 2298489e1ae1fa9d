using Anvil.Cli;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>`anvil demo` refuses a replay whose results already exist, before starting anything (merge never overwrites).</summary>
public sealed class DemoCommandTests : IDisposable
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-demo-test-");

    [Fact]
    public async Task Demo_ReplayOverExistingResult_UsageErrorNamingTheFile()
    {
        var existing = Path.Combine(work.FullName, "testasapo1_1009_00002.nxs");
        await File.WriteAllBytesAsync(existing, []).DefaultTimeout();
        var line = new CommandLine(["--replay", TestPaths.LambdaFixtures, "--poni", Path.Combine(TestPaths.LambdaFixtures, "L2.poni"), "--out", work.FullName],
            new HashSet<string> { "keep" });
        var ex = await Assert.ThrowsAsync<UsageException>(() => DemoCommand.RunAsync(line, TextWriter.Null, CancellationToken.None).DefaultTimeout());
        Assert.Contains(existing, ex.Message, StringComparison.Ordinal);
        Assert.Contains("--out", ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => work.Delete(recursive: true);
}
