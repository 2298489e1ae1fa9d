using System.Text.Json;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Net.Client;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>
/// P(t) while the ramp runs (issue 16): a simulated gold ramp announced part by part into the real suite and not
/// finished; the page plots the pressure merge's online stage has tracked so far (anvil.pipeline.v1.LivePressure,
/// through /api/acquisitions/{acquisition}/pressure with live = true) before any result file exists.
/// </summary>
[Collection(OperatorCollection.Name)]
public sealed class LivePressurePageTests(OperatorSuiteFixture suite, BrowserFixture browser)
{
    private const string Acquisition = "ramp_live_00001";

    [Fact]
    public async Task RunningRamp_PressureBesideTheHeatmapGrowsBeforeTheFileExists()
    {
        using var channel = GrpcChannel.ForAddress(suite.Suite.IngestAddress);
        await new Control.ControlClient(channel).UpdateSettingsAsync(new UpdateSettingsRequest { Acquisition = Acquisition, Pressure = "Au 111" }).ResponseAsync.DefaultTimeout();
        var ingest = new Ingest.IngestClient(channel);
        var simulator = new LambdaSimulator(PoniFile.Load(suite.Poni), new SimulationOptions { Acquisition = Acquisition, Frames = 30, Seed = 5 });
        await simulator.RunAsync(Path.Combine(suite.DataRoot, "ramp-live"), async (chunk, cancellationToken) =>
            await ingest.AnnounceChunkAsync(new AnnounceChunkRequest
            {
                Acquisition = chunk.Acquisition,
                Module = (uint)chunk.Module,
                Modules = (uint)chunk.Modules,
                Part = (uint)chunk.Part,
                Path = chunk.Path,
                Frames = (uint)chunk.Frames,
            }, cancellationToken: cancellationToken).ResponseAsync, CancellationToken.None).DefaultTimeout(TimeSpan.FromMinutes(2));

        // Never finished: the acquisition stays running, and its pressure can only come from merge.
        JsonElement pressure = default;
        await TaskTimeoutExtensions.UntilAsync("all 30 frames tracked live", async () =>
        {
            using var response = await suite.Http.GetAsync($"{suite.ConsoleUrl}/api/acquisitions/{Acquisition}/pressure").DefaultTimeout();
            if (!response.IsSuccessStatusCode)
            {
                return false;
            }

            pressure = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            return pressure.GetProperty("frame").GetArrayLength() == 30;
        }, TimeSpan.FromMinutes(2));
        Assert.True(pressure.GetProperty("live").GetBoolean());
        Assert.Equal("Au", pressure.GetProperty("marker").GetString());
        var p = pressure.GetProperty("pressure").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.True(p[^1] > p[0], $"the ramp compresses: {p[0]:F2} → {p[^1]:F2} GPa");
        Assert.False(File.Exists(Path.Combine(suite.WorkDir, "out", Acquisition + ".nxs")));

        var page = await browser.NewPageAsync();
        await page.GotoAsync($"{suite.ConsoleUrl}/?acquisition={Acquisition}").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("P(t) drawn from the live stage", async () =>
            await page.EvaluateAsync<bool>("() => !!(window.AnvilPressure && AnvilPressure.state.data && AnvilPressure.state.data.live && AnvilPressure.state.renders > 0)").DefaultTimeout() &&
            await page.Locator("#pressure").IsVisibleAsync().DefaultTimeout(), TimeSpan.FromSeconds(60));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "pressure-live.png") }).DefaultTimeout();
        await page.CloseAsync().DefaultTimeout();
    }
}
