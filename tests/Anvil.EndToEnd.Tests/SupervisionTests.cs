using System.Net;
using System.Text.Json;
using Anvil.Cli;
using Anvil.Cli.Supervision;
using Anvil.Hdf5;
using Anvil.Pipeline;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>`anvil up`'s supervisor and its JSON API (what the console's Status tab reads) against the running suite.</summary>
[Collection(SuiteCollection.Name)]
public sealed class SupervisionTests(SuiteFixture suite)
{
    [Fact]
    public async Task SupervisorApi_RunningSuite_ListsEveryProcessAndServesLogs()
    {
        await using var api = await SupervisorApi.StartAsync(suite.Suite, 0, CancellationToken.None).DefaultTimeout();
        using var http = new HttpClient { BaseAddress = new Uri(api.Address) };

        // No console in this suite: the root says what the API serves instead of sending the browser to the Status tab.
        Assert.Contains("/api/status", await http.GetStringAsync("/").DefaultTimeout(), StringComparison.Ordinal);

        using var status = JsonDocument.Parse(await http.GetStringAsync("/api/status").DefaultTimeout());
        var services = status.RootElement.GetProperty("services").EnumerateArray().ToArray();
        Assert.Equal(["broker", "ingest", "stitch", "integrate", "integrate-2", "merge", "reprocess-stitch", "reprocess-integrate", "reprocess-merge"], services.Select(s => s.GetProperty("name").GetString()));
        foreach (var service in services)
        {
            var process = suite.Suite.Services.Single(s => s.Name == service.GetProperty("name").GetString());
            Assert.True(service.GetProperty("running").GetBoolean());
            Assert.Equal(process.Process.Id, service.GetProperty("pid").GetInt32());
            Assert.Equal(process.Address, service.GetProperty("address").GetString());
            Assert.Equal(process.Restarts, service.GetProperty("restarts").GetInt32());
        }

        var log = await http.GetStringAsync("/api/logs/broker").DefaultTimeout();
        Assert.Contains("Now listening on", log, StringComparison.Ordinal);
        using var missing = await http.GetAsync("/api/logs/nothing").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Supervise_IntegrateKilledDuringARun_RestartsItAndEveryFrameArrivesOnce()
    {
        using var stop = new CancellationTokenSource();
        var supervision = suite.Suite.SuperviseAsync(TextWriter.Null, stop.Token);
        try
        {
            const string acquisition = "sup_1009_00006";
            var folder = Path.Combine(suite.DataRoot, "sup");
            RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, acquisition);

            var victim = suite.Suite.Services.Single(s => s.Name == "integrate-2");
            var restartsBefore = victim.Restarts;
            await AcquisitionDriver.ReplayAsync(suite.Ingest, folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
            victim.Process.Kill();

            await suite.WaitRestartedAndServingAsync("integrate-2", restartsBefore, TimeSpan.FromMinutes(1));

            var result = await suite.WaitForResultAsync(acquisition);
            using var nxs = Hdf5File.OpenRead(result);
            Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
            var restarted = suite.Suite.Services.Single(s => s.Name == "integrate-2");
            Assert.Equal(restartsBefore + 1, restarted.Restarts);
            Assert.Equal(137, restarted.LastExitCode);
            Assert.InRange(restarted.LastExitUtc!.Value, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow);
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => supervision).DefaultTimeout();
        }
    }
}
