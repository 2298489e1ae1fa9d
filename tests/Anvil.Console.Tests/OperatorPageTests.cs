using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Anvil.Integration;
using Anvil.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>The Operate tab in headless Chromium against the real suite: what the operator types and clicks.</summary>
[Collection(OperatorCollection.Name)]
public sealed class OperatorPageTests(OperatorSuiteFixture suite, BrowserFixture browser)
{
    [Fact]
    public async Task Settings_BadNpt_MessageNextToTheFieldAndNothingChanged_Screenshot()
    {
        var page = await OpenOperateAsync();
        await WaitTextAsync(page, "#op-table tbody", OperatorSuiteFixture.Acquisition);
        var version = await page.Locator("#op-version").InnerTextAsync().DefaultTimeout();

        await page.Locator("#op-npt").FillAsync("1").DefaultTimeout();
        await page.Locator("#op-apply").ClickAsync().DefaultTimeout();

        var expected = (IntegrationSettings.Default with { Npt = 1 }).Validate(checkFiles: false).Single(e => e.Field == "npt").Message;
        var error = page.Locator(".op-field[data-field=npt] .op-error");
        await WaitTextAsync(page, ".op-field[data-field=npt] .op-error", expected);
        Assert.Equal(expected, await error.InnerTextAsync().DefaultTimeout());
        Assert.Contains("invalid", await page.Locator(".op-field[data-field=npt]").GetAttributeAsync("class").DefaultTimeout(), StringComparison.Ordinal);
        Assert.Equal(string.Empty, await page.Locator(".op-field[data-field=poni] .op-error").InnerTextAsync().DefaultTimeout());
        Assert.Equal(version, await page.Locator("#op-version").InnerTextAsync().DefaultTimeout());

        // The browser lists the data root; picking the PONI fills the field with its data-root path.
        await page.Locator("[data-browse=op-poni]").ClickAsync().DefaultTimeout();
        await page.Locator("#op-browse-list li.folder", new PageLocatorOptions { HasText = "calib" }).ClickAsync().DefaultTimeout();
        await page.Locator("#op-browse-list li.file", new PageLocatorOptions { HasText = "L2.poni" }).ClickAsync().DefaultTimeout();
        Assert.Equal("calib/L2.poni", await page.Locator("#op-poni").InputValueAsync().DefaultTimeout());

        await page.Locator("[data-browse=op-mask]").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-browse-list", "L2.poni");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate.png"), FullPage = true }).DefaultTimeout();
        await page.CloseAsync().DefaultTimeout();
    }

    [Fact]
    public async Task PauseAll_Click_StateSaysPaused_ResumeAll_Running()
    {
        var page = await OpenOperateAsync();
        await WaitTextAsync(page, "#op-beamtime", "running");

        // A double click sends one request: the button is disabled while it is in flight.
        await page.Locator("#op-pause-all").DblClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-beamtime", "paused");
        await WaitTextAsync(page, "#op-note", "paus");
        Assert.DoesNotContain("no change", await page.Locator("#op-note").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        var status = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/status").DefaultTimeout();
        Assert.True(status.GetProperty("beamtimePaused").GetBoolean());

        await page.Locator("#op-resume-all").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-beamtime", "running");
        status = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/status").DefaultTimeout();
        Assert.False(status.GetProperty("beamtimePaused").GetBoolean());

        // Per acquisition: its row's button pauses it and the row says so.
        var row = page.Locator($"#op-table tbody tr[data-name={OperatorSuiteFixture.Acquisition}]");
        await row.Locator("button[data-op=pause]").ClickAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the row says paused", async () => (await row.Locator("td").Nth(8).InnerTextAsync().DefaultTimeout()) == "yes");
        await row.Locator("button[data-op=resume]").ClickAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the row says not paused", async () => (await row.Locator("td").Nth(8).InnerTextAsync().DefaultTimeout()) == "no");
        await page.CloseAsync().DefaultTimeout();
    }

    [Fact]
    public async Task Settings_FineTuningFields_BadValuesBesideEachField_NothingChanged_GoodValuesApplied_Screenshot()
    {
        var page = await OpenOperateAsync();
        await WaitTextAsync(page, "#op-table tbody", OperatorSuiteFixture.Acquisition);

        // Only the fixture's acquisition, so other tests keep the settings of every acquisition.
        await page.Locator("#op-scope").SelectOptionAsync(OperatorSuiteFixture.Acquisition).DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the scope's settings loaded", async () => (await page.Locator("#op-npt").InputValueAsync().DefaultTimeout()) == "1500");
        var version = await page.Locator("#op-version").InnerTextAsync().DefaultTimeout();
        await page.Locator("#op-dark").FillAsync("missing-dark.edf").DefaultTimeout();
        await page.Locator("#op-radial-lo").FillAsync("20").DefaultTimeout();
        await page.Locator("#op-radial-hi").FillAsync("5").DefaultTimeout();
        await page.Locator("#op-azimuth-lo").FillAsync("-400").DefaultTimeout();
        await page.Locator("#op-azimuth-hi").FillAsync("90").DefaultTimeout();
        await page.Locator("#op-dummy").FillAsync("minus one").DefaultTimeout();
        await page.Locator("#op-pressure").FillAsync("Unobtainium 111").DefaultTimeout();
        await page.Locator("#op-apply").ClickAsync().DefaultTimeout();

        // The settings model's own messages, each beside its field; the rest of the form stays clean.
        var model = IntegrationSettings.Default with { RadialRange = (20, 5), AzimuthRange = (-400, 90) };
        var expected = model.Validate(checkFiles: false).ToDictionary(e => e.Field, e => e.Message);
        await WaitTextAsync(page, ".op-field[data-field=radial_range] .op-error", expected["radial_range"]);
        Assert.Equal(expected["azimuth_range_deg"], await page.Locator(".op-field[data-field=azimuth_range_deg] .op-error").InnerTextAsync().DefaultTimeout());
        Assert.Contains("dummy 'minus one' is not a number", await page.Locator(".op-field[data-field=dummy] .op-error").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        Assert.Contains("pressure", await page.Locator(".op-field[data-field=pressure] .op-error").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        Assert.Contains("missing-dark.edf' does not load", await page.Locator(".op-field[data-field=dark] .op-error").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        foreach (var field in new[] { "radial_range", "azimuth_range_deg", "dummy", "pressure", "dark" })
        {
            Assert.Contains("invalid", await page.Locator($".op-field[data-field={field}]").GetAttributeAsync("class").DefaultTimeout(), StringComparison.Ordinal);
        }

        Assert.Equal(string.Empty, await page.Locator(".op-field[data-field=flat] .op-error").InnerTextAsync().DefaultTimeout());
        Assert.Equal(version, await page.Locator("#op-version").InnerTextAsync().DefaultTimeout());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate-settings-errors.png"), FullPage = true, Clip = new Clip { X = 0, Y = 0, Width = 1280, Height = 900 } }).DefaultTimeout();

        // Good values: applied, and what the API then reports for the acquisition.
        await page.Locator("#op-dark").FillAsync(string.Empty).DefaultTimeout();
        await page.Locator("#op-radial-lo").FillAsync("2").DefaultTimeout();
        await page.Locator("#op-radial-hi").FillAsync("18.5").DefaultTimeout();
        await page.Locator("#op-azimuth-lo").FillAsync("-90").DefaultTimeout();
        await page.Locator("#op-dummy").FillAsync("-1").DefaultTimeout();
        await page.Locator("#op-delta-dummy").FillAsync("0.5").DefaultTimeout();
        await page.Locator("#op-pressure").FillAsync("Au 111").DefaultTimeout();
        await page.Locator("#op-apply").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-settings-note", "Applied");
        var settings = await suite.Http.GetFromJsonAsync<JsonElement>($"{suite.ConsoleUrl}/api/operator/settings?acquisition={OperatorSuiteFixture.Acquisition}").DefaultTimeout();
        Assert.Equal([2.0, 18.5], settings.GetProperty("radialRange").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal([-90.0, 90.0], settings.GetProperty("azimuthRangeDeg").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal((-1.0, 0.5), (settings.GetProperty("dummy").GetDouble(), settings.GetProperty("deltaDummy").GetDouble()));
        Assert.StartsWith("Au 111", settings.GetProperty("pressure").GetString(), StringComparison.Ordinal);
        Assert.Equal(string.Empty, settings.GetProperty("dark").GetString());
        Assert.Equal(string.Empty, await page.Locator("#op-settings .op-error[data-error=radial_range]").InnerTextAsync().DefaultTimeout());
        await page.CloseAsync().DefaultTimeout();
    }

    [Fact]
    public async Task Reprocess_FinishedAcquisitionsButton_NewResultFromTheReprocessPool_ProgressAndResultShown_Screenshot()
    {
        const string acquisition = "opre_1009_00003";
        await suite.AnnounceFinishedAsync(acquisition);
        var page = await OpenOperateAsync();
        var row = page.Locator($"#op-table tbody tr[data-name={acquisition}]");
        await TaskTimeoutExtensions.UntilAsync("its Reprocess button enabled (finished)", async () =>
            await row.CountAsync().DefaultTimeout() == 1 && await row.Locator("button[data-op=reprocess]").IsEnabledAsync().DefaultTimeout(), TimeSpan.FromSeconds(60));
        Assert.True(await page.Locator($"#op-table tbody tr[data-name={OperatorSuiteFixture.Acquisition}] button[data-op=reprocess]").IsDisabledAsync().DefaultTimeout());

        // A bad value in the form: refused beside the field, nothing started.
        await page.Locator("#op-npt").FillAsync("1").DefaultTimeout();
        await row.Locator("button[data-op=reprocess]").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, ".op-field[data-field=npt] .op-error", "npt 1 is out of range");
        Assert.Equal(0, await page.Locator($"#op-reprocessings tbody tr[data-name={acquisition}_r1]").CountAsync().DefaultTimeout());

        // With 800 bins: a double click starts one reprocessing, which the table follows to its result.
        await page.Locator("#op-npt").FillAsync("800").DefaultTimeout();
        await row.Locator("button[data-op=reprocess]").DblClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-note", $"as {acquisition}_r1");
        var reprocessing = page.Locator($"#op-reprocessings tbody tr[data-name={acquisition}_r1]");
        await TaskTimeoutExtensions.UntilAsync("the reprocessing's result shown", async () =>
            await reprocessing.CountAsync().DefaultTimeout() == 1 && (await reprocessing.InnerTextAsync().DefaultTimeout()).Contains($"{acquisition}_r1.nxs", StringComparison.Ordinal), TimeSpan.FromSeconds(120));
        var text = await reprocessing.InnerTextAsync().DefaultTimeout();
        Assert.Contains("50 / 50 frames merged (100 %)", text, StringComparison.Ordinal);
        Assert.Contains(acquisition + "\t", text, StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator($"#op-reprocessings tbody tr[data-name={acquisition}_r2]").CountAsync().DefaultTimeout());
        using (var nxs = Anvil.Hdf5.Hdf5File.OpenRead(Path.Combine(suite.OutputDir, acquisition + "_r1.nxs")))
        {
            Assert.Equal([50L, 800], nxs.GetDatasetInfo("/processed/result/data").Shape);
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate-reprocess.png"), FullPage = true, Clip = new Clip { X = 0, Y = 0, Width = 1280, Height = 900 } }).DefaultTimeout();
        await page.Locator("#op-reload").ClickAsync().DefaultTimeout();
        await page.CloseAsync().DefaultTimeout();
    }

    [Fact]
    public async Task AcquisitionsTable_At1280And1024Wide_EveryButtonInsideTheWindow_Screenshots()
    {
        // A finished acquisition with a long beamline-style name and a result file: the widest rows the table gets.
        const string acquisition = "layout_testasapo1_1009_00004";
        await suite.AnnounceFinishedAsync(acquisition);
        var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } }).DefaultTimeout();
        await page.GotoAsync(suite.ConsoleUrl + "/?tab=operate").DefaultTimeout();
        var row = page.Locator($"#op-table tbody tr[data-name={acquisition}]");
        await TaskTimeoutExtensions.UntilAsync("the long-named acquisition's row shows its result file", async () =>
            await row.CountAsync().DefaultTimeout() == 1 && (await row.InnerTextAsync().DefaultTimeout()).Contains(acquisition + ".nxs", StringComparison.Ordinal), TimeSpan.FromSeconds(120));

        foreach (var width in new[] { 1280, 1024 })
        {
            await page.SetViewportSizeAsync(width, 800).DefaultTimeout();
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, $"operate-{width}.png") }).DefaultTimeout();

            // Every row's buttons lie wholly inside the window (no horizontal scrolling needed), and the page is no wider than it.
            var outside = await page.EvaluateAsync<string[]>(@"w => [...document.querySelectorAll('#op-table button, .op-bar button, #op-settings button')]
                .map(b => ({ b, r: b.getBoundingClientRect() }))
                .filter(x => x.r.width > 0 && (x.r.left < 0 || x.r.right > w))
                .map(x => `${x.b.closest('tr')?.dataset.name ?? ''} ${x.b.textContent}: ${Math.round(x.r.left)}..${Math.round(x.r.right)}`)", width).DefaultTimeout();
            Assert.True(outside.Length == 0, $"at {width} px, outside the window: {string.Join("; ", outside)}");
            var reprocess = await row.Locator("button[data-op=reprocess]").BoundingBoxAsync().DefaultTimeout();
            Assert.NotNull(reprocess);
            Assert.True(reprocess.X >= 0 && reprocess.X + reprocess.Width <= width, $"at {width} px the Reprocess button spans {reprocess.X}..{reprocess.X + reprocess.Width}");
            var wider = await page.EvaluateAsync<string[]>(@"w => [...document.querySelectorAll('#operate *')].filter(e => e.getBoundingClientRect().right > w)
                .map(e => `${e.tagName}#${e.id}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`)", width).DefaultTimeout();
            Assert.True(await page.EvaluateAsync<int>("document.documentElement.scrollWidth").DefaultTimeout() <= width, $"the page is wider than {width} px: {string.Join("; ", wider.Take(8))}");
        }

        // Still usable at 1024: the button works (a reprocessing of it starts).
        await row.Locator("button[data-op=reprocess]").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-note", $"as {acquisition}_r1");
        await page.CloseAsync().DefaultTimeout();
    }

    [Fact]
    public async Task ConfigFile_BrowsedShownAppliedAndABadOneRefusedBesideIt_Screenshot()
    {
        var before = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/settings").DefaultTimeout();
        var npt = before.GetProperty("npt").GetInt32() == 1450 ? 1451 : 1450;
        Directory.CreateDirectory(Path.Combine(suite.DataRoot, "config"));
        await File.WriteAllTextAsync(Path.Combine(suite.DataRoot, "config", "page-exp.json"),
            $$"""{ "Pipeline": { "Poni": "../calib/L2.poni", "Npt": {{npt}}, "Unit": "2th_deg", "Method": "bbox", "StitchBatch": 9 } }""").DefaultTimeout();
        await File.WriteAllTextAsync(Path.Combine(suite.DataRoot, "config", "page-bad.json"), """{ "Pipeline": { "Poni": "../calib/L2.poni", "Npt": 1 } }""").DefaultTimeout();

        var page = await OpenOperateAsync();
        Assert.True(await page.Locator("#op-detector-field").IsHiddenAsync().DefaultTimeout(), "one detector: no detector selector");
        await page.Locator("[data-browse=op-config-path]").ClickAsync().DefaultTimeout();
        await page.Locator("#op-browse-list li.folder", new PageLocatorOptions { HasText = "config" }).ClickAsync().DefaultTimeout();
        await page.Locator("#op-browse-list li.file", new PageLocatorOptions { HasText = "page-exp.json" }).ClickAsync().DefaultTimeout();
        Assert.Equal("config/page-exp.json", await page.Locator("#op-config-path").InputValueAsync().DefaultTimeout());

        await page.Locator("#op-config-preview").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-config-changes tbody", $"{npt}");
        Assert.Contains("npt", await page.Locator("#op-config-changes tbody tr[data-field=npt]").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        Assert.Contains("StitchBatch", await page.Locator("#op-config-restart").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);
        Assert.Equal(before.GetProperty("version").GetUInt64(), (await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/settings").DefaultTimeout()).GetProperty("version").GetUInt64());
        await page.Locator("#op-config").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate-config.png") }).DefaultTimeout();

        await page.Locator("#op-config-apply").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-config-note", "Applied config/page-exp.json");
        Assert.Equal(npt, (await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/settings").DefaultTimeout()).GetProperty("npt").GetInt32());
        await TaskTimeoutExtensions.UntilAsync("the form shows the file's npt", async () => await page.Locator("#op-npt").InputValueAsync().DefaultTimeout() == npt.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // A bad file: the model's message in the list, nothing applied.
        var version = (await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/settings").DefaultTimeout()).GetProperty("version").GetUInt64();
        await page.Locator("#op-config-path").FillAsync("config/page-bad.json").DefaultTimeout();
        await page.Locator("#op-config-apply").ClickAsync().DefaultTimeout();
        var expected = (IntegrationSettings.Default with { Npt = 1 }).Validate(checkFiles: false).Single(e => e.Field == "npt").Message;
        await WaitTextAsync(page, "#op-config-errors", "npt: " + expected);
        await WaitTextAsync(page, "#op-config-note", "Nothing was changed");
        Assert.Equal(version, (await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/operator/settings").DefaultTimeout()).GetProperty("version").GetUInt64());

        // A path out of the data root: said beside the field.
        await page.Locator("#op-config-path").FillAsync("../../etc/passwd").DefaultTimeout();
        await page.Locator("#op-config-preview").ClickAsync().DefaultTimeout();
        await WaitTextAsync(page, "#op-config [data-error=config]", "data root");
        await page.CloseAsync().DefaultTimeout();

        using var restore = new HttpRequestMessage(HttpMethod.Put, suite.ConsoleUrl + "/api/operator/settings") { Content = JsonContent.Create(new { npt = before.GetProperty("npt").GetInt32() }) };
        restore.Headers.Add("X-Anvil-Operator", "1");
        Assert.Equal(HttpStatusCode.OK, (await suite.Http.SendAsync(restore).DefaultTimeout()).StatusCode);
    }

    [Fact]
    public async Task FromAnotherPc_ViewOnly_StatusShownButtonsDisabled()
    {
        var address = OperatorSuiteFixture.RemoteStandIn();
        var page = await OpenOperateAsync(suite.ConsoleAt(address));
        await WaitTextAsync(page, "#op-table tbody", OperatorSuiteFixture.Acquisition);
        Assert.True(await page.Locator("#op-view-only").IsVisibleAsync().DefaultTimeout());
        Assert.True(await page.Locator("#op-pause-all").IsDisabledAsync().DefaultTimeout());
        Assert.True(await page.Locator("#op-apply").IsDisabledAsync().DefaultTimeout());
        Assert.True(await page.Locator("#op-table tbody button[data-op=stop]").First.IsDisabledAsync().DefaultTimeout());
        await page.CloseAsync().DefaultTimeout();
    }

    private async Task<IPage> OpenOperateAsync(string? baseUrl = null)
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync((baseUrl ?? suite.ConsoleUrl) + "/?tab=operate").DefaultTimeout();
        // The first status asks ingest about every acquisition while the suite may still be busy integrating: allow it time.
        await TaskTimeoutExtensions.UntilAsync("the operate tab refreshed its status", async () => await page.EvaluateAsync<int>("window.anvilOperator.refreshes").DefaultTimeout() > 0, TimeSpan.FromSeconds(90));
        return page;
    }

    private static Task WaitTextAsync(IPage page, string selector, string text) =>
        TaskTimeoutExtensions.UntilAsync($"{selector} shows '{text}'", async () => (await page.Locator(selector).InnerTextAsync().DefaultTimeout()).Contains(text, StringComparison.Ordinal));
}

/// <summary>The operator API without a reachable ingest: every call is a 503 problem naming ingest, never a crash.</summary>
public sealed class OperatorIngestDownTests : IAsyncLifetime
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-op-down-");
    private WebApplication? app;
    private string address = string.Empty;

    public async Task InitializeAsync()
    {
        // A port nobody listens on: taken from the OS, then released.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        (app, address) = await Hosts.StartConsoleAsync(work.FullName, work.FullName, "http://127.0.0.1:9", new Dictionary<string, string?>
        {
            ["Console:Ingest"] = $"http://127.0.0.1:{port}",
            ["Console:ControlTimeout"] = "00:00:05",
        });
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
    public async Task EveryOperatorCall_IngestDown_503Problem()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
        {
            (HttpMethod.Get, "/api/operator/status", null),
            (HttpMethod.Get, "/api/operator/settings", null),
            (HttpMethod.Get, "/api/operator/browse", null),
            (HttpMethod.Post, "/api/operator/pause", new { }),
            (HttpMethod.Post, "/api/operator/acquisitions/a_00001/stop", null),
            (HttpMethod.Put, "/api/operator/settings", new { npt = 1000 }),
        })
        {
            using var request = new HttpRequestMessage(method, address + path) { Content = body is null ? null : JsonContent.Create(body) };
            request.Headers.Add("X-Anvil-Operator", "1");
            var response = await http.SendAsync(request).DefaultTimeout();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{method} {path}: {response.StatusCode}");
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>().DefaultTimeout();
            Assert.Equal("Ingest is not answering", problem.GetProperty("title").GetString());
        }

        // The OpenAPI document describes the operator endpoints.
        var openApi = await http.GetStringAsync(address + "/openapi/v1.json").DefaultTimeout();
        foreach (var path in new[] { "/api/operator/status", "/api/operator/pause", "/api/operator/resume", "/api/operator/settings", "/api/operator/browse", "/api/operator/acquisitions/{acquisition}/stop" })
        {
            Assert.Contains($"\"{path}\"", openApi, StringComparison.Ordinal);
        }
    }
}
