using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Anvil.Integration;
using Anvil.Testing;

namespace Anvil.Console.Tests;

/// <summary>
/// The operator API (/api/operator) against the real suite: the console calls ingest's Control service over gRPC.
/// Settings refused with the settings model's own message per field (and nothing changed), a valid change gives the new
/// version, pause shows in the status, and writes from another address or without the operator header are refused.
/// </summary>
[Collection(OperatorCollection.Name)]
public sealed class OperatorApiTests(OperatorSuiteFixture suite)
{
    private string Url => suite.ConsoleUrl;

    [Fact]
    public async Task PutSettings_BadNpt_422WithTheModelsMessageAndNothingChanged()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        var response = await PutSettingsAsync(new { npt = 1 });

        Assert.Equal((HttpStatusCode)422, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await ReadJsonAsync(response);
        var expected = (IntegrationSettings.Default with { Npt = 1 }).Validate(checkFiles: false).Single(e => e.Field == "npt").Message;
        Assert.Equal([expected], problem.GetProperty("errors").GetProperty("npt").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(before.GetRawText(), (await GetJsonAsync("/api/operator/settings")).GetRawText());

        // A negative number the wire cannot carry gets the model's message too.
        var negative = await ReadJsonAsync(await PutSettingsAsync(new { npt = -5 }));
        Assert.Equal((IntegrationSettings.Default with { Npt = -5 }).Validate(checkFiles: false).Single(e => e.Field == "npt").Message,
            negative.GetProperty("errors").GetProperty("npt")[0].GetString());
    }

    [Fact]
    public async Task PutSettings_MissingPoniWithValidNpt_422OnPoniAndNptNotApplied()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        var response = await PutSettingsAsync(new { poni = "calib/missing.poni", npt = 1111 });

        Assert.Equal((HttpStatusCode)422, response.StatusCode);
        var errors = (await ReadJsonAsync(response)).GetProperty("errors");
        var expected = new IntegrationSettings { Poni = Path.Combine(suite.DataRoot, "calib", "missing.poni") }.Validate().Single(e => e.Field == "poni").Message;
        Assert.Equal(expected, errors.GetProperty("poni")[0].GetString());
        Assert.False(errors.TryGetProperty("npt", out _));
        var after = await GetJsonAsync("/api/operator/settings");
        Assert.Equal(before.GetRawText(), after.GetRawText());
        Assert.NotEqual(1111, after.GetProperty("npt").GetInt32());
    }

    [Fact]
    public async Task PutSettings_ValidNpt_ReturnsTheNewVersionInForce()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        var npt = before.GetProperty("npt").GetInt32() == 1234 ? 1235 : 1234;
        var response = await PutSettingsAsync(new { npt, poni = "calib/L2.poni" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var applied = await ReadJsonAsync(response);
        Assert.Equal(npt, applied.GetProperty("npt").GetInt32());
        Assert.True(applied.GetProperty("version").GetUInt64() > before.GetProperty("version").GetUInt64());
        Assert.Equal(suite.Poni, applied.GetProperty("poni").GetString());
        var now = await GetJsonAsync("/api/operator/settings");
        Assert.Equal(applied.GetProperty("version").GetUInt64(), now.GetProperty("version").GetUInt64());
        Assert.Equal(npt, now.GetProperty("npt").GetInt32());
    }

    [Fact]
    public async Task PauseBeamtime_StatusSaysPaused_ResumeClearsIt()
    {
        var paused = await ReadJsonAsync(await PostAsync("/api/operator/pause", new { }));
        Assert.True(paused.GetProperty("paused").GetBoolean());
        var status = await GetJsonAsync("/api/operator/status");
        Assert.True(status.GetProperty("beamtimePaused").GetBoolean());

        // A second click changes nothing and says so.
        var again = await ReadJsonAsync(await PostAsync("/api/operator/pause", new { }));
        Assert.False(again.GetProperty("changed").GetBoolean());

        var resumed = await ReadJsonAsync(await PostAsync("/api/operator/resume", new { }));
        Assert.False(resumed.GetProperty("paused").GetBoolean());
        Assert.False((await GetJsonAsync("/api/operator/status")).GetProperty("beamtimePaused").GetBoolean());
    }

    [Fact]
    public async Task PauseAcquisition_ItsRowSaysPaused_ResumeClearsIt()
    {
        var body = new { acquisition = OperatorSuiteFixture.Acquisition };
        Assert.True((await ReadJsonAsync(await PostAsync("/api/operator/pause", body))).GetProperty("acquisitionPaused").GetBoolean());
        await TaskTimeoutExtensions.UntilAsync("the status row says paused", async () => (await RowAsync()).GetProperty("paused").GetBoolean());

        Assert.False((await ReadJsonAsync(await PostAsync("/api/operator/resume", body))).GetProperty("paused").GetBoolean());
        await TaskTimeoutExtensions.UntilAsync("the status row says not paused", async () => !(await RowAsync()).GetProperty("paused").GetBoolean());
        var row = await RowAsync();
        Assert.True(row.GetProperty("framesAnnounced").GetUInt64() >= 20);
    }

    [Fact]
    public async Task Writes_WithoutOperatorHeader_403AndNothingChanged()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        using var request = new HttpRequestMessage(HttpMethod.Put, Url + "/api/operator/settings") { Content = JsonContent.Create(new { npt = 1300 }) };
        var response = await suite.Http.SendAsync(request).DefaultTimeout();
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("X-Anvil-Operator", (await ReadJsonAsync(response)).GetProperty("detail").GetString(), StringComparison.Ordinal);

        // A cross-site HTML form can only send form bodies without custom headers: refused as well.
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["acquisition"] = "" });
        Assert.Equal(HttpStatusCode.Forbidden, (await suite.Http.PostAsync(Url + "/api/operator/pause", form).DefaultTimeout()).StatusCode);
        Assert.False((await GetJsonAsync("/api/operator/status")).GetProperty("beamtimePaused").GetBoolean());
        Assert.Equal(before.GetRawText(), (await GetJsonAsync("/api/operator/settings")).GetRawText());
    }

    [Fact]
    public async Task Writes_FromAnotherAddress_403SayingALoginIsNeeded_ReadsStillWork()
    {
        var address = OperatorSuiteFixture.RemoteStandIn();
        var remote = suite.ConsoleAt(address);

        var status = await suite.Http.GetAsync(remote + "/api/operator/status").DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.False((await ReadJsonAsync(status)).GetProperty("canOperate").GetBoolean());
        Assert.True((await GetJsonAsync("/api/operator/status")).GetProperty("canOperate").GetBoolean());

        using var request = new HttpRequestMessage(HttpMethod.Post, remote + "/api/operator/pause") { Content = JsonContent.Create(new { }) };
        request.Headers.Add("X-Anvil-Operator", "1");
        var response = await suite.Http.SendAsync(request).DefaultTimeout();
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await ReadJsonAsync(response);
        Assert.Equal("Operator actions need a login", problem.GetProperty("title").GetString());
        Assert.Contains("This console has no accounts", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False((await GetJsonAsync("/api/operator/status")).GetProperty("beamtimePaused").GetBoolean());
    }

    [Fact]
    public async Task Browse_DataRoot_ListsFoldersThenFiles_AndRefusesAWayOut()
    {
        var root = await GetJsonAsync("/api/operator/browse");
        var names = root.GetProperty("entries").EnumerateArray().Select(e => (e.GetProperty("name").GetString(), e.GetProperty("kind").GetString())).ToList();
        Assert.Contains(("calib", "folder"), names);
        var calib = await GetJsonAsync("/api/operator/browse?path=calib");
        Assert.Contains(calib.GetProperty("entries").EnumerateArray(), e => e.GetProperty("path").GetString() == "calib/L2.poni");

        var outside = await suite.Http.GetAsync(Url + "/api/operator/browse?path=../..").DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        Assert.Equal("application/problem+json", outside.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Stop_AcquisitionUnderWay_FinishesWithItsParts_SecondStopIsHarmless()
    {
        const string acquisition = "stop_1009_00002";
        await suite.AnnounceAsync(acquisition, parts: 1);
        var stopped = await ReadJsonAsync(await PostAsync($"/api/operator/acquisitions/{acquisition}/stop", null));
        Assert.Equal((1U, false), (stopped.GetProperty("parts").GetUInt32(), stopped.GetProperty("alreadyFinished").GetBoolean()));

        var again = await ReadJsonAsync(await PostAsync($"/api/operator/acquisitions/{acquisition}/stop", null));
        Assert.True(again.GetProperty("alreadyFinished").GetBoolean());
        await TaskTimeoutExtensions.UntilAsync("its result file shows in the status", async () =>
        {
            var row = (await GetJsonAsync("/api/operator/status")).GetProperty("acquisitions").EnumerateArray().Single(a => a.GetProperty("name").GetString() == acquisition);
            return row.GetProperty("finished").GetBoolean() && row.GetProperty("resultFile").GetString() == acquisition + ".nxs";
        }, TimeSpan.FromMinutes(2));
    }

    [Fact]
    public async Task Stop_UnknownOrBadName_ProblemNotCrash()
    {
        var response = await PostAsync("/api/operator/acquisitions/no such name!/stop", null);
        Assert.True((int)response.StatusCode is >= 400 and < 500, $"status {response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, (await suite.Http.GetAsync(Url + "/api/operator/status").DefaultTimeout()).StatusCode);
    }

    [Fact]
    public async Task Reprocess_UnderWayUnknownBadSettingsOrWithoutHeader_ProblemAndNothingStarted()
    {
        // Still being acquired: 409 saying so.
        var early = await PostAsync($"/api/operator/acquisitions/{OperatorSuiteFixture.Acquisition}/reprocess", null);
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        Assert.Contains("still being acquired", (await ReadJsonAsync(early)).GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Unknown to the broker: 400 saying what to give.
        var unknown = await PostAsync("/api/operator/acquisitions/never_recorded_1/reprocess", new { npt = 800 });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown to the broker", (await ReadJsonAsync(unknown)).GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Settings that do not validate: 422 with the model's message per field (before anything is looked up).
        var bad = await PostAsync($"/api/operator/acquisitions/{OperatorSuiteFixture.Acquisition}/reprocess", new { npt = 1, radialRange = new[] { 9, 3 } });
        Assert.Equal((HttpStatusCode)422, bad.StatusCode);
        var errors = (await ReadJsonAsync(bad)).GetProperty("errors");
        Assert.Equal((IntegrationSettings.Default with { Npt = 1 }).Validate(checkFiles: false).Single(e => e.Field == "npt").Message, errors.GetProperty("npt")[0].GetString());
        Assert.Contains("radial range [9, 3] is not a range", errors.GetProperty("radial_range")[0].GetString(), StringComparison.Ordinal);

        // Without the operator header (a cross-site form): 403.
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{Url}/api/operator/acquisitions/{OperatorSuiteFixture.Acquisition}/reprocess");
        Assert.Equal(HttpStatusCode.Forbidden, (await suite.Http.SendAsync(request).DefaultTimeout()).StatusCode);

        var names = (await GetJsonAsync("/api/operator/status")).GetProperty("acquisitions").EnumerateArray().Select(a => a.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain(names, n => n!.StartsWith(OperatorSuiteFixture.Acquisition + "_r", StringComparison.Ordinal) || n.StartsWith("never_recorded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ConfigFile_Valid_PreviewShowsTheChangesAndRestarts_ApplyPublishesThem_Audited()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        // The file `./anvil up --config` takes, below the data root; its paths are taken from its own folder.
        var npt = before.GetProperty("npt").GetInt32() == 1400 ? 1401 : 1400;
        WriteConfig("config/exp-good.json", $$"""
            { "Pipeline": { "DataRoot": "..", "Poni": "../calib/L2.poni", "Npt": {{npt}}, "Unit": "q_nm^-1", "Method": "bbox", "Polarization": 0.95, "StitchBatch": 7, "ChunkReadableTimeout": "00:00:03" } }
            """);

        var preview = await GetJsonAsync("/api/operator/config?path=config/exp-good.json");
        Assert.True(preview.GetProperty("valid").GetBoolean());
        var changes = preview.GetProperty("changes");
        Assert.Equal(npt, changes.GetProperty("npt").GetProperty("to").GetInt32());
        Assert.Equal("q_nm^-1", changes.GetProperty("unit").GetProperty("to").GetString());
        Assert.Equal(0.95, changes.GetProperty("polarization").GetProperty("to").GetDouble());
        Assert.False(changes.TryGetProperty("poni", out _));
        // StitchBatch differs from the running suite's (16): needs a restart, never applied. DataRoot and the timeout are the suite's own.
        var restart = preview.GetProperty("restart").EnumerateArray().Select(r => r.GetProperty("key").GetString()).ToList();
        Assert.Equal(["StitchBatch"], restart);
        Assert.Contains("need a restart of the suite", preview.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(before.GetRawText(), (await GetJsonAsync("/api/operator/settings")).GetRawText());

        var response = await PostAsync("/api/operator/config", new { path = "config/exp-good.json" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var applied = await ReadJsonAsync(response);
        Assert.True(applied.GetProperty("applied").GetBoolean());
        var now = await GetJsonAsync("/api/operator/settings");
        Assert.True(now.GetProperty("version").GetUInt64() > before.GetProperty("version").GetUInt64());
        Assert.Equal((npt, "q_nm^-1", 0.95, suite.Poni), (now.GetProperty("npt").GetInt32(), now.GetProperty("unit").GetString(), now.GetProperty("polarization").GetDouble(), now.GetProperty("poni").GetString()));
        Assert.Equal(now.GetProperty("version").GetUInt64(), applied.GetProperty("targets")[0].GetProperty("version").GetUInt64());

        // Applying it again changes nothing and says so.
        var again = await ReadJsonAsync(await PostAsync("/api/operator/config", new { path = "config/exp-good.json" }));
        Assert.Contains("nothing to change", again.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(now.GetProperty("version").GetUInt64(), (await GetJsonAsync("/api/operator/settings")).GetProperty("version").GetUInt64());

        var audit = (await File.ReadAllLinesAsync(Path.Combine(suite.OutputDir, "console-audit.jsonl")).DefaultTimeout()).Select(l => JsonDocument.Parse(l).RootElement)
            .Last(l => l.GetProperty("action").GetString() == "config" && l.GetProperty("status").GetInt32() == 200 && l.TryGetProperty("changes", out var c) && c.ValueKind == JsonValueKind.Object);
        Assert.Equal(npt, audit.GetProperty("changes").GetProperty("npt").GetProperty("to").GetInt32());

        // Back to what was in force, for the other tests.
        Assert.Equal(HttpStatusCode.OK, (await PutSettingsAsync(new { npt = before.GetProperty("npt").GetInt32(), unit = before.GetProperty("unit").GetString(), polarization = (double?)null })).StatusCode);
    }

    [Fact]
    public async Task ConfigFile_InvalidValues_422NamingTheFieldWithTheModelsMessage_NothingApplied()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        WriteConfig("config/exp-bad.json", """{ "Pipeline": { "Poni": "../calib/L2.poni", "Npt": 1, "Polarization": 3 } }""");
        var response = await PostAsync("/api/operator/config", new { path = "config/exp-bad.json" });
        Assert.Equal((HttpStatusCode)422, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = (await ReadJsonAsync(response)).GetProperty("errors");
        var model = (IntegrationSettings.Default with { Npt = 1, PolarizationFactor = 3 }).Validate(checkFiles: false).ToDictionary(e => e.Field, e => e.Message);
        Assert.Equal(model["npt"], errors.GetProperty("npt")[0].GetString());
        Assert.Equal(model["polarization"], errors.GetProperty("polarization")[0].GetString());
        Assert.Equal(before.GetRawText(), (await GetJsonAsync("/api/operator/settings")).GetRawText());

        // A word where a number belongs, a PONI that does not load, JSON that is not JSON: each names what is wrong.
        WriteConfig("config/exp-word.json", """{ "Pipeline": { "Npt": "many" } }""");
        var word = (await ReadJsonAsync(await PostAsync("/api/operator/config", new { path = "config/exp-word.json" }))).GetProperty("errors");
        Assert.Contains("Pipeline:Npt", word.GetProperty("npt")[0].GetString(), StringComparison.Ordinal);
        WriteConfig("config/exp-poni.json", """{ "Pipeline": { "Poni": "../calib/missing.poni" } }""");
        var poni = (await ReadJsonAsync(await PostAsync("/api/operator/config", new { path = "config/exp-poni.json" }))).GetProperty("errors");
        Assert.Contains("missing.poni", poni.GetProperty("poni")[0].GetString(), StringComparison.Ordinal);
        WriteConfig("config/exp-broken.json", """{ "Pipeline": { "Npt": """);
        var broken = await PostAsync("/api/operator/config", new { path = "config/exp-broken.json" });
        Assert.Equal((HttpStatusCode)422, broken.StatusCode);
        Assert.Contains("exp-broken.json does not read", (await ReadJsonAsync(broken)).GetProperty("errors").GetProperty("file")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(before.GetRawText(), (await GetJsonAsync("/api/operator/settings")).GetRawText());
    }

    [Fact]
    public async Task ConfigFile_OutsideTheDataRootMissingOrWithoutHeader_RefusedNothingApplied()
    {
        var before = await GetJsonAsync("/api/operator/settings");
        var outside = Path.Combine(suite.WorkDir, "outside.json");
        await File.WriteAllTextAsync(outside, """{ "Pipeline": { "Npt": 1200 } }""").DefaultTimeout();
        foreach (var path in new[] { "../outside.json", outside, "/etc/passwd" })
        {
            var response = await PostAsync("/api/operator/config", new { path });
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}: {response.StatusCode}");
            Assert.Contains("below the data root", (await ReadJsonAsync(response)).GetProperty("title").GetString(), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(HttpStatusCode.BadRequest, (await suite.Http.GetAsync($"{Url}/api/operator/config?path={Uri.EscapeDataString(path)}").DefaultTimeout()).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync("/api/operator/config", new { path = "config/none.json" })).StatusCode);

        // From another PC (a console without accounts) or without the operator header: refused like every write.
        WriteConfig("config/exp-remote.json", """{ "Pipeline": { "Npt": 1200 } }""");
        using var remote = new HttpRequestMessage(HttpMethod.Post, suite.ConsoleAt(OperatorSuiteFixture.RemoteStandIn()) + "/api/operator/config") { Content = JsonContent.Create(new { path = "config/exp-remote.json" }) };
        remote.Headers.Add("X-Anvil-Operator", "1");
        Assert.Equal(HttpStatusCode.Forbidden, (await suite.Http.SendAsync(remote).DefaultTimeout()).StatusCode);
        using var headerless = new HttpRequestMessage(HttpMethod.Post, Url + "/api/operator/config") { Content = JsonContent.Create(new { path = "config/exp-remote.json" }) };
        Assert.Equal(HttpStatusCode.Forbidden, (await suite.Http.SendAsync(headerless).DefaultTimeout()).StatusCode);
        Assert.Equal(before.GetRawText(), (await GetJsonAsync("/api/operator/settings")).GetRawText());
    }

    private void WriteConfig(string relative, string json)
    {
        var path = Path.Combine(suite.DataRoot, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json);
    }

    private async Task<JsonElement> RowAsync() =>
        (await GetJsonAsync("/api/operator/status")).GetProperty("acquisitions").EnumerateArray().Single(a => a.GetProperty("name").GetString() == OperatorSuiteFixture.Acquisition);

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        var response = await suite.Http.GetAsync(Url + path).DefaultTimeout();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {response.StatusCode} {await response.Content.ReadAsStringAsync().DefaultTimeout()}");
        return await ReadJsonAsync(response);
    }

    private async Task<HttpResponseMessage> PutSettingsAsync(object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, Url + "/api/operator/settings") { Content = JsonContent.Create(body) };
        request.Headers.Add("X-Anvil-Operator", "1");
        return await suite.Http.SendAsync(request).DefaultTimeout();
    }

    private async Task<HttpResponseMessage> PostAsync(string path, object? body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Url + path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Add("X-Anvil-Operator", "1");
        return await suite.Http.SendAsync(request).DefaultTimeout();
    }

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync().DefaultTimeout());
        return document.RootElement.Clone();
    }
}
