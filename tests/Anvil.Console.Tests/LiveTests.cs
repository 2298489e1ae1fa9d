using System.Diagnostics;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Xunit.Abstractions;

namespace Anvil.Console.Tests;

/// <summary>
/// A live acquisition: profiles published to a real broker (in this process, port 0) as integrate publishes them,
/// the console following the stream by id, the page's heatmap growing a row per frame.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class LiveTests(BrowserFixture browser, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Acquisition = "live_00001";
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-console-live-");
    private readonly double[] axis = SyntheticResults.Axis(1500);
    private WebApplication? brokerApp;
    private WebApplication? consoleApp;
    private BrokerClient? broker;
    private string address = string.Empty;

    public async Task InitializeAsync()
    {
        string brokerAddress;
        (brokerApp, brokerAddress) = await Hosts.StartBrokerAsync(work.FullName);
        broker = BrokerClient.Connect(brokerAddress, BrokerClientOptions.Default with { RetryFor = TimeSpan.FromSeconds(5) });
        (consoleApp, address) = await Hosts.StartConsoleAsync(Directory.CreateDirectory(Path.Combine(work.FullName, "out")).FullName, work.FullName, brokerAddress);
    }

    public async Task DisposeAsync()
    {
        broker?.Dispose();
        foreach (var app in new[] { consoleApp, brokerApp })
        {
            if (app is not null)
            {
                await app.StopAsync().DefaultTimeout();
                await app.DisposeAsync();
            }
        }

        work.Delete(recursive: true);
    }

    [Fact]
    public async Task Heatmap_LiveRun_GrowsARowPerFrameWithinASecond()
    {
        const int frames = 30;
        var page = await browser.NewPageAsync();
        await page.GotoAsync($"{address}/?acquisition={Acquisition}").DefaultTimeout();
        await SendAsync("frames", 1, ByteString.CopyFromUtf8("{}"));
        var latencies = new List<double>();
        for (var frame = 1; frame <= frames; frame++)
        {
            var published = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await SendAsync("profiles", (ulong)frame, Profile(frame).ToByteString());
            var clock = Stopwatch.StartNew();
            await TaskTimeoutExtensions.UntilAsync($"frame {frame} on screen", async () =>
                await page.EvaluateAsync<int>("window.anvil.lastRender && window.anvil.image ? window.anvil.image.frames : 0") >= frame, TimeSpan.FromSeconds(10));
            var shownAt = await page.EvaluateAsync<double>("window.anvil.lastRender.at").DefaultTimeout();
            latencies.Add(shownAt - published);
            Assert.Equal(frame, await page.EvaluateAsync<int>("window.anvil.image.h").DefaultTimeout());
            if (frame == frames / 2)
            {
                await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.Artifacts, "live-halfway.png") }).DefaultTimeout();
            }
        }

        latencies.Sort();
        output.WriteLine($"published → row on screen: median {latencies[frames / 2]:0} ms, max {latencies[^1]:0} ms over {frames} frames");
        await File.WriteAllTextAsync(Path.Combine(BrowserFixture.Artifacts, "live-latency.txt"),
            $"published -> row on screen: median {latencies[frames / 2]:0} ms, max {latencies[^1]:0} ms over {frames} frames\n").DefaultTimeout();
        // Within a second, row by row; one outlier on a loaded 2-core machine (a GC pause, a test beside it) may take up to 2 s.
        Assert.True(latencies[^2] <= 1000, $"second-slowest row took {latencies[^2]:0} ms");
        Assert.True(latencies[^1] <= 2000, $"slowest row took {latencies[^1]:0} ms");
        Assert.Contains("running", await page.Locator("#acquisitions tbody tr.selected").InnerTextAsync().DefaultTimeout(), StringComparison.Ordinal);

        // A failed frame is listed with its reason; stitch finishing the frames stream makes the expected count final.
        await SendAsync("profiles", frames + 1, new Profile { Acquisition = Acquisition, Frame = frames + 1, Error = "chunk part 3 unreadable" }.ToByteString());
        for (var id = 2UL; id <= frames + 1; id++)
        {
            await SendAsync("frames", id, ByteString.CopyFromUtf8("{}"));
        }

        await broker!.FinishStreamAsync(broker.Address("frames", Acquisition), frames + 1).DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("failed frame listed", async () =>
            (await page.Locator("#failed").InnerTextAsync()).Contains("frame 31: chunk part 3 unreadable", StringComparison.Ordinal));
        await TaskTimeoutExtensions.UntilAsync("expected frames known", async () =>
            (await page.Locator("#acquisitions tbody tr.selected").InnerTextAsync()).Contains($"{frames} / {frames + 1}", StringComparison.Ordinal));
        await page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.Artifacts, "live-done.png") }).DefaultTimeout();

        // Integrate finishes; merge renames its file into place: the page switches to the file, the live rows go.
        await broker.FinishStreamAsync(broker.Address("profiles", Acquisition), frames + 1).DefaultTimeout();
        await TaskTimeoutExtensions.UntilAsync("merging", async () =>
            (await page.Locator("#acquisitions tbody tr.selected").InnerTextAsync()).Contains("merging", StringComparison.Ordinal));
        SyntheticResults.Write(Path.Combine(work.FullName, "out"), Acquisition, frames + 1, axis, f => Profile(f).TwoTheta.Intensity.ToArray(), failed: new HashSet<int> { frames + 1 });
        await TaskTimeoutExtensions.UntilAsync("finished from the file", async () =>
            await page.EvaluateAsync<string>("window.anvil.detail ? window.anvil.detail.source : ''") == "file");
        await TaskTimeoutExtensions.UntilAsync("listed as finished", async () =>
            (await page.Locator("#acquisitions tbody tr.selected").InnerTextAsync()).Contains("finished", StringComparison.Ordinal));
        Assert.Equal(frames + 1, await page.EvaluateAsync<int>("window.anvil.detail.frames").DefaultTimeout());
    }

    private Profile Profile(int frame)
    {
        var curve = new Curve { Unit = "2th_deg" };
        curve.Radial.AddRange(axis);
        curve.Intensity.AddRange(SyntheticResults.Profile(axis, [6 + (0.1 * frame), 11 - (0.05 * frame)]));
        return new Profile
        {
            Acquisition = Acquisition,
            Frame = (ulong)frame,
            SettingsHash = "h1",
            SettingsJson = $$"""{"poni":"{{SyntheticResults.Poni}}","npt":{{axis.Length}}}""",
            TwoTheta = curve,
        };
    }

    private async Task SendAsync(string dataSource, ulong id, ByteString payload) =>
        await broker!.SendAsync(new SendRequest
        {
            Address = broker.Address(dataSource, Acquisition),
            Id = id,
            Name = $"{Acquisition}/{id}",
            PayloadKind = PayloadKind.Inline,
            Payload = payload,
        }).DefaultTimeout();
}
