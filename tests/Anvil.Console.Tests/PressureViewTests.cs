using System.Net;
using System.Text.Json;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pressure;
using Anvil.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>
/// P(t) beside the heatmap (issue 16): a result whose <c>/processed/pressure</c> merge's online stage wrote
/// (<see cref="OnlinePressure"/> through the real <see cref="ResultFileWriter"/>), served by the API and drawn by the page.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class PressureViewTests(BrowserFixture browser) : IAsyncLifetime
{
    private const int Frames = 60;
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-pressure-");
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly double[] axis = SyntheticResults.Axis(2000, first: 2.0, step: 0.01);
    private WebApplication? app;
    private string address = string.Empty;

    // Gold's 111 at the committed PONI's wavelength, compressed 2 → 31.5 GPa.
    private static readonly PressureGauge Gold = new(Markers.Get("Au"), new Hkl(1, 1, 1), Markers.Get("Au").DefaultScale.Create(), SyntheticResults.WavelengthAngstrom);

    private static double Truth(int frame) => 2 + (0.5 * (frame - 1));

    public async Task InitializeAsync()
    {
        WriteRampWithPressure("au_00001");
        SyntheticResults.Write(work.FullName, "plain_00002", 5, axis, f => SyntheticResults.Profile(axis, [9.0]));
        (app, address) = await Hosts.StartConsoleAsync(work.FullName, work.FullName, "http://127.0.0.1:9");
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        if (app is not null)
        {
            await app.StopAsync().DefaultTimeout();
            await app.DisposeAsync();
        }

        work.Delete(recursive: true);
    }

    [Fact]
    public async Task Api_PressureOfAResult_AndProblemsWithout()
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"{address}/api/acquisitions/au_00001/pressure").DefaultTimeout());
        var root = doc.RootElement;
        Assert.Equal("Au", root.GetProperty("marker").GetString());
        Assert.Equal("111", root.GetProperty("hkl").GetString());
        Assert.Equal("anvil merge (online)", root.GetProperty("program").GetString());
        Assert.Contains("configured frame period 0.02", root.GetProperty("timeSource").GetString(), StringComparison.Ordinal);
        var pressure = root.GetProperty("pressure").EnumerateArray().ToArray();
        var time = root.GetProperty("time").EnumerateArray().ToArray();
        var ok = root.GetProperty("ok").EnumerateArray().ToArray();
        Assert.Equal(Frames, pressure.Length);
        for (var f = 1; f <= Frames; f++)
        {
            if (f == 7)
            {
                Assert.Equal(JsonValueKind.Null, pressure[f - 1].ValueKind);
                Assert.False(ok[f - 1].GetBoolean());
                Assert.Contains("failed upstream", root.GetProperty("reason")[f - 1].GetString(), StringComparison.Ordinal);
                continue;
            }

            Assert.True(ok[f - 1].GetBoolean(), $"frame {f}: {root.GetProperty("reason")[f - 1].GetString()}");
            Assert.Equal(Truth(f), pressure[f - 1].GetDouble(), 0.05);
            Assert.Equal(0.02 * (f - 1), time[f - 1].GetDouble(), 9);
        }

        foreach (var (name, text) in new[] { ("plain_00002", "no /processed/pressure"), ("nothing_00009", "No acquisition") })
        {
            using var response = await http.GetAsync($"{address}/api/acquisitions/{name}/pressure").DefaultTimeout();
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(text, await response.Content.ReadAsStringAsync().DefaultTimeout(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Page_PressureBesideTheHeatmap_AndTheFittedPeakOnEveryRow()
    {
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.SetViewportSizeAsync(1500, 900).DefaultTimeout();
        await page.GotoAsync($"{address}/?acquisition=au_00001").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("pressure drawn", async () =>
            errors.Count > 0 || await page.EvaluateAsync<bool>("!!(window.AnvilPressure && AnvilPressure.state.data && AnvilPressure.state.renders > 0 && window.anvil.lastRender && window.anvil.lastRender.rows > 0 && !document.getElementById('pressure').hidden)"));
        Assert.Empty(errors);

        // Zoom the heatmap to the marker, select a frame, and look.
        await page.EvaluateAsync("(() => { const S = window.anvil; S.x0 = 11.4; S.x1 = 12.6; selectFrame(30, false); viewChanged(); })()").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("zoomed heatmap and frame 30 drawn", async () =>
            await page.EvaluateAsync<bool>("!!(window.anvil.image && Math.abs(window.anvil.image.x0 - 11.4) < 1e-6 && curves().length > 0)"));

        // A magenta dot on (nearly) every frame's row of the heatmap, and the P(t) curve beside it.
        var rowsWithDot = await page.EvaluateAsync<int>($$"""
            (() => { const c = document.getElementById('heatmap'), ctx = c.getContext('2d');
              const h = c.height - 12 - 44, w = c.width - 66 - 86; let n = 0;
              for (let f = 0; f < {{Frames}}; f++) { const y = Math.floor(12 + (f + 0.5) * h / {{Frames}});
                const d = ctx.getImageData(66, y, w, 1).data;
                for (let i = 0; i < d.length; i += 4) if (d[i] > 240 && d[i + 1] < 20 && d[i + 2] > 240) { n++; break; } }
              return n; })()
            """).DefaultTimeout();
        Assert.True(rowsWithDot >= Frames - 2, $"{rowsWithDot} of {Frames} rows show the fitted peak");
        var bluePixels = await page.EvaluateAsync<int>("""
            (() => { const c = document.getElementById('pressure'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
              for (let i = 0; i < d.length; i += 4) if (d[i] < 60 && d[i + 1] > 100 && d[i + 1] < 140 && d[i + 2] > 160) n++; return n; })()
            """).DefaultTimeout();
        Assert.True(bluePixels > 200, $"the P(t) curve has {bluePixels} pixels");
        var heatmapBox = await page.Locator("#heatmap").BoundingBoxAsync().DefaultTimeout();
        var pressureBox = await page.Locator("#pressure").BoundingBoxAsync().DefaultTimeout();
        Assert.True(pressureBox!.X > heatmapBox!.X + heatmapBox.Width - 1 && Math.Abs(pressureBox.Y - heatmapBox.Y) < 1, "P(t) sits beside the heatmap, top-aligned");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "pressure.png") }).DefaultTimeout();

        // A result without the group: no panel, the heatmap takes the room again.
        await page.GotoAsync($"{address}/?acquisition=plain_00002").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("plain drawn", async () => await page.EvaluateAsync<bool>("!!(window.anvil.lastRender && window.anvil.lastRender.rows > 0 && AnvilPressure.state.acq === 'plain_00002' && !AnvilPressure.state.busy)"));
        Assert.True(await page.Locator("#pressure").IsHiddenAsync().DefaultTimeout());
    }

    private void WriteRampWithPressure(string acquisition)
    {
        var settings = new IntegrationSettings
        {
            Poni = SyntheticResults.Poni,
            Npt = axis.Length,
            Pressure = new PressureSettings { Marker = "Au", Reflection = "111", FramePeriod = 0.02 },
        }.ToJson();
        var stage = new OnlinePressure(work.FullName);
        using var writer = ResultFileWriter.Create(Path.Combine(work.FullName, acquisition + ".nxs"));
        for (var f = 1; f <= Frames; f++)
        {
            var y = SyntheticResults.Profile(axis, [Gold.TwoThetaAt(Truth(f))]);
            var curve = new CurveRow(axis, y, y.Select(v => MathF.Sqrt(Math.Max(v, 1))).ToArray(), Enumerable.Repeat(1f, axis.Length).ToArray());
            var result = f == 7
                ? new FrameResult(f, 0, f - 1, "m1.h5", "h1", settings, null, null, "chunk part missing")
                : new FrameResult(f, 0, f - 1, "m1.h5", "h1", settings, curve, null);
            writer.Write(result);
            stage.Add(result);
        }

        writer.Complete(Frames, new ResultMetadata(SyntheticResults.Poni, "bbox", "2th_deg", axis.Length), stage.WriteGroups);
    }
}
