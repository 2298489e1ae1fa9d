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
