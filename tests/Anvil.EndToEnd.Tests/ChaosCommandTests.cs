using Anvil.Cli;
using Anvil.Cli.Chaos;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// The short fault campaign CI runs (`anvil chaos --quick`): a real supervised suite, one trial of each kind of fault
/// (a killed worker, a killed merge, a stopped stitch, a corrupt and a missing chunk file, bad requests on every
/// service), each result compared row for row with an undisturbed run.
/// </summary>
public sealed class ChaosCommandTests
{
    [Fact]
    public async Task ChaosQuick_EveryFault_NothingLostNothingWrongNothingSilent()
    {
        var log = new StringWriter();
        var exit = await ChaosCommand.RunAsync(new CommandLine(["--quick"], new HashSet<string> { "quick" }), TextWriter.Synchronized(log), CancellationToken.None)
            .DefaultTimeout(TimeSpan.FromMinutes(15));

        var output = log.ToString();
        Assert.True(exit == 0, output);
        Assert.Contains("nothing lost, nothing wrong, nothing silent", output, StringComparison.Ordinal);
        foreach (var fault in ChaosCommand.QuickFaults)
        {
            Assert.Contains($"| {fault} | 1 |", output, StringComparison.Ordinal);
        }

        // The damaged chunk's frames are flagged, not silently lost: the missing file's ten frames at least.
        Assert.Matches(@"\| missing chunk file \| 1 \| 40 \| 0 \| 0 \| 10 \| 0 \|", output);
    }
}
