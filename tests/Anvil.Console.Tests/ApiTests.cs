using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Anvil.Testing;
using Anvil.Viewer;
using Microsoft.AspNetCore.Builder;

namespace Anvil.Console.Tests;

/// <summary>The console's HTTP API on a real Kestrel over result files written by the real writer.</summary>
public sealed class ApiTests : IAsyncLifetime
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-api-");
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly double[] axis = SyntheticResults.Axis(1500);
    private WebApplication? app;
    private string address = string.Empty;

    private string Output => work.FullName;

    public async Task InitializeAsync()
    {
        SyntheticResults.Write(Output, "ramp_00001", 12, axis, f => SyntheticResults.Profile(axis, [8.0 + (0.1 * f)], f), failed: new HashSet<int> { 5 });
        SyntheticResults.Write(Output, "nolambda_00002", 3, axis, f => SyntheticResults.Profile(axis, [10.0]), calFile: "/nonexistent/calibration.poni");
        // Integrated from the committed P02.2 chunks: frame f is frame (f - 1) % 10 of chunk part (f - 1) / 10.
        SyntheticResults.Write(Output, "real_00004", 50, axis, f => SyntheticResults.Profile(axis, [9.0]),
            source: f => (Path.Combine(TestPaths.LambdaFixtures, Anvil.Pipeline.ChunkFileName.Format("testasapo1_1009_00002", 1, (f - 1) / 10)), (f - 1) / 10, (f - 1) % 10));
        await File.WriteAllBytesAsync(Path.Combine(Output, "corrupt_00003.nxs"), [.. "\u0089HDF\r\n\u001a\n"u8, .. new byte[300]]).DefaultTimeout();
        // A broker nobody listens on: the console must serve files regardless.
        (app, address) = await Hosts.StartConsoleAsync(Output, Output, "http://127.0.0.1:9");
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
    public async Task List_ResultFiles_FramesFailedAndUnreadable()
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"{address}/api/acquisitions").DefaultTimeout());
        var byName = doc.RootElement.EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!);
        Assert.Equal(4, byName.Count);
        Assert.Equal(11, byName["ramp_00001"].GetProperty("framesDone").GetInt64());
        Assert.Equal(12, byName["ramp_00001"].GetProperty("framesExpected").GetInt64());
        Assert.Equal(1, byName["ramp_00001"].GetProperty("failed").GetInt32());
        Assert.Equal("finished", byName["ramp_00001"].GetProperty("state").GetString());
        Assert.Contains("\"npt\":1500", byName["ramp_00001"].GetProperty("settings").GetString(), StringComparison.Ordinal);
        Assert.Equal("unreadable", byName["corrupt_00003"].GetProperty("state").GetString());
    }

    [Theory]
    [InlineData("2th_deg")]
    [InlineData("q_A^-1")]
    [InlineData("q_nm^-1")]
    [InlineData("d_A")]
    public async Task Xy_EveryUnit_EqualsTheFileRowAndConverts(string unitName)
    {
        var text = await http.GetStringAsync($"{address}/api/acquisitions/ramp_00001/frames/7.xy?unit={Uri.EscapeDataString(unitName)}").DefaultTimeout();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"# {unitName}\t I", lines.Last(l => l.StartsWith('#')));
        var rows = lines.Where(l => !l.StartsWith('#')).Select(l => l.Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var expected = ResultFile.Open(Path.Combine(Output, "ramp_00001.nxs")).Matrix.Row(6).ToArray();
        var unit = RadialUnits.Parse(unitName);
        Assert.Equal(axis.Length, rows.Length);
        var ordered = unit == RadialUnit.DAngstrom ? rows.Reverse().ToArray() : rows;
        for (var i = 0; i < axis.Length; i++)
        {
            Assert.Equal(expected[i], (float)ordered[i][1]);
            Assert.Equal(RadialUnits.FromTwoTheta(axis[i], unit, SyntheticResults.WavelengthAngstrom), ordered[i][0], 9);
        }

        if (unit == RadialUnit.DAngstrom)
        {
            Assert.True(rows[0][0] < rows[^1][0], "d runs upwards in the file, as DIOPTAS writes it");
        }
    }

    [Fact]
    public async Task Image_TallEnough_OneRowPerFrameAndThePeakInItsColumn()
    {
        // Frame f has its peak at 8.0 + 0.1 f degrees: in q the hottest column must sit where that 2θ converts to.
        using var response = await http.GetAsync($"{address}/api/acquisitions/ramp_00001/image?unit=q_A%5E-1&x0=1.5&x1=2.5&w=500&h=400").DefaultTimeout();
        response.EnsureSuccessStatusCode();
        var height = int.Parse(response.Headers.GetValues("X-Image-Height").Single(), CultureInfo.InvariantCulture);
        var values = await response.Content.ReadAsByteArrayAsync().DefaultTimeout();
        Assert.Equal(12, height);
        Assert.Equal(12 * 500 * 4, values.Length);
        var row = MemoryMarshalRow(values, 500, 2);
        var hottest = Array.IndexOf(row, row.Where(float.IsFinite).Max());
        var q = RadialUnits.FromTwoTheta(8.3, RadialUnit.QPerAngstrom, SyntheticResults.WavelengthAngstrom);
        Assert.InRange(hottest, ((q - 1.5) * 500) - 1.5, ((q - 1.5) * 500) + 1.5);
        Assert.All(MemoryMarshalRow(values, 500, 4), v => Assert.True(float.IsNaN(v), "failed frame 5 has no data"));
    }

    [Fact]
    public async Task Image_BackgroundSubtracted_FlatBaseAndPeaksKept()
    {
        async Task<float[]> Row(string query)
        {
            var bytes = await http.GetByteArrayAsync($"{address}/api/acquisitions/ramp_00001/image?w=750&h=12&x0=2&x1=17{query}").DefaultTimeout();
            return MemoryMarshalRow(bytes, 750, 0);
        }

        var raw = await Row(string.Empty);
        var subtracted = await Row("&bg=true");
        // Frame 1: background 50·exp(−2θ/20) ≈ 30–45, one peak at 8.1°.
        var peak = Array.IndexOf(raw, raw.Max());
        Assert.InRange(raw[50], 30, 50);
        Assert.InRange(subtracted[50], -3, 3);
        Assert.InRange(subtracted[peak], raw[peak] - 50, raw[peak] - 25);
    }

    [Fact]
    public async Task Problems_BadInput_4xxWithProblemBodies()
    {
        await AssertProblem("/api/acquisitions/nope_00009", HttpStatusCode.NotFound, "nope_00009");
        await AssertProblem("/api/acquisitions/ramp_00001/frames/99.xy", HttpStatusCode.NotFound, "frames run from 1 to 12");
        await AssertProblem("/api/acquisitions/ramp_00001/frames/5", HttpStatusCode.NotFound, "chunk part missing");
        await AssertProblem("/api/acquisitions/ramp_00001/frames/1.xy?unit=furlong", HttpStatusCode.BadRequest, "furlong");
        await AssertProblem("/api/acquisitions/nolambda_00002/frames/1.xy?unit=d_A", HttpStatusCode.UnprocessableEntity, "/nonexistent/calibration.poni not found");
        await AssertProblem("/api/acquisitions/nolambda_00002/image?unit=q_nm%5E-1", HttpStatusCode.UnprocessableEntity, "wavelength");
        await AssertProblem("/api/acquisitions/corrupt_00003", HttpStatusCode.UnprocessableEntity, "corrupt_00003.nxs");
        await AssertProblem("/api/acquisitions/ramp_00001/phases/unobtainium", HttpStatusCode.NotFound, "CeO2");
        using var bad = await http.PostAsync($"{address}/api/acquisitions/ramp_00001/phases", new StringContent("nothing here")).DefaultTimeout();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Files_ServedAndProblems_NeverModified()
    {
        var paths = Directory.GetFiles(Output, "*.nxs");
        var before = paths.ToDictionary(p => p, p => (Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))), File.GetLastWriteTimeUtc(p)));
        foreach (var name in new[] { "ramp_00001", "nolambda_00002", "corrupt_00003" })
        {
            using var _ = await http.GetAsync($"{address}/api/acquisitions/{name}/image").DefaultTimeout();
            using var __ = await http.GetAsync($"{address}/api/acquisitions/{name}/result.csv").DefaultTimeout();
        }

        var nxs = await http.GetByteArrayAsync($"{address}/api/acquisitions/ramp_00001/result.nxs").DefaultTimeout();
        Assert.Equal(File.ReadAllBytes(Path.Combine(Output, "ramp_00001.nxs")), nxs);
        foreach (var p in paths)
        {
            Assert.Equal(before[p], (Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))), File.GetLastWriteTimeUtc(p)));
        }
    }

    [Fact]
    public async Task Csv_WholeAcquisition_HeaderInUnitAndOneRowPerFrame()
    {
        var lines = (await http.GetStringAsync($"{address}/api/acquisitions/ramp_00001/result.csv?unit=d_A").DefaultTimeout()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(13, lines.Length);
        var header = lines[0].Split(',');
        Assert.Equal("frame", header[0]);
        Assert.Equal(RadialUnits.FromTwoTheta(axis[0], RadialUnit.DAngstrom, SyntheticResults.WavelengthAngstrom), double.Parse(header[1], CultureInfo.InvariantCulture), 9);
        Assert.StartsWith("5,,", lines[5], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Phases_CeO2_LinesWhereBraggPutsThem()
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"{address}/api/acquisitions/ramp_00001/phases/CeO2?unit=2th_deg").DefaultTimeout());
        var first = doc.RootElement.GetProperty("lines")[0];
        Assert.Equal("111", first.GetProperty("hkl").GetString());
        var expected = 2 * Math.Asin(SyntheticResults.WavelengthAngstrom / (2 * 5.4116 / Math.Sqrt(3))) * 180 / Math.PI;
        Assert.Equal(expected, first.GetProperty("x").GetDouble(), 9);
    }

    [Fact]
    public async Task Raw_FrameFromItsChunkFiles_StitchedWithGapsMasked()
    {
        // Full size: nothing reduced, so every unmasked pixel is the detector's count.
        using var response = await http.GetAsync($"{address}/api/acquisitions/real_00004/frames/23/raw?w=1556&h=1833").DefaultTimeout();
        var body = await response.Content.ReadAsByteArrayAsync().DefaultTimeout();
        Assert.True(response.IsSuccessStatusCode, System.Text.Encoding.UTF8.GetString(body));
        Assert.Equal("1833", response.Headers.GetValues("X-Source-Rows").Single());
        Assert.Equal("1556", response.Headers.GetValues("X-Source-Cols").Single());
        var n = 1833 * 1556;
        var pixels = Enumerable.Range(0, n).Select(i => BitConverter.ToSingle(body, i * 4)).ToArray();
        var masked = Enumerable.Range(0, n).Select(i => BitConverter.ToSingle(body, (n + i) * 4)).ToArray();

        // Independently of the placement: the unmasked pixels hold exactly the three modules' counts of frame 2 of part 2.
        double expected = 0;
        var modulePixels = 0;
        for (var m = 1; m <= 3; m++)
        {
            using var module = Anvil.Hdf5.LambdaModuleFile.Open(Path.Combine(TestPaths.LambdaFixtures, Anvil.Pipeline.ChunkFileName.Format("testasapo1_1009_00002", m, 2)));
            var frame = new short[module.Rows * module.Cols];
            module.ReadFrame(2, frame);
            expected += frame.Sum(v => (double)v);
            modulePixels += frame.Length;
        }

        Assert.Equal(modulePixels, pixels.Count(float.IsFinite));
        Assert.Equal(n - modulePixels, masked.Count(m => m == 1));
        Assert.Equal(expected, pixels.Where(float.IsFinite).Sum(v => (double)v));
        await AssertProblem("/api/acquisitions/ramp_00001/frames/3/raw", HttpStatusCode.UnprocessableEntity, "m1.h5");
    }

    [Fact]
    public async Task Phases_JcpdsPosted_LinesInTheUnit()
    {
        const string gold = "VERSION: 4\nCOMMENT: Au from a jcpds\nSYMMETRY: CUBIC\nA: 4.0782\nDIHKL: 2.35455 100.0 1 1 1\nDIHKL: 2.03910 52.0 2 0 0\n";
        using var response = await http.PostAsync($"{address}/api/acquisitions/ramp_00001/phases?unit=q_nm%5E-1&name=au", new StringContent(gold)).DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();
        Assert.True(response.IsSuccessStatusCode, body);
        using var doc = JsonDocument.Parse(body);
        Assert.Equal("Au from a jcpds", doc.RootElement.GetProperty("name").GetString());
        var lines = doc.RootElement.GetProperty("lines").EnumerateArray().ToArray();
        Assert.Equal(2, lines.Length);
        Assert.Equal(20 * Math.PI / 2.35455, lines[0].GetProperty("x").GetDouble(), 9);
        Assert.Equal("200", lines[1].GetProperty("hkl").GetString());
    }

    [Fact]
    public async Task OpenApi_Document_ListsTheApi()
    {
        var json = await http.GetStringAsync($"{address}/openapi/v1.json").DefaultTimeout();
        using var doc = JsonDocument.Parse(json);
        var paths = doc.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/acquisitions/{acquisition}/frames/{frame}.xy", out _), json[..Math.Min(2000, json.Length)]);
        Assert.True(paths.TryGetProperty("/api/acquisitions/{acquisition}/image", out _));
    }

    [Fact]
    public async Task Page_AssetsServedByTheConsoleItself()
    {
        var html = await http.GetStringAsync($"{address}/").DefaultTimeout();
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        foreach (var asset in new[] { "console.js", "plot.js", "console.css" })
        {
            using var response = await http.GetAsync($"{address}/assets/{asset}").DefaultTimeout();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var text = await response.Content.ReadAsStringAsync().DefaultTimeout();
            Assert.DoesNotContain("https://", text, StringComparison.Ordinal);
        }
    }

    private static float[] MemoryMarshalRow(byte[] bytes, int width, int row) =>
        Enumerable.Range(0, width).Select(c => BitConverter.ToSingle(bytes, ((row * width) + c) * 4)).ToArray();

    private async Task AssertProblem(string path, HttpStatusCode status, string mentions)
    {
        using var response = await http.GetAsync(address + path).DefaultTimeout();
        var body = await response.Content.ReadAsStringAsync().DefaultTimeout();
        Assert.True(status == response.StatusCode, $"{path}: {response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(body);
        Assert.Contains(mentions, doc.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal((int)status, doc.RootElement.GetProperty("status").GetInt32());
    }
}
