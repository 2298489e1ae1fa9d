using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;

namespace Anvil.Console.Tests;

/// <summary>
/// An acquisition with a corrupt chunk part, announced once into the operator suite: its 10 frames fail (stitch cannot
/// read module 2), so the Status tab has failed frames with reasons and trace ids, and error lines in the logs.
/// </summary>
internal static class FailingAcquisition
{
    public const string Name = "st_1009_00001";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static bool announced;

    /// <summary>Announces it (once per test run) and waits until the Status API lists its failed frames with trace ids.</summary>
    public static async Task<JsonElement> EnsureAsync(OperatorSuiteFixture suite)
    {
        await Gate.WaitAsync().DefaultTimeout();
        try
        {
            if (!announced)
            {
                var folder = Path.Combine(suite.DataRoot, Name);
                Directory.CreateDirectory(folder);
                foreach (var file in Directory.GetFiles(TestPaths.LambdaFixtures, "*_part00000.nxs"))
                {
                    File.Copy(file, Path.Combine(folder, Path.GetFileName(file).Replace("testasapo1_1009_00002", Name, StringComparison.Ordinal)));
                }

                var victim = Path.Combine(folder, ChunkFileName.Format(Name, 2, 0));
                var bytes = await File.ReadAllBytesAsync(victim).DefaultTimeout();
                await File.WriteAllBytesAsync(victim, bytes[..(bytes.Length / 2)]).DefaultTimeout();
                using var channel = GrpcChannel.ForAddress(suite.Suite.IngestAddress);
                var ingest = new Ingest.IngestClient(channel);
                for (var module = 1; module <= 3; module++)
                {
                    await ingest.AnnounceChunkAsync(new AnnounceChunkRequest
                    {
                        Acquisition = Name,
                        Module = (uint)module,
                        Modules = 3,
                        Part = 0,
                        Path = Path.Combine(folder, ChunkFileName.Format(Name, module, 0)),
                        Frames = 10,
                    }).ResponseAsync.DefaultTimeout();
                }

                announced = true;
            }
        }
        finally
        {
            Gate.Release();
        }

        JsonElement row = default;
        await TaskTimeoutExtensions.UntilAsync($"{Name}'s failed frames with trace ids", async () =>
        {
            var status = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/status/acquisitions").DefaultTimeout();
            row = status.GetProperty("acquisitions").EnumerateArray().FirstOrDefault(a => a.GetProperty("name").GetString() == Name);
            return row.ValueKind == JsonValueKind.Object && row.GetProperty("failedFrames").GetArrayLength() == 10 &&
                row.GetProperty("failedFrames").EnumerateArray().All(f => f.GetProperty("traceId").GetString()!.Length == 32);
        }, TimeSpan.FromSeconds(90));
        return row;
    }
}

/// <summary>The Status API against the real suite under a supervisor, as `./anvil up` runs it.</summary>
[Collection(OperatorCollection.Name)]
public sealed class StatusApiTests(OperatorSuiteFixture suite)
{
    [Fact]
    public async Task Services_Supervised_EveryInstanceServingWithItsPidCpuAndMemory()
    {
        // The reprocess pool runs at the lowest CPU priority, so on a busy machine its first answers may miss the status
        // deadline: look until every instance has answered once.
        var status = default(JsonElement);
        await TaskTimeoutExtensions.UntilAsync("every instance serving", async () =>
        {
            status = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/status/services").DefaultTimeout();
            return status.GetProperty("services").EnumerateArray().All(s => s.GetProperty("state").GetString() == "serving");
        }, TimeSpan.FromSeconds(60)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        Assert.True(status.GetProperty("supervised").GetBoolean());
        var services = status.GetProperty("services").EnumerateArray().ToArray();
        Assert.Equal(["broker", "ingest", "stitch", "integrate", "integrate-2", "merge", "reprocess-stitch", "reprocess-integrate", "reprocess-merge", "console"],
            services.Select(s => s.GetProperty("name").GetString()));
        foreach (var service in services)
        {
            var name = service.GetProperty("name").GetString()!;
            var process = suite.Suite.Services.Single(s => s.Name == name);
            Assert.True(service.GetProperty("state").GetString() == "serving", $"{name}: {service}");
            Assert.Equal(process.Process.Id, service.GetProperty("pid").GetInt32());
            Assert.Equal(process.Address, service.GetProperty("address").GetString());
            Assert.True(service.GetProperty("cpuSeconds").GetDouble() > 0, name);
            Assert.True(service.GetProperty("cpuPercent").GetDouble() >= 0, name);
            Assert.InRange(service.GetProperty("rssBytes").GetInt64(), 10L << 20, 8L << 30);
            Assert.True(service.GetProperty("restarts").GetInt32() >= 0);
        }
    }

    [Fact]
    public async Task Logs_UnknownServiceBadLevelBadTrace_ProblemBodies()
    {
        using var unknown = await suite.Http.GetAsync(suite.ConsoleUrl + "/api/status/logs/nothing").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        Assert.Contains("integrate-2", (await unknown.Content.ReadFromJsonAsync<JsonElement>().DefaultTimeout()).GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var level = await suite.Http.GetAsync(suite.ConsoleUrl + "/api/status/logs/broker?level=loud").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, level.StatusCode);
        Assert.Contains("warn", (await level.Content.ReadFromJsonAsync<JsonElement>().DefaultTimeout()).GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var trace = await suite.Http.GetAsync(suite.ConsoleUrl + "/api/status/traces/xyz").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, trace.StatusCode);
        using var lines = await suite.Http.GetAsync(suite.ConsoleUrl + "/api/status/logs/broker?lines=0").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, lines.StatusCode);
    }

    [Fact]
    public async Task Logs_FilterByLevelAndText_OnlyMatchingEntries()
    {
        await FailingAcquisition.EnsureAsync(suite);
        var all = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/status/logs/stitch?limit=20000").DefaultTimeout();
        var entries = all.GetProperty("entries").EnumerateArray().ToArray();
        Assert.Contains(entries, e => e.GetProperty("level").GetString() == "info");
        Assert.Contains(entries, e => e.GetProperty("level").GetString() == "fail");
        // The logger's lines carry their UTC time; lines outside its format (the HDF5 library's own error stack on stderr) are "out".
        Assert.All(entries.Where(e => e.GetProperty("level").GetString() != "out"), e => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e.GetProperty("time").GetString()!));

        var errors = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/status/logs/stitch?level=warn&limit=20000").DefaultTimeout();
        var severe = errors.GetProperty("entries").EnumerateArray().ToArray();
        Assert.NotEmpty(severe);
        Assert.All(severe, e => Assert.Contains(e.GetProperty("level").GetString(), new[] { "warn", "fail", "crit" }));
        Assert.Equal(entries.Count(e => e.GetProperty("level").GetString() is "warn" or "fail" or "crit"), severe.Length);

        var text = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + $"/api/status/logs/stitch?text={FailingAcquisition.Name.ToUpperInvariant()}&limit=20000").DefaultTimeout();
        var matching = text.GetProperty("entries").EnumerateArray().ToArray();
        Assert.NotEmpty(matching);
        Assert.All(matching, e => Assert.Contains(FailingAcquisition.Name, e.GetProperty("text").GetString(), StringComparison.Ordinal));
        Assert.Equal(entries.Count(e => e.GetProperty("text").GetString()!.Contains(FailingAcquisition.Name, StringComparison.Ordinal)), matching.Length);
    }

    [Fact]
    public async Task FailedFrames_ReasonAndTraceId_TheTraceFindsTheErrorLinesInTheServicesLogs()
    {
        var row = await FailingAcquisition.EnsureAsync(suite);
        Assert.Equal(10UL, row.GetProperty("framesFailed").GetUInt64());
        var failed = row.GetProperty("failedFrames").EnumerateArray().ToArray();
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (ulong)i), failed.Select(f => f.GetProperty("frame").GetUInt64()));
        Assert.All(failed, f => Assert.False(string.IsNullOrWhiteSpace(f.GetProperty("reason").GetString())));
        Assert.Equal(3, row.GetProperty("backlogs").GetArrayLength());
        Assert.True(row.TryGetProperty("rate", out _) && row.TryGetProperty("etaSeconds", out _));

        // One chunk is one trace: every frame of it carries the chunk's trace id, and stitch's error line was written under it.
        var traceId = failed[0].GetProperty("traceId").GetString()!;
        var trace = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/status/traces/" + traceId).DefaultTimeout();
        var lines = trace.GetProperty("entries").EnumerateArray().ToArray();
        Assert.Contains(lines, e => e.GetProperty("service").GetString() == "stitch" && e.GetProperty("level").GetString() == "fail" &&
            e.GetProperty("text").GetString()!.Contains($"of {FailingAcquisition.Name} fails its frames", StringComparison.Ordinal));
        Assert.All(lines, e => Assert.Equal(traceId, e.GetProperty("traceId").GetString()));
    }

    [Fact]
    public async Task Acquisitions_Rate_FramesPerSecondWhileMerging_AndZeroTimeLeftWhenDone()
    {
        // Three readings a second apart while the fixture's acquisition's frames are (or were) merged: the rate is a number ≥ 0.
        JsonElement row = default;
        for (var i = 0; i < 3; i++)
        {
            var status = await suite.Http.GetFromJsonAsync<JsonElement>(suite.ConsoleUrl + "/api/status/acquisitions").DefaultTimeout();
            row = status.GetProperty("acquisitions").EnumerateArray().First(a => a.GetProperty("name").GetString() == OperatorSuiteFixture.Acquisition);
            if (i < 2)
            {
                await Task.Delay(TimeSpan.FromSeconds(1.1));
            }
        }

        Assert.True(row.GetProperty("rate").GetDouble() >= 0);
    }
}

/// <summary>The Status tab in headless Chromium against the real suite: crashes, logs, a failed frame's trace.</summary>
[Collection(OperatorCollection.Name)]
public sealed class StatusPageTests(OperatorSuiteFixture suite, BrowserFixture browser)
{
    [Fact]
    public async Task KilledWorker_ShownCrashedInRedWithItsExit_ThenServingAgainWithOneMoreRestart()
    {
        var page = await OpenStatusAsync();
        var row = page.Locator("#st-services tbody tr[data-service=integrate-2]");
        var before = -1;
        await TaskTimeoutExtensions.UntilAsync("integrate-2 serving, its restarts known", async () =>
            await row.Locator(".st-state").InnerTextAsync().DefaultTimeout() == "serving" &&
            int.TryParse(await row.Locator(".st-restarts").InnerTextAsync().DefaultTimeout(), System.Globalization.CultureInfo.InvariantCulture, out before));

        var victim = suite.Suite.Services.Single(s => s.Name == "integrate-2");
        victim.Process.Kill();
        await victim.Process.WaitForExitAsync().DefaultTimeout();

        // Red, with the exit code and time, as soon as the page's next poll sees the death (it stays so after the restart).
        await TaskTimeoutExtensions.UntilAsync("integrate-2's row red with exit 137", async () =>
            (await row.GetAttributeAsync("class").DefaultTimeout() ?? string.Empty).Contains("crashed", StringComparison.Ordinal) &&
            (await row.Locator(".st-exit").InnerTextAsync().DefaultTimeout()).StartsWith("exit 137 at ", StringComparison.Ordinal) &&

            // The rows are redrawn every second: read the colour inside the same poll (a detached cell has none).
            await row.Locator(".st-exit").EvaluateAsync<string>("e => e.isConnected ? getComputedStyle(e).color : ''").DefaultTimeout() == "rgb(180, 35, 24)",
            TimeSpan.FromSeconds(30));

        await TaskTimeoutExtensions.UntilAsync("integrate-2 serving again after one more restart", async () =>
            await row.Locator(".st-state").InnerTextAsync().DefaultTimeout() == "serving" &&
            await row.Locator(".st-restarts").InnerTextAsync().DefaultTimeout() == (before + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromSeconds(90));
        var restarted = suite.Suite.Services.Single(s => s.Name == "integrate-2");
        Assert.Equal(restarted.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), await row.Locator("td").Nth(3).InnerTextAsync().DefaultTimeout());
        Assert.Contains("exit 137", await row.Locator(".st-exit").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);

        await FailingAcquisition.EnsureAsync(suite);
        await TaskTimeoutExtensions.UntilAsync("the failed frames listed", async () => await page.Locator("#st-failed li").CountAsync().DefaultTimeout() >= 10);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "status.png"), FullPage = true }).DefaultTimeout();
        await page.CloseAsync().DefaultTimeout();
    }

    [Fact]
    public async Task Logs_LevelAndTextFilters_AndAFailedFramesTraceLink()
    {
        await FailingAcquisition.EnsureAsync(suite);
        var page = await OpenStatusAsync();
        await page.Locator("#st-log-service").SelectOptionAsync("stitch").DefaultTimeout();
        var entries = page.Locator("#st-log .lv");
        await TaskTimeoutExtensions.UntilAsync("stitch's log shown", async () => await entries.CountAsync().DefaultTimeout() > 0);

        await page.Locator("#st-log-level").SelectOptionAsync("fail").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("only errors shown", async () =>
        {
            var classes = await entries.EvaluateAllAsync<string[]>("es => es.map(e => e.className)").DefaultTimeout();
            return classes.Length > 0 && classes.All(c => c.Contains("lv-fail", StringComparison.Ordinal) || c.Contains("lv-crit", StringComparison.Ordinal));
        });

        await page.Locator("#st-log-level").SelectOptionAsync(string.Empty).DefaultTimeout();
        await page.Locator("#st-log-text").FillAsync("now listening").DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("only lines with the text shown", async () =>
        {
            var texts = await entries.AllInnerTextsAsync().DefaultTimeout();
            return texts.Count > 0 && texts.All(t => t.Contains("Now listening", StringComparison.Ordinal));
        });

        // A failed frame's link shows every service's lines of its trace.
        var first = page.Locator("#st-failed li", new PageLocatorOptions { HasText = $"{FailingAcquisition.Name} frame 1:" });
        await first.Locator("a.st-trace-link").ClickAsync().DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("the trace's lines shown", async () =>
        {
            var texts = await entries.AllInnerTextsAsync().DefaultTimeout();
            return texts.Any(t => t.StartsWith("[stitch]", StringComparison.Ordinal) && t.Contains("fails its frames", StringComparison.Ordinal));
        });
        Assert.True(await page.Locator("#st-log-trace").IsVisibleAsync().DefaultTimeout());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "status-trace.png"), FullPage = true }).DefaultTimeout();
        await page.CloseAsync().DefaultTimeout();
    }

    private async Task<IPage> OpenStatusAsync()
    {
        var page = await browser.NewPageAsync();
        var failedRequests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        page.Response += (_, r) =>
        {
            if (r.Status >= 400)
            {
                failedRequests.Enqueue($"{r.Status} {r.Url}");
            }
        };
        page.RequestFailed += (_, r) => failedRequests.Enqueue($"{r.Failure} {r.Url}");
        await page.GotoAsync(suite.ConsoleUrl + "/?tab=status").DefaultTimeout();
        try
        {
            await TaskTimeoutExtensions.UntilAsync("the status tab refreshed", async () => await page.EvaluateAsync<int>("window.anvilStatus.refreshes").DefaultTimeout() > 0, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException ex)
        {
            // Say why: the tab's own message, the requests that failed, and a screenshot.
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.Artifacts, "status-not-refreshed.png"), FullPage = true }).DefaultTimeout();
            var message = await page.Locator("#st-message").InnerTextAsync().DefaultTimeout();
            throw new TimeoutException($"{ex.Message} The tab says: '{message}'. Failed requests: {string.Join("; ", failedRequests.Take(10))}.", ex);
        }

        return page;
    }
}

/// <summary>The Status API without a supervisor (as under Compose or Kubernetes), one service down: still answers.</summary>
public sealed class StatusWithoutSupervisorTests : IAsyncLifetime
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-status-");
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private WebApplication? broker;
    private WebApplication? console;
    private string address = string.Empty;

    public async Task InitializeAsync()
    {
        (broker, var brokerAddress) = await Hosts.StartBrokerAsync(work.FullName);
        string ghost;
        using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            ghost = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        }

        (console, address) = await Hosts.StartConsoleAsync(work.FullName, work.FullName, brokerAddress, new Dictionary<string, string?>
        {
            ["Console:Services:broker"] = brokerAddress,
            ["Console:Services:stitch"] = ghost,
            ["Console:Ingest"] = ghost,
        });
    }

    [Fact]
    public async Task Services_OneDown_ShownDownTheOtherServingWithLoad_NoRestartsKnown()
    {
        var status = await http.GetFromJsonAsync<JsonElement>(address + "/api/status/services").DefaultTimeout();
        Assert.False(status.GetProperty("supervisorConfigured").GetBoolean());
        var services = status.GetProperty("services").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        Assert.Equal(["broker", "stitch"], services.Keys.Order());
        Assert.Equal("serving", services["broker"].GetProperty("state").GetString());
        Assert.Equal(Environment.ProcessId, services["broker"].GetProperty("pid").GetInt32());
        Assert.True(services["broker"].GetProperty("rssBytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, services["broker"].GetProperty("restarts").ValueKind);
        Assert.Equal("down", services["stitch"].GetProperty("state").GetString());
        Assert.False(string.IsNullOrEmpty(services["stitch"].GetProperty("error").GetString()));
        Assert.Equal(JsonValueKind.Null, services["stitch"].GetProperty("cpuPercent").ValueKind);
    }

    [Fact]
    public async Task Logs_NoSupervisor_FromTheServiceItself_ADownOne503SaysWhereLogsAre_UnknownService404()
    {
        // The broker host keeps its own recent log (ProcessStatus/GetLog): its start-up line is there.
        var logs = await http.GetFromJsonAsync<JsonElement>(address + "/api/status/logs/broker?text=Application%20started").DefaultTimeout();
        Assert.Equal("service", logs.GetProperty("source").GetString());
        var started = logs.GetProperty("entries").EnumerateArray().First();
        Assert.Equal("info", started.GetProperty("level").GetString());
        Assert.Equal("Microsoft.Hosting.Lifetime[0]", started.GetProperty("category").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT[\d:.]+Z$", started.GetProperty("time").GetString());

        // Stitch is down: a 503 saying where its earlier log is kept.
        using var down = await http.GetAsync(address + "/api/status/logs/stitch").DefaultTimeout();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Contains("docker compose logs stitch", (await down.Content.ReadFromJsonAsync<JsonElement>().DefaultTimeout()).GetProperty("detail").GetString(), StringComparison.Ordinal);

        // A trace's lines across the services: the ones that answered are searched, the down one is named.
        var trace = await http.GetFromJsonAsync<JsonElement>(address + "/api/status/traces/" + new string('a', 32)).DefaultTimeout();
        Assert.Equal(["stitch"], trace.GetProperty("unanswered").EnumerateArray().Select(e => e.GetString()));
        Assert.Empty(trace.GetProperty("entries").EnumerateArray());

        using var unknown = await http.GetAsync(address + "/api/status/logs/merge").DefaultTimeout();
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);

        // Ingest is not there either: the acquisitions table is a 503 naming it, not a crash.
        using var acquisitions = await http.GetAsync(address + "/api/status/acquisitions").DefaultTimeout();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, acquisitions.StatusCode);
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        foreach (var app in new[] { console, broker })
        {
            if (app is not null)
            {
                await app.StopAsync().DefaultTimeout();
                await app.DisposeAsync();
            }
        }

        work.Delete(recursive: true);
    }
}
