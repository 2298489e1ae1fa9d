using System.Diagnostics;
using Anvil.Testing;

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

            await suite.WaitRestartedAndServingAsync("stitch", restartsBefore, TimeSpan.FromMinutes(2));

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
