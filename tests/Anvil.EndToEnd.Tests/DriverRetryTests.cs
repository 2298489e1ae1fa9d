using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>A detector driver whose ingest is killed mid-acquisition resumes where it stopped, without duplicates.</summary>
[Collection(SuiteCollection.Name)]
public sealed class DriverRetryTests(SuiteFixture suite)
{
    // Before the retry, the replay ended with UNAVAILABLE (rc 1) and the acquisition never completed.
    [Fact]
    public async Task Replay_IngestKilledMidway_RetriesUntilItIsBackAndEveryFrameArrivesOnce()
    {
        using var stop = new CancellationTokenSource();
        var supervision = suite.Suite.SuperviseAsync(TextWriter.Null, stop.Token);
        try
        {
            const string acquisition = "retry_1009_00001";
            var folder = suite.CopyRealFrames("retry", acquisition);
            // The first two chunk parts go in before ingest dies; the replay then announces all five again, so the broker
            // sees parts 0 and 1 twice and must keep each once.
            await suite.AnnounceAsync(acquisition, folder, parts: [0, 1]);
            var ingest = suite.Suite.Services.Single(s => s.Name == "ingest");
            var restartsBefore = ingest.Restarts;
            ingest.Process.Kill();
            await ingest.Process.WaitForExitAsync().DefaultTimeout();

            var log = new StringWriter();
            var result = await AcquisitionDriver.ReplayAsync(RetryWhileUnavailable.Ingest(suite.IngestChannel, log), folder, log, CancellationToken.None)
                .DefaultTimeout(TimeSpan.FromMinutes(2));

            Assert.Equal(50, result.Frames);
            Assert.Contains("unavailable", log.ToString(), StringComparison.Ordinal);
            Assert.True(suite.Suite.Services.Single(s => s.Name == "ingest").Restarts > restartsBefore);
            var file = await suite.WaitForResultAsync(acquisition);
            using var nxs = Hdf5File.OpenRead(file);
            Assert.Equal([50L, suite.Npt], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => supervision).DefaultTimeout();
        }
    }
}
