using System.Diagnostics;
using Anvil.Testing;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>Issue 15, defect 6: a hung (SIGSTOPped) service used to be shown "down" and never restarted.</summary>
[Collection(SuiteCollection.Name)]
public sealed class HungServiceTests(SuiteFixture suite)
{
    [Fact]
    public async Task Supervise_StitchStopped_KilledAfterItStopsAnsweringAndRestartedServing()
    {
        using var stop = new CancellationTokenSource();
        var log = new StringWriter();
        var supervision = suite.Suite.SuperviseAsync(TextWriter.Synchronized(log), stop.Token, hungAfter: TimeSpan.FromSeconds(6));
        var victim = suite.Suite.Services.Single(s => s.Name == "stitch");
        var (pid, restartsBefore) = (victim.Process.Id, victim.Restarts);
        try
        {
            using (var kill = Process.Start("kill", $"-STOP {pid}"))
            {
                await kill.WaitForExitAsync().DefaultTimeout();
                Assert.Equal(0, kill.ExitCode);
            }

            await TaskTimeoutExtensions.UntilAsync("stitch restarted and serving", async () =>
            {
                var current = suite.Suite.Services.Single(s => s.Name == "stitch");
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
            }, TimeSpan.FromMinutes(2));

            Assert.False(Directory.Exists($"/proc/{pid}"), "the stopped process was killed");
            Assert.Contains("stitch has not answered its health check", log.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            // Should the test fail before the kill, the stopped process must not stay stopped.
            using (var resume = Process.Start(new ProcessStartInfo("kill", $"-CONT {pid}") { RedirectStandardError = true })!)
            {
                await resume.WaitForExitAsync().DefaultTimeout();
            }

            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => supervision).DefaultTimeout();
        }
    }
}
