using Anvil.Testing;
using Anvil.Viewer;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>The page in a real browser over result files: what a person looks at and clicks.</summary>
[Collection(BrowserCollection.Name)]
public sealed class PageTests(BrowserFixture browser) : IAsyncLifetime
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-page-");
    private readonly double[] axis = SyntheticResults.Axis(2000, first: 2.0, step: 0.01);
    private WebApplication? app;
    private string address = string.Empty;

    private static double[] CeO2TwoTheta { get; } = Phases.BuiltIn("CeO2")!.Reflections
        .Select(r => RadialUnits.ToTwoTheta(r.D, RadialUnit.DAngstrom, SyntheticResults.WavelengthAngstrom))
        .Where(t => t < 21).ToArray();

    public async Task InitializeAsync()
    {
        // A compression ramp: CeO2-like rings that move to higher angle frame by frame, and one fixed marker ring at 12°.
        SyntheticResults.Write(work.FullName, "ramp_00001", 40, axis,
            f => SyntheticResults.Profile(axis, CeO2TwoTheta.Select(t => t * (1 + (0.0015 * (f - 1)))), 1 + (0.02 * f)));
        SyntheticResults.Write(work.FullName, "marker_00002", 30, axis, f => SyntheticResults.Profile(axis, [12.0]));
        SyntheticResults.Write(work.FullName, "calibrant_00003", 10, axis, f => SyntheticResults.Profile(axis, CeO2TwoTheta));
        SyntheticResults.Write(work.FullName, "real_00005", 50, axis, f => SyntheticResults.Profile(axis, CeO2TwoTheta),
            source: f => (Path.Combine(TestPaths.LambdaFixtures, Anvil.Pipeline.ChunkFileName.Format("testasapo1_1009_00002", 1, (f - 1) / 10)), (f - 1) / 10, (f - 1) % 10));
        SyntheticResults.Write(work.FullName, "nolambda_00004", 5, axis, f => SyntheticResults.Profile(axis, [9.0]), calFile: "missing.poni");
        (app, address) = await Hosts.StartConsoleAsync(work.FullName, work.FullName, "http://127.0.0.1:9");
    }

    public async Task DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync().DefaultTimeout();
            await app.DisposeAsync();
        }

        work.Delete(recursive: true);
    }

    [Fact]
    public async Task Heatmap_FinishedFile_OneRowPerFrameAndScreenshot()
    {
        var page = await OpenAsync("ramp_00001");
        Assert.Equal(40, await page.EvaluateAsync<int>("window.anvil.image.h").DefaultTimeout());
        Assert.Equal(5, await page.Locator("#acquisitions tbody tr").CountAsync().DefaultTimeout());
        Assert.Contains("40 / 40", await page.Locator("#acquisitions tbody tr.selected").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);

        // Each frame's rows on screen differ from the next (the rings move): 40 distinct bands of pixels.
        var distinct = await page.EvaluateAsync<int>("""
            (() => { const c = document.getElementById('heatmap'), ctx = c.getContext('2d');
              const h = c.height - 12 - 44, rows = new Set();
              for (let f = 0; f < 40; f++) { const y = Math.floor(12 + (f + 0.5) * h / 40);
                rows.add(Array.from(ctx.getImageData(66, y, c.width - 66 - 86, 1).data).join(',')); }
              return rows.size; })()
            """).DefaultTimeout();
        Assert.Equal(40, distinct);
        await page.Locator("#phase").SelectOptionAsync("CeO2").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("CeO2 lines drawn", async () => await page.EvaluateAsync<int>("window.anvil.phases.length") == 1);
        await page.Locator("#heatmap").ClickAsync(new LocatorClickOptions { Position = new Position { X = 400, Y = 300 } }).DefaultTimeout();
        await page.Keyboard.PressAsync("ArrowDown").DefaultTimeout();
        await WaitProfileAsync(page);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "viewer.png") }).DefaultTimeout();
    }

    [Theory]
    [InlineData("2th_deg")]
    [InlineData("q_A^-1")]
    [InlineData("q_nm^-1")]
    [InlineData("d_A")]
    public async Task Heatmap_MarkerRing_InItsColumnForEveryUnit(string unitName)
    {
        var page = await OpenAsync("marker_00002");
        await SelectUnitAsync(page, unitName);
        // Fixed contrast: the background (≤ 50) stays dark and only the ring (≈ 1000 above it) is bright, in any unit.
        await page.Locator("#cmin").FillAsync("0").DefaultTimeout();
        await page.Locator("#cmax").FillAsync("1000").DefaultTimeout();
        await page.Locator("#cmax").DispatchEventAsync("change").DefaultTimeout();
        Assert.False(await page.Locator("#auto").IsCheckedAsync().DefaultTimeout());
        var unit = RadialUnits.Parse(unitName);
        var (x0, x1, width) = await ViewAsync(page);
        var expected = 66 + ((RadialUnits.FromTwoTheta(12.0, unit, SyntheticResults.WavelengthAngstrom) - x0) / (x1 - x0) * width);
        var brightest = await BrightestColumnAsync(page);
        Assert.InRange(brightest, expected - 2, expected + 2);
        Assert.Contains(unit.Label(), await page.EvaluateAsync<string>("window.anvil.detail.units.find(u => u.name === window.anvil.unit).label").DefaultTimeout(), StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, $"marker_{unitName.Replace('^', '_')}.png") }).DefaultTimeout();
    }

    [Fact]
    public async Task Scale_Log_ChangesRenderedPixels()
    {
        var page = await OpenAsync("ramp_00001");
        var linear = await CanvasHashAsync(page);
        await page.Locator("#scale").SelectOptionAsync("log").DefaultTimeout();
        var log = await CanvasHashAsync(page);
        await page.Locator("#scale").SelectOptionAsync("sqrt").DefaultTimeout();
        var sqrt = await CanvasHashAsync(page);
        Assert.NotEqual(linear, log);
        Assert.NotEqual(linear, sqrt);
        Assert.NotEqual(log, sqrt);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "log-scale.png") }).DefaultTimeout();
    }

    [Fact]
    public async Task PhaseLines_CeO2OnItsCalibrantRings()
    {
        var page = await OpenAsync("calibrant_00003");
        await page.Locator("#phase").SelectOptionAsync("CeO2").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("CeO2 added", async () => await page.EvaluateAsync<int>("window.anvil.phases.length") == 1);
        var lines = await page.EvaluateAsync<double[]>("window.anvil.phases[0].lines.map(l => l.x)").DefaultTimeout();
        Assert.Equal(CeO2TwoTheta.Count(t => t < axis[^1]), lines.Length);
        await WaitProfileAsync(page);
        // Every line sits on a maximum of the frame's profile (within one bin).
        var profile = await page.EvaluateAsync<double?[]>("window.anvil.profiles.get(`calibrant_00003|1|2th_deg`).y").DefaultTimeout();
        foreach (var x in lines)
        {
            var i = (int)Math.Round((x - axis[0]) / 0.01);
            var window = Enumerable.Range(i - 5, 11).Where(k => k >= 0 && k < profile.Length).ToArray();
            var peak = window.MaxBy(k => profile[k] ?? double.MinValue);
            Assert.InRange(peak, i - 1, i + 1);
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "phase-ceo2.png") }).DefaultTimeout();
    }

    [Fact]
    public async Task Profiles_ClickKeyboardOverlayWaterfall()
    {
        var page = await OpenAsync("ramp_00001");
        var box = (await page.Locator("#heatmap").BoundingBoxAsync().DefaultTimeout())!;
        var (plotTop, plotHeight) = (12.0, box.Height - 12 - 44);
        // The centre of frame 10's band.
        await page.Locator("#heatmap").ClickAsync(new LocatorClickOptions { Position = new Position { X = 300, Y = (float)(plotTop + (9.5 * plotHeight / 40)) } }).DefaultTimeout();
        Assert.Equal(10, await page.EvaluateAsync<int>("window.anvil.selected").DefaultTimeout());
        await page.Keyboard.PressAsync("ArrowDown").DefaultTimeout();
        await page.Keyboard.PressAsync("ArrowDown").DefaultTimeout();
        Assert.Equal(12, await page.EvaluateAsync<int>("window.anvil.selected").DefaultTimeout());
        await page.Locator("#heatmap").ClickAsync(new LocatorClickOptions { Position = new Position { X = 300, Y = (float)(plotTop + (29.5 * plotHeight / 40)) }, Modifiers = [KeyboardModifier.Shift] }).DefaultTimeout();
        var overlays = await page.EvaluateAsync<int[]>("window.anvil.overlays").DefaultTimeout();
        Assert.Equal(new[] { 30 }, overlays);
        await TaskTimeoutExtensions.UntilAsync("two curves", async () => await page.EvaluateAsync<int>("curves().length") == 2);
        Assert.EndsWith("/frames/12.xy?unit=2th_deg", await page.Locator("#xy").GetAttributeAsync("href").DefaultTimeout(), StringComparison.Ordinal);

        await page.Locator("#waterfall").CheckAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("ten waterfall curves", async () => await page.EvaluateAsync<int>("curves().length") == 10);
        await page.Locator("#bg").SelectOptionAsync("show").DefaultTimeout();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "waterfall.png") }).DefaultTimeout();

        // The x range is shared: zooming the profile zooms the heatmap's radial axis.
        var before = await ViewAsync(page);
        await page.Locator("#profile").HoverAsync().DefaultTimeout();
        await page.Mouse.WheelAsync(0, -400).DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("heatmap re-read for the zoomed range", async () => (await ViewAsync(page)).X1 - (await ViewAsync(page)).X0 < (before.X1 - before.X0) * 0.9);
        var shared = await page.EvaluateAsync<double[]>("xRange()").DefaultTimeout();
        var shown = await ViewAsync(page);
        Assert.Equal(new[] { shown.X0, shown.X1 }, shared);
    }

    [Fact]
    public async Task RawFrame_Toggle_ShowsTheStitchedDetectorWithMaskInRed()
    {
        var page = await OpenAsync("real_00005");
        await page.Locator("#rawtoggle").CheckAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("raw frame 1 drawn", async () => await page.EvaluateAsync<int>("window.anvil.raw.image ? window.anvil.raw.image.frame : 0") == 1);
        await page.Locator("#heatmap").FocusAsync().DefaultTimeout();
        await page.Keyboard.PressAsync("End").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("raw frame 50 drawn", async () => await page.EvaluateAsync<int>("window.anvil.raw.image ? window.anvil.raw.image.frame : 0") == 50);
        var shape = await page.EvaluateAsync<int[]>("[window.anvil.raw.image.rows, window.anvil.raw.image.cols]").DefaultTimeout();
        Assert.Equal(new[] { 1833, 1556 }, shape);
        // The gaps between modules are drawn red.
        var red = await page.EvaluateAsync<int>(RedPixels).DefaultTimeout();
        Assert.True(red > 100, $"{red} red pixels");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "raw-frame.png"), FullPage = true }).DefaultTimeout();
    }

    [Fact]
    public async Task Exports_PngAndSvgOfBothViews()
    {
        var page = await OpenAsync("ramp_00001");
        await WaitProfileAsync(page);
        foreach (var kind in new[] { "heatmap.png", "heatmap.svg", "profile.png", "profile.svg" })
        {
            var download = await page.RunAndWaitForDownloadAsync(() => page.Locator($"[data-export='{kind}']").ClickAsync()).DefaultTimeout();
            var path = Path.Combine(BrowserFixture.Artifacts, "export-" + kind);
            await download.SaveAsAsync(path).DefaultTimeout();
            var bytes = await File.ReadAllBytesAsync(path).DefaultTimeout();
            if (kind.EndsWith(".png", StringComparison.Ordinal))
            {
                Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, bytes[..4]);
            }
            else
            {
                var svg = System.Text.Encoding.UTF8.GetString(bytes);
                Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
                Assert.Contains("2θ (°)", svg, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task BadInput_UnitWithoutWavelength_ClearMessageOnThePage()
    {
        var page = await OpenAsync("nolambda_00004");
        await page.Locator("#unit").SelectOptionAsync("d_A").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("message shown", async () => await page.Locator("#message").IsVisibleAsync());
        var text = await page.Locator("#message").InnerTextAsync().DefaultTimeout();
        Assert.Contains("wavelength", text, StringComparison.Ordinal);
        Assert.Contains("missing.poni", text, StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "no-wavelength.png") }).DefaultTimeout();

        await page.GotoAsync($"{address}/?acquisition=nothing_00099").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("unknown acquisition reported", async () =>
            await page.Locator("#message").IsVisibleAsync() && (await page.Locator("#message").InnerTextAsync()).Contains("nothing_00099", StringComparison.Ordinal));
    }

    private const string RedPixels = """
        (() => { const c = document.getElementById('raw'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 90) n++; return n; })()
        """;

    private async Task<IPage> OpenAsync(string acquisition)
    {
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync($"{address}/?acquisition={acquisition}").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync($"heatmap of {acquisition} drawn", async () =>
            errors.Count > 0 || await page.EvaluateAsync<bool>($"!!(window.anvil && window.anvil.image && window.anvil.acq === '{acquisition}' && window.anvil.lastRender && window.anvil.lastRender.rows > 0)"));
        Assert.Empty(errors);
        return page;
    }

    private static async Task WaitProfileAsync(IPage page) =>
        await TaskTimeoutExtensions.UntilAsync("profile drawn", async () => await page.EvaluateAsync<int>("curves().length") > 0);

    private static async Task SelectUnitAsync(IPage page, string unit)
    {
        var fetches = await page.EvaluateAsync<int>("window.anvil.fetches").DefaultTimeout();
        await page.Locator("#unit").SelectOptionAsync(unit).DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync($"heatmap in {unit}", async () => await page.EvaluateAsync<int>("window.anvil.fetches") > fetches);
    }

    private static async Task<(double X0, double X1, double Width)> ViewAsync(IPage page)
    {
        var v = await page.EvaluateAsync<double[]>("[window.anvil.image.x0, window.anvil.image.x1, document.getElementById('heatmap').width - 66 - 86]").DefaultTimeout();
        return (v[0], v[1], v[2]);
    }

    // The column (canvas pixels) of the brightest pixel along the middle row of the plot (viridis: yellow is brightest).
    private static async Task<double> BrightestColumnAsync(IPage page) =>
        await page.EvaluateAsync<double>("""
            (() => { const c = document.getElementById('heatmap'), ctx = c.getContext('2d');
              const y = Math.floor(12 + (c.height - 56) / 2), d = ctx.getImageData(66, y, c.width - 152, 1).data;
              let best = 0, at = 0;
              for (let i = 0; i < d.length / 4; i++) { const l = 0.3 * d[i * 4] + 0.59 * d[i * 4 + 1] + 0.11 * d[i * 4 + 2]; if (l > best) { best = l; at = i; } }
              return 66 + at + 0.5; })()
            """).DefaultTimeout();

    private static async Task<string> CanvasHashAsync(IPage page) =>
        await page.EvaluateAsync<string>("""
            (() => { const c = document.getElementById('heatmap'), d = c.getContext('2d').getImageData(66, 12, c.width - 152, c.height - 56).data;
              let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return String(h); })()
            """).DefaultTimeout();
}
