using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Anvil.Cli;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Testing;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>
/// The real suite with two Lambda 2M detectors (Pipeline:Detectors, as config/two-lambdas.json: lambda1 with the P02.2
/// PONI, lambda2 20 % farther away with Npt 1200) and the console, no supervisor or reprocess pool. One acquisition is
/// under way on both detectors (two of five chunk parts each), so ingest has the streams A_lambda1 and A_lambda2.
/// </summary>
public sealed class TwoDetectorSuiteFixture : OperatorSuiteFixture
{
    public const string TwoDetectorAcquisition = "det_1009_00001";

    public string SecondPoni => Path.Combine(DataRoot, "calib", "L2-far.poni");

    protected override bool Supervised => false;

    protected override void Configure(Dictionary<string, string> pipeline)
    {
        File.WriteAllText(SecondPoni, PoniFile.Format(LambdaSimulator.DetectorGeometry(PoniFile.Load(Poni), 1), "test detector lambda2"));
        pipeline["Detectors:lambda1:Kind"] = "lambda2m";
        pipeline["Detectors:lambda1:Poni"] = Poni;
        pipeline["Detectors:lambda2:Kind"] = "lambda2m";
        pipeline["Detectors:lambda2:Poni"] = SecondPoni;
        pipeline["Detectors:lambda2:Npt"] = "1200";
    }

    protected override async Task StartAcquisitionsAsync()
    {
        await AnnounceAsync(TwoDetectorAcquisition, parts: 2, detector: "lambda1");
        await AnnounceAsync(TwoDetectorAcquisition, parts: 2, detector: "lambda2");
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TwoDetectorCollection : ICollectionFixture<TwoDetectorSuiteFixture>, ICollectionFixture<BrowserFixture>
{
    public const string Name = "two detectors";
}

/// <summary>Several detectors in the console (issue 17): settings per detector, rows naming their detector, the CLI verbs per detector stream.</summary>
[Collection(TwoDetectorCollection.Name)]
public sealed class DetectorConsoleTests(TwoDetectorSuiteFixture suite, BrowserFixture browser)
{
    private const string Acquisition = TwoDetectorSuiteFixture.TwoDetectorAcquisition;

    [Fact]
    public async Task Api_DetectorsWithVersions_SettingsPerDetector_RowsNameTheirDetector_PausePerStream()
    {
        var detectors = (await GetJsonAsync("/api/operator/detectors")).GetProperty("detectors").EnumerateArray().ToList();
        Assert.Equal(["lambda1", "lambda2"], detectors.Select(d => d.GetProperty("name").GetString()));
        Assert.Equal(1200, detectors[1].GetProperty("settings").GetProperty("npt").GetInt32());

        // Without a detector the settings are ambiguous: ingest's sentence, naming them.
        var ambiguous = await suite.Http.GetAsync(suite.ConsoleUrl + "/api/operator/settings").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, ambiguous.StatusCode);
        Assert.Contains("lambda1, lambda2", await ambiguous.Content.ReadAsStringAsync().DefaultTimeout(), StringComparison.Ordinal);

        var lambda1 = await GetJsonAsync("/api/operator/settings?detector=lambda1");
        var npt = (await GetJsonAsync("/api/operator/settings?detector=lambda2")).GetProperty("npt").GetInt32() == 1100 ? 1101 : 1100;
        var changed = await SendAsync(HttpMethod.Put, "/api/operator/settings", new { detector = "lambda2", npt });
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        var version = await ReadJsonAsync(changed);
        Assert.Equal(("lambda2", npt, suite.SecondPoni), (version.GetProperty("detector").GetString(), version.GetProperty("npt").GetInt32(), version.GetProperty("poni").GetString()));
        Assert.Equal(lambda1.GetRawText(), (await GetJsonAsync("/api/operator/settings?detector=lambda1")).GetRawText());
        Assert.Equal(version.GetProperty("version").GetUInt64(), (await GetJsonAsync("/api/operator/detectors")).GetProperty("detectors")[1].GetProperty("settingsVersion").GetUInt64());

        var bad = await SendAsync(HttpMethod.Put, "/api/operator/settings", new { detector = "lambda2", npt = 1 });
        Assert.Equal((HttpStatusCode)422, bad.StatusCode);
        Assert.Equal((IntegrationSettings.Default with { Npt = 1 }).Validate(checkFiles: false).Single(e => e.Field == "npt").Message,
            (await ReadJsonAsync(bad)).GetProperty("errors").GetProperty("npt")[0].GetString());

        // Each detector's stream is a row naming its detector; pausing one stream leaves the other running.
        var rows = await RowsAsync();
        Assert.Equal("lambda1", rows[$"{Acquisition}_lambda1"].GetProperty("detector").GetString());
        Assert.Equal("lambda2", rows[$"{Acquisition}_lambda2"].GetProperty("detector").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/operator/pause", new { acquisition = $"{Acquisition}_lambda2" })).StatusCode);
        rows = await RowsAsync();
        Assert.True(rows[$"{Acquisition}_lambda2"].GetProperty("paused").GetBoolean());
        Assert.False(rows[$"{Acquisition}_lambda1"].GetProperty("paused").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/operator/resume", new { acquisition = $"{Acquisition}_lambda2" })).StatusCode);
        Assert.False((await RowsAsync())[$"{Acquisition}_lambda2"].GetProperty("paused").GetBoolean());
    }

    [Fact]
    public async Task ConfigFile_WithDetectors_AppliedPerDetector_KindChangeNeedsARestart()
    {
        var file = Path.Combine(suite.DataRoot, "config", "two.json");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var npt = (await GetJsonAsync("/api/operator/settings?detector=lambda2")).GetProperty("npt").GetInt32() == 1000 ? 1001 : 1000;
        await File.WriteAllTextAsync(file, $$"""
            { "Pipeline": { "Npt": 1500, "Unit": "2th_deg", "Method": "bbox", "Detectors": {
                "lambda1": { "Kind": "lambda2m", "Poni": "../calib/L2.poni" },
                "lambda2": { "Kind": "image", "Poni": "../calib/L2-far.poni", "Npt": {{npt}} } } } }
            """).DefaultTimeout();
        var lambda1 = await GetJsonAsync("/api/operator/settings?detector=lambda1");

        var response = await SendAsync(HttpMethod.Post, "/api/operator/config", new { path = "config/two.json" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var applied = await ReadJsonAsync(response);
        Assert.Equal(npt, applied.GetProperty("changes").GetProperty("lambda2.npt").GetProperty("to").GetInt32());
        Assert.False(applied.GetProperty("targets")[0].GetProperty("changes").EnumerateObject().Any(), $"lambda1 is as configured: {applied.GetProperty("targets")[0]}");
        Assert.Equal(["Detectors:lambda2:Kind"], applied.GetProperty("restart").EnumerateArray().Select(r => r.GetProperty("key").GetString()));
        Assert.Equal(npt, (await GetJsonAsync("/api/operator/settings?detector=lambda2")).GetProperty("npt").GetInt32());
        Assert.Equal(lambda1.GetProperty("version").GetUInt64(), (await GetJsonAsync("/api/operator/settings?detector=lambda1")).GetProperty("version").GetUInt64());

        // One detector's bad value: nothing applied to either, the message names the detector.
        await File.WriteAllTextAsync(file, """
            { "Pipeline": { "Npt": 1500, "Detectors": {
                "lambda1": { "Kind": "lambda2m", "Poni": "../calib/L2.poni", "Npt": 900 },
                "lambda2": { "Kind": "lambda2m", "Poni": "../calib/L2-far.poni", "Npt": 1 } } } }
            """).DefaultTimeout();
        var bad = await SendAsync(HttpMethod.Post, "/api/operator/config", new { path = "config/two.json" });
        Assert.Equal((HttpStatusCode)422, bad.StatusCode);
        Assert.StartsWith("detector lambda2: npt 1 is out of range", (await ReadJsonAsync(bad)).GetProperty("errors").GetProperty("npt")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(lambda1.GetProperty("version").GetUInt64(), (await GetJsonAsync("/api/operator/settings?detector=lambda1")).GetProperty("version").GetUInt64());
        Assert.Equal(npt, (await GetJsonAsync("/api/operator/settings?detector=lambda2")).GetProperty("npt").GetInt32());
    }

    [Fact]
    public async Task Cli_PauseResumeStopStatus_PerDetectorStream()
    {
        const string acquisition = "cli_1009_00002";
        await suite.AnnounceAsync(acquisition, parts: 1, detector: "lambda1");
        await suite.AnnounceAsync(acquisition, parts: 1, detector: "lambda2");

        // status A: every detector's stream of A; --detector D: only D's.
        var (code, output, error) = await RunAsync("status", acquisition);
        Assert.True(code == 0, error);
        Assert.Matches($@"(?m)^{acquisition}_lambda1\s", output);
        Assert.Matches($@"(?m)^{acquisition}_lambda2\s", output);
        (code, output, _) = await RunAsync("status", "--detector", "lambda2");
        Assert.Equal(0, code);
        Assert.Contains($"{acquisition}_lambda2", output, StringComparison.Ordinal);
        Assert.DoesNotContain("_lambda1 ", output, StringComparison.Ordinal);

        (code, output, error) = await RunAsync("pause", "--acquisition", acquisition, "--detector", "lambda2");
        Assert.True(code == 0, error);
        Assert.Contains($"{acquisition}_lambda2", output, StringComparison.Ordinal);
        var rows = await RowsAsync();
        Assert.True(rows[$"{acquisition}_lambda2"].GetProperty("paused").GetBoolean());
        Assert.False(rows[$"{acquisition}_lambda1"].GetProperty("paused").GetBoolean());
        (code, _, error) = await RunAsync("resume", "--acquisition", $"{acquisition}_lambda2");
        Assert.True(code == 0, error);
        Assert.False((await RowsAsync())[$"{acquisition}_lambda2"].GetProperty("paused").GetBoolean());

        // The bare acquisition is no stream: refused with its streams named, nothing stopped.
        (code, output, error) = await RunAsync("stop", acquisition);
        Assert.Equal((2, string.Empty), (code, output));
        Assert.Contains($"{acquisition}_lambda1, {acquisition}_lambda2", error, StringComparison.Ordinal);
        Assert.Contains("--detector", error, StringComparison.Ordinal);
        (code, _, error) = await RunAsync("pause", "--detector", "lambda1");
        Assert.Equal(2, code);
        Assert.Contains("needs --acquisition", error, StringComparison.Ordinal);
        Assert.False((await RowsAsync())[$"{acquisition}_lambda1"].GetProperty("finished").GetBoolean());

        (code, output, error) = await RunAsync("stop", acquisition, "--detector", "lambda1");
        Assert.True(code == 0, error);
        Assert.Contains($"'{acquisition}_lambda1' stopped after 1 chunk part(s)", output, StringComparison.Ordinal);
        rows = await RowsAsync();
        Assert.True(rows[$"{acquisition}_lambda1"].GetProperty("finished").GetBoolean());
        Assert.False(rows[$"{acquisition}_lambda2"].GetProperty("finished").GetBoolean());

        // The console's Stop button addresses the stream the same way.
        var stopped = await ReadJsonAsync(await SendAsync(HttpMethod.Post, $"/api/operator/acquisitions/{acquisition}_lambda2/stop", null));
        Assert.Equal(1U, stopped.GetProperty("parts").GetUInt32());
        Assert.True((await RowsAsync())[$"{acquisition}_lambda2"].GetProperty("finished").GetBoolean());
    }

    [Fact]
    public async Task Page_DetectorSelector_SetsOneDetectorsSettings_RowsShowTheirDetector_Screenshot()
    {
        var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } }).DefaultTimeout();
        await page.GotoAsync(suite.ConsoleUrl + "/?tab=operate").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the detector selector shown with both detectors", async () =>
            await page.Locator("#op-detector-field").IsVisibleAsync().DefaultTimeout() && await page.Locator("#op-detector option").CountAsync().DefaultTimeout() == 2, TimeSpan.FromSeconds(90));
        var row = page.Locator($"#op-table tbody tr[data-name={Acquisition}_lambda2]");
        await TaskTimeoutExtensions.UntilAsync("the lambda2 row", async () => await row.CountAsync().DefaultTimeout() == 1, TimeSpan.FromSeconds(60));
        Assert.Equal("lambda2", await row.Locator(".op-detector").InnerTextAsync().DefaultTimeout());

        var lambda1 = await GetJsonAsync("/api/operator/settings?detector=lambda1");
        var lambda2 = await GetJsonAsync("/api/operator/settings?detector=lambda2");
        await page.Locator("#op-detector").SelectOptionAsync("lambda2").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("lambda2's settings in the form", async () =>
            await page.Locator("#op-npt").InputValueAsync().DefaultTimeout() == lambda2.GetProperty("npt").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture)
            && (await page.Locator("#op-poni").InputValueAsync().DefaultTimeout()) == suite.SecondPoni);
        var npt = lambda2.GetProperty("npt").GetInt32() == 1300 ? 1301 : 1300;
        await page.Locator("#op-npt").FillAsync(npt.ToString(System.Globalization.CultureInfo.InvariantCulture)).DefaultTimeout();
        await page.Locator("#op-apply").ClickAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("applied for lambda2", async () => (await page.Locator("#op-settings-note").InnerTextAsync().DefaultTimeout()).Contains("for detector lambda2", StringComparison.Ordinal));
        Assert.Equal(npt, (await GetJsonAsync("/api/operator/settings?detector=lambda2")).GetProperty("npt").GetInt32());
        Assert.Equal(lambda1.GetRawText(), (await GetJsonAsync("/api/operator/settings?detector=lambda1")).GetRawText());
        await TaskTimeoutExtensions.UntilAsync("the per-detector versions", async () =>
            (await page.Locator("#op-detector-versions").InnerTextAsync().DefaultTimeout()).Contains($"lambda2 version {(await GetJsonAsync("/api/operator/settings?detector=lambda2")).GetProperty("version").GetUInt64()}", StringComparison.Ordinal));

        // A stream as scope: its detector's selector follows it and is fixed.
        await page.Locator("#op-scope").SelectOptionAsync($"{Acquisition}_lambda1").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the stream's detector selected and fixed", async () =>
            await page.Locator("#op-detector").InputValueAsync().DefaultTimeout() == "lambda1" && await page.Locator("#op-detector").IsDisabledAsync().DefaultTimeout());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "operate-detectors.png"), FullPage = true }).DefaultTimeout();
        await page.CloseAsync().DefaultTimeout();
    }

    private async Task<Dictionary<string, JsonElement>> RowsAsync() =>
        (await GetJsonAsync("/api/operator/status")).GetProperty("acquisitions").EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!);

    private async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await OperatorCommands.RunAsync(args[0], [.. args[1..], "--ingest", suite.Suite.IngestAddress], output, error, CancellationToken.None).DefaultTimeout();
        return (code, output.ToString(), error.ToString());
    }

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        var response = await suite.Http.GetAsync(suite.ConsoleUrl + path).DefaultTimeout();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {response.StatusCode} {await response.Content.ReadAsStringAsync().DefaultTimeout()}");
        return await ReadJsonAsync(response);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, suite.ConsoleUrl + path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Add("X-Anvil-Operator", "1");
        return await suite.Http.SendAsync(request).DefaultTimeout();
    }

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync().DefaultTimeout());
        return document.RootElement.Clone();
    }
}
