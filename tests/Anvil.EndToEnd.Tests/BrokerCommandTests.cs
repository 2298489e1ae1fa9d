using Anvil.Cli;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>`anvil broker streams|groups|backlog` against the running suite's broker, with the suite's token.</summary>
[Collection(SuiteCollection.Name)]
public sealed class BrokerCommandTests(SuiteFixture suite)
{
    [Fact]
    public async Task Streams_NoDataSource_ListsTheAcquisitionInEveryPipelineDataSource()
    {
        await TelemetryTests.ReplayOnceAsync(suite).DefaultTimeout(TimeSpan.FromMinutes(4));
        var output = await RunAsync("streams");

        foreach (var source in new[] { "raw", "frames", "profiles" })
        {
            Assert.Contains($"data source {source}:", output, StringComparison.Ordinal);
        }

        Assert.True(output.Split('\n').Count(l => l.StartsWith(TelemetryTests.Acquisition, StringComparison.Ordinal)) >= 3, output);
    }

    [Fact]
    public async Task Backlog_FinishedAcquisition_ShowsItsGroupsWithNothingLeft()
    {
        await TelemetryTests.ReplayOnceAsync(suite).DefaultTimeout(TimeSpan.FromMinutes(4));
        var output = await RunAsync("backlog", "--data-source", "frames", "--stream", TelemetryTests.Acquisition);

        var row = Assert.Single(output.Split('\n'), l => l.StartsWith(TelemetryTests.Acquisition, StringComparison.Ordinal) && l.Contains("integrate", StringComparison.Ordinal));
        Assert.EndsWith("0", row.TrimEnd());
    }

    private async Task<string> RunAsync(params string[] args)
    {
        using var log = new StringWriter();
        string[] all = [.. args, "--broker", suite.Suite.BrokerAddress, "--token", suite.Suite.BrokerToken];
        var code = await BrokerCommand.RunAsync(new CommandLine(all, new HashSet<string>()), log, CancellationToken.None).DefaultTimeout();
        Assert.True(code == 0, log.ToString());
        return log.ToString();
    }
}
