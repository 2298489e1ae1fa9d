using System.Net;
using System.Text.Json;
using Anvil.Cli;
using Anvil.Cli.Dashboard;
using Anvil.Hdf5;
using Anvil.Testing;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>`anvil up`'s supervisor and operator page against the running suite.</summary>
[Collection(SuiteCollection.Name)]
public sealed class SupervisionTests(SuiteFixture suite)
{
    [Fact]
    public async Task Dashboard_RunningSuite_ShowsEveryServiceWithLoadAndServesLogs()
    {
        await using var dashboard = await SuiteDashboard.StartAsync(suite.Suite, suite.OutputDir, 0, CancellationToken.None).DefaultTimeout();
        using var http = new HttpClient { BaseAddress = new Uri(dashboard.Address) };

        var page = await http.GetStringAsync("/").DefaultTimeout();
        Assert.Contains("<title>Anvil suite</title>", page, StringComparison.Ordinal);

        using var status = JsonDocument.Parse(await http.GetStringAsync("/api/status").DefaultTimeout());
        var services = status.RootElement.GetProperty("services").EnumerateArray().ToArray();
        Assert.Equal(["broker", "ingest", "stitch", "integrate", "integrate-2", "merge"], services.Select(s => s.GetProperty("name").GetString()));
        Assert.All(services, s => Assert.Equal("serving", s.GetProperty("state").GetString()));
        Assert.All(services, s => Assert.True(s.GetProperty("cpu_seconds").GetDouble() > 0));
        Assert.All(services.Where(s => s.GetProperty("name").GetString()!.StartsWith("integrate", StringComparison.Ordinal)),
            s => Assert.True(s.GetProperty("handled").GetInt64() >= 0));
        Assert.Contains($"\"npt\": {suite.Npt}", status.RootElement.GetProperty("settings").GetString(), StringComparison.Ordinal);

        var log = await http.GetStringAsync("/api/logs/broker").DefaultTimeout();
        Assert.False(string.IsNullOrWhiteSpace(log));
        using var missing = await http.GetAsync("/api/logs/nothing").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
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
            Directory.CreateDirectory(folder);
            foreach (var file in Directory.GetFiles(TestPaths.LambdaFixtures, "*.nxs"))
            {
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file).Replace("testasapo1_1009_00002", acquisition, StringComparison.Ordinal)));
            }

            var victim = suite.Suite.Services.Single(s => s.Name == "integrate-2");
            var restartsBefore = victim.Restarts;
            await AcquisitionDriver.ReplayAsync(suite.Ingest, folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
            victim.Process.Kill();

            await TaskTimeoutExtensions.UntilAsync("integrate-2 restarted and serving", async () =>
            {
                var current = suite.Suite.Services.Single(s => s.Name == "integrate-2");
                if (current.Restarts == restartsBefore || current.Process.HasExited)
                {
                    return false;
                }

                using var channel = GrpcChannel.ForAddress(current.Address);
                try
                {
                    var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                    return health.Status == HealthCheckResponse.Types.ServingStatus.Serving;
                }
                catch (Grpc.Core.RpcException)
                {
                    return false;
                }
            }, TimeSpan.FromMinutes(1));

            var result = await suite.WaitForResultAsync(acquisition);
            using var nxs = Hdf5File.OpenRead(result);
            Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
            Assert.Equal(restartsBefore + 1, suite.Suite.Services.Single(s => s.Name == "integrate-2").Restarts);
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => supervision).DefaultTimeout();
        }
    }
}
