using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Hosting;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// Issue 15, defect 1, on a real suite: merge writing to a full disk. Before the fix it renamed a result it could not write
/// into place (a file that does not open, looking finished), showed nothing, and the acquisition never completed. Now no
/// file gets the final name, merge's WorkerStatus names the acquisition and why, and once the space is back the
/// acquisition completes by itself from the profiles the broker kept.
/// </summary>
public sealed class DiskFullTests : IAsyncLifetime
{
    private readonly string workDir = Directory.CreateTempSubdirectory("anvil-diskfull-").FullName;
    private FullDisk disk = null!;
    private Suite suite = null!;

    private string DataRoot => Path.Combine(workDir, "data");

    public async Task InitializeAsync()
    {
        disk = FullDisk.Mount(megabytes: 4);
        disk.Fill(bytesLeft: 16 * 1024);
        Directory.CreateDirectory(DataRoot);
        suite = await Suite.StartAsync(new SuiteOptions
        {
            WorkDir = workDir,
            Ports = PortPlan.Free(),
            Pipeline = new Dictionary<string, string>
            {
                ["DataRoot"] = DataRoot,
                ["OutputDir"] = disk.Path,
                ["Poni"] = Path.Combine(TestPaths.LambdaFixtures, "L2.poni"),
                ["Npt"] = "2000",
                ["Method"] = "bbox",
                ["ResendDelay"] = "00:00:05",
            },
        }, TimeSpan.FromSeconds(90), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (suite is not null)
        {
            await suite.DisposeAsync();
        }

        disk?.Dispose();
        Directory.Delete(workDir, recursive: true);
    }

    [Fact]
    public async Task Merge_OutputDiskFull_NoFinalFileFailureShownThenCompletesWhenSpaceReturns()
    {
        const string acquisition = "full_1009_00001";
        var folder = Path.Combine(DataRoot, "full");
        RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, acquisition);

        using var ingestChannel = GrpcChannel.ForAddress(suite.IngestAddress);
        await AcquisitionDriver.ReplayAsync(new Anvil.Pipeline.V1.Ingest.IngestClient(ingestChannel), folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();

        // Merge cannot write the result: it says so, and nothing carries the final name.
        using var mergeChannel = GrpcChannel.ForAddress(suite.Services.Single(s => s.Name == "merge").Address);
        var merge = new WorkerStatus.WorkerStatusClient(mergeChannel);
        string failing = string.Empty;
        await TaskTimeoutExtensions.UntilAsync("merge reports the acquisition it cannot write", async () =>
        {
            var status = await merge.GetStatusAsync(new WorkerStatusRequest()).ResponseAsync.DefaultTimeout();
            failing = status.Failing.FirstOrDefault(f => f.StartsWith(acquisition, StringComparison.Ordinal)) ?? string.Empty;
            return failing.Length > 0;
        }, TimeSpan.FromMinutes(2));
        Assert.Contains("No space left on device", failing, StringComparison.Ordinal);
        var result = Path.Combine(disk.Path, acquisition + ".nxs");
        Assert.False(File.Exists(result), "a result that could not be written must not get its final name");
        Assert.DoesNotContain(Directory.GetFiles(disk.Path), f => f.EndsWith(".nxs", StringComparison.Ordinal));

        // The space comes back: the acquisition completes by itself, whole.
        disk.MakeRoom();
        await TaskTimeoutExtensions.Until($"{result} is written", () => File.Exists(result), TimeSpan.FromMinutes(2));
        using (var nxs = Hdf5File.OpenRead(result))
        {
            Assert.Equal([50L, 2000], nxs.GetDatasetInfo("/processed/result/data").Shape);
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/failed_frames"));
            Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
            Assert.DoesNotContain(nxs.ReadDataset<float>("/processed/result/data"), float.IsNaN);
        }

        // Cleared once merge has also recorded the result in the broker, just after the rename.
        await TaskTimeoutExtensions.UntilAsync("merge reports nothing failing", async () =>
            (await merge.GetStatusAsync(new WorkerStatusRequest()).ResponseAsync.DefaultTimeout()).Failing.Count == 0, TimeSpan.FromSeconds(30));
    }
}
