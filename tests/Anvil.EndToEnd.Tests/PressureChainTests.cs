using System.Text.Json;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Core;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// Merge's online pressure stage in the real suite (issue 16): the pressure settings set through ingest's Control
/// service for one acquisition (a settings version in the broker), the simulated Lambda ramp through every service, and
/// <c>/processed/pressure</c> in merge's file with the frame times from the Lambda files' count time.
/// </summary>
[Collection(SuiteCollection.Name)]
public sealed class PressureChainTests(SuiteFixture suite)
{
    private Control.ControlClient Control => new(suite.IngestChannel);

    [Fact]
    public async Task Simulate_WithPressureSettings_ResultHasTheRampsPressurePerFrame()
    {
        var acquisition = "e2e_pressure_00001";
        var version = await Control.UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = acquisition, Pressure = "Au 111" }).ResponseAsync.DefaultTimeout();
        Assert.Contains("\"marker\":\"Au\"", version.Pressure, StringComparison.Ordinal);

        // A marker the settings model refuses changes nothing.
        var ex = await Assert.ThrowsAsync<RpcException>(() => Control.UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = acquisition, Pressure = "Au 100" }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("forbidden", ex.Status.Detail, StringComparison.Ordinal);

        var options = new SimulationOptions { Acquisition = acquisition, Frames = 40, FramesPerChunk = 10, Seed = 11 };
        var folder = Path.Combine(suite.DataRoot, "sim-pressure");
        await AcquisitionDriver.SimulateAsync(suite.Ingest, folder, PoniFile.Load(suite.Poni), options, TextWriter.Null, CancellationToken.None)
            .DefaultTimeout(TimeSpan.FromMinutes(3));
        var result = await suite.WaitForResultAsync(acquisition);

        using var nxs = Hdf5File.OpenRead(result);
        const string g = "/processed/pressure";
        Assert.Equal("anvil merge (online)", nxs.GetAttributeString(g, "program"));
        Assert.Equal("Au", nxs.GetAttributeString(g, "marker"));
        var ok = nxs.ReadDataset<byte>(g + "/ok");
        var position = nxs.ReadDataset<double>(g + "/position");
        var time = nxs.ReadDataset<double>(g + "/frame_time");
        Assert.Equal(40, ok.Length);
        Assert.All(ok, v => Assert.Equal(1, v));
        Assert.Contains("count_time 100 ms", nxs.GetAttributeString(g + "/frame_time", "source"), StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => 0.1 * i), time, (a, b) => Math.Abs(a - b) < 1e-9);

        // The fitted 111 sits where the simulator put gold's 111 (its own truth file), to a tenth of a bin.
        using var truth = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, acquisition + "_truth.json")).DefaultTimeout());
        var binning = nxs.ReadDataset<double>("/processed/result/binning");
        var frames = truth.RootElement.GetProperty("frames");
        for (var f = 0; f < 40; f++)
        {
            var gold111 = frames[f].GetProperty("reflections").EnumerateArray()
                .First(r => r.GetProperty("phase").GetString() == "Au" && r.GetProperty("hkl").GetString() == "111")
                .GetProperty("two_theta_deg").GetDouble();
            Assert.True(Math.Abs(position[f] - gold111) < 0.1 * (binning[1] - binning[0]), $"frame {f + 1}: fitted {position[f]:F5}°, truth {gold111:F5}°");
        }

        // The pressure rises with the ramp.
        var p = nxs.ReadDataset<double>(g + "/pressure");
        Assert.True(p[^1] > p[0] + 1, $"P from {p[0]:F2} to {p[^1]:F2} GPa");
    }

    [Fact]
    public async Task LivePressure_WhileTheRampRuns_MergeServesTheFramesTrackedSoFar_AsTheFileWillHoldThem()
    {
        var acquisition = "e2e_pressure_live_00001";
        await Control.UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = acquisition, Pressure = "Au 111" }).ResponseAsync.DefaultTimeout();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(suite.Suite.Services.Single(s => s.Name == "merge").Address);
        var merge = new LivePressure.LivePressureClient(channel);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => merge.GetAsync(new LivePressureRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        // 60 frames at 10 per second: six seconds in which the file does not exist yet and P(t) grows.
        var options = new SimulationOptions { Acquisition = acquisition, Frames = 60, FramesPerChunk = 10, Seed = 12, FrameRate = 10 };
        var simulating = AcquisitionDriver.SimulateAsync(suite.Ingest, Path.Combine(suite.DataRoot, "sim-pressure-live"), PoniFile.Load(suite.Poni), options, TextWriter.Null, CancellationToken.None);
        var resultPath = Path.Combine(suite.OutputDir, acquisition + ".nxs");
        var seen = new List<LivePressureReply>();
        await TaskTimeoutExtensions.UntilAsync("merge serves a part of the ramp's pressure before the file is final", async () =>
        {
            try
            {
                var reply = await merge.GetAsync(new LivePressureRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout();
                if (!File.Exists(resultPath))
                {
                    seen.Add(reply);
                }
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                // Not started yet.
            }

            return seen.Count >= 2 && seen[^1].Frame.Count > seen[0].Frame.Count && seen[^1].Frame.Count < 60;
        }, TimeSpan.FromMinutes(2));
        await simulating.DefaultTimeout(TimeSpan.FromMinutes(3));
        var result = await suite.WaitForResultAsync(acquisition);

        // What merge served while running is what the file holds for those frames, number for number.
        using var nxs = Hdf5File.OpenRead(result);
        var written = Anvil.Pressure.PressureGroup.Read(nxs)!;
        var live = seen[^1];
        var n = live.Frame.Count;
        Assert.Equal(Enumerable.Range(1, n).Select(f => (long)f), live.Frame);
        Assert.Equal(written.Pressure.Take(n), live.Pressure);
        Assert.Equal(written.PressureError.Take(n), live.PressureError);
        Assert.Equal(written.Position.Take(n), live.Position);
        Assert.Equal(written.Time.Take(n), live.FrameTime);
        Assert.Equal(written.SettingsHash, live.SettingsHash);
        Assert.Equal("Au", live.Marker);
        Assert.All(live.Ok, Assert.True);
        Assert.True(live.FramesMerged >= (ulong)n);

        var gone = await Assert.ThrowsAsync<RpcException>(() => merge.GetAsync(new LivePressureRequest { Acquisition = acquisition }).ResponseAsync.DefaultTimeout());
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }
}
