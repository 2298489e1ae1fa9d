using Anvil.Cli;
using Anvil.EndToEnd.Tests.Otlp;
using Anvil.Pipeline;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// Issue 5 with the services as separate processes: they export over OTLP/HTTP to the suite's <see cref="OtlpReceiver"/>,
/// which decodes the protobuf itself. One replay of the 50 real frames (module 2 of part 1 truncated, so frames 11–20
/// fail) feeds every test here.
/// </summary>
[Collection(SuiteCollection.Name)]
public sealed class TelemetryTests(SuiteFixture suite)
{
    /// <summary>The acquisition the replay writes (the real data under another scan name).</summary>
    public const string Acquisition = "traced_1009_00004";
    private static readonly Lock Gate = new();
    private static Task? replay;

    [Fact]
    public async Task Replay_EachFrame_OneTraceThroughAllFiveServicesInParentChildOrder()
    {
        await ReplayOnceAsync();
        var frames = Enumerable.Range(1, 50).ToArray();
        Dictionary<int, List<ReceivedSpan>> chains = [];
        await TaskTimeoutExtensions.Until("every frame's spans exported from merge back to ingest", () =>
        {
            chains = frames.ToDictionary(f => f, f => Chain(f, out _));
            return chains.Values.All(c => c.Count == 7) && frames.All(f => BrokerSpansComplete(chains[f]));
        }, TimeSpan.FromSeconds(60)).ContinueWith(t => t.Exception is null ? Task.CompletedTask : throw new Xunit.Sdk.XunitException(
            $"{t.Exception.InnerException!.Message}\n{string.Join('\n', frames.Select(f => { Chain(f, out var why); return $"frame {f}: {why}"; }).Where(l => !l.EndsWith(": ok", StringComparison.Ordinal)).Take(5))}")).Unwrap();

        var spans = suite.Otlp.Spans.ToArray();
        foreach (var frame in frames)
        {
            var chain = chains[frame];
            Assert.Single(chain.Select(s => s.TraceId).Distinct());
            var services = chain.Concat(BrokerSpans(chain)).Select(s => s.Service.StartsWith("anvil-integrate", StringComparison.Ordinal) ? "anvil-integrate" : s.Service).ToHashSet();
            Assert.Equal(["anvil-broker", "anvil-ingest", "anvil-integrate", "anvil-merge", "anvil-stitch"], services.Order());

            // The frame's identity on every stage's span, the settings hash where a profile exists.
            Assert.All(chain.Where(s => s[PipelineTelemetry.Frame] is not null), s => Assert.Equal(frame.ToString(System.Globalization.CultureInfo.InvariantCulture), s[PipelineTelemetry.Frame]));
            Assert.Equal(3, chain.Count(s => s[PipelineTelemetry.Frame] is not null));
            Assert.All(chain.Where(s => s.Kind != Span.Types.SpanKind.Producer), s => Assert.Equal(Acquisition, s[PipelineTelemetry.Acquisition]));
            Assert.Equal("1", chain[6][PipelineTelemetry.Module]);
            Assert.Equal(((frame - 1) / 10).ToString(System.Globalization.CultureInfo.InvariantCulture), chain[6][PipelineTelemetry.ChunkPart]);

            // Fan-in: the chunk's other two modules were announced in traces of their own; stitch's receive links them.
            var stitchReceive = chain[4];
            Assert.Equal(2, stitchReceive.Links.Count);
            Assert.All(stitchReceive.Links, link => Assert.Contains(spans, s => s.SpanId == link.SpanId && s.Service == "anvil-ingest" && s.Kind == Span.Types.SpanKind.Producer));

            var failed = frame is >= 11 and <= 20;
            Assert.Equal(failed, chain[0].Error);
            Assert.Equal(failed, chain[2].Error);
            Assert.Equal(failed, chain[3].Error);
            Assert.Equal(failed, chain[4].Error);
            Assert.Equal(!failed, chain[0][PipelineTelemetry.SettingsHash] is { Length: > 0 });
        }
    }

    [Fact]
    public async Task Replay_CorruptChunk_ErrorLogCarriesTheTraceAndSpanOfStitchsReceive()
    {
        await ReplayOnceAsync();
        ReceivedLog? log = null;
        await TaskTimeoutExtensions.Until("stitch's error log for the corrupt chunk", () =>
        {
            log = suite.Otlp.Logs.FirstOrDefault(l => l.Service == "anvil-stitch" && l.Body.Contains("fails its frames", StringComparison.Ordinal) && l.TraceId.Length > 0 &&
                suite.Otlp.Spans.Any(s => s.SpanId == l.SpanId && s[PipelineTelemetry.Acquisition] == Acquisition));
            return log is not null;
        }, TimeSpan.FromSeconds(60));

        var span = suite.Otlp.Spans.First(s => s.SpanId == log!.SpanId);
        Assert.Equal(span.TraceId, log!.TraceId);
        Assert.Equal("anvil-stitch", span.Service);
        Assert.Equal(Span.Types.SpanKind.Consumer, span.Kind);
        Assert.True(span.Error);
        Assert.Equal("1", span[PipelineTelemetry.ChunkPart]);
        Assert.Equal("ERROR", log.Severity.ToUpperInvariant());
    }

    [Fact]
    public async Task Replay_Metrics_ExportedOverOtlpAndScrapableAsPrometheusText()
    {
        await ReplayOnceAsync();
        string[] expected =
        [
            "anvil-ingest anvil.stage.received", "anvil-stitch anvil.stage.frames", "anvil-stitch anvil.stage.duration",
            "anvil-integrate anvil.stage.frames", "anvil-integrate anvil.stage.frame_rate", "anvil-integrate anvil.stage.errors",
            "anvil-merge anvil.stage.frames", "anvil-broker anvil.broker.backlog", "anvil-broker anvil.broker.messages.delivered",
        ];
        // Either integrate replica may have taken the failed frames: their metrics count under one name here.
        string[] Missing()
        {
            var got = suite.Otlp.Metrics.Select(m => $"{m.Service.Replace("anvil-integrate-2", "anvil-integrate", StringComparison.Ordinal)} {m.Metric}").ToHashSet();
            return [.. expected.Where(e => !got.Contains(e))];
        }

        try
        {
            await TaskTimeoutExtensions.Until("the chain's metrics over OTLP", () => Missing().Length == 0, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException ex)
        {
            throw new Xunit.Sdk.XunitException($"{ex.Message} Missing: {string.Join(", ", Missing())}");
        }

        // Prometheus text on each service's own HTTP/1.1 port (the gRPC port is HTTP/2-only).
        using var http = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version11, Timeout = TimeSpan.FromSeconds(20) };
        foreach (var service in suite.Suite.Services)
        {
            Assert.NotNull(service.MetricsUrl);
            using var reply = await http.GetAsync(service.MetricsUrl).DefaultTimeout();
            Assert.Equal(System.Net.HttpStatusCode.OK, reply.StatusCode);
            Assert.StartsWith("text/plain", reply.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            var text = await reply.Content.ReadAsStringAsync().DefaultTimeout();
            Assert.Contains("# TYPE", text, StringComparison.Ordinal);
            switch (service.Name)
            {
                case "broker":
                    Assert.Contains("anvil_broker_backlog{", text, StringComparison.Ordinal);
                    Assert.Contains("anvil_broker_messages_delivered", text, StringComparison.Ordinal);
                    break;
                case "merge":
                    Assert.Contains("anvil_stage_frames", text, StringComparison.Ordinal);
                    Assert.Contains("stage=\"merge\"", text, StringComparison.Ordinal);
                    break;
                case "stitch":
                    Assert.Contains("anvil_stage_duration_seconds_bucket", text, StringComparison.Ordinal);
                    break;
            }
        }
    }

    // From merge's receive span for the frame up its parents: merge receive ← integrate publish ← integrate receive ←
    // stitch frame ← stitch receive ← ingest publish ← ingest chunk. Returns what it found so far.
    private List<ReceivedSpan> Chain(int frame, out string why)
    {
        var spans = suite.Otlp.Spans.ToArray();
        var byId = spans.GroupBy(s => s.SpanId).ToDictionary(g => g.Key, g => g.First());
        var f = frame.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var chain = new List<ReceivedSpan>();
        var merge = spans.FirstOrDefault(s => s.Service == "anvil-merge" && s.Kind == Span.Types.SpanKind.Consumer && s[PipelineTelemetry.Acquisition] == Acquisition && s[PipelineTelemetry.Frame] == f);
        (string Service, Span.Types.SpanKind Kind, string? Source)[] steps =
        [
            ("anvil-merge", Span.Types.SpanKind.Consumer, PipelineStreams.Profiles),
            ("anvil-integrate", Span.Types.SpanKind.Producer, PipelineStreams.Profiles),
            ("anvil-integrate", Span.Types.SpanKind.Consumer, PipelineStreams.Frames),
            ("anvil-stitch", Span.Types.SpanKind.Internal, null),
            ("anvil-stitch", Span.Types.SpanKind.Consumer, PipelineStreams.Raw),
            ("anvil-ingest", Span.Types.SpanKind.Producer, PipelineStreams.Raw),
            ("anvil-ingest", Span.Types.SpanKind.Internal, null),
        ];
        var current = merge;
        foreach (var step in steps)
        {
            if (current is null)
            {
                why = $"no {step.Kind} span of {step.Service} ({step.Source}) after {chain.Count} steps";
                return chain;
            }

            if (!current.Service.StartsWith(step.Service, StringComparison.Ordinal) || current.Kind != step.Kind ||
                (step.Source is not null && current["anvil.data_source"] != step.Source))
            {
                why = $"step {chain.Count}: expected {step.Kind} of {step.Service} ({step.Source}), found {current.Kind} '{current.Name}' of {current.Service}";
                return chain;
            }

            chain.Add(current);
            current = byId.GetValueOrDefault(current.ParentSpanId);
        }

        why = "ok";
        return chain;
    }

    // The broker stored and delivered each of the frame's three messages: store and deliver spans, children of the
    // context the message carried (ingest's publish, stitch's frame span, integrate's publish).
    private IEnumerable<ReceivedSpan> BrokerSpans(List<ReceivedSpan> chain)
    {
        var carriers = new[] { chain[1].SpanId, chain[3].SpanId, chain[5].SpanId };
        return suite.Otlp.Spans.Where(s => s.Service == "anvil-broker" && carriers.Contains(s.ParentSpanId));
    }

    private bool BrokerSpansComplete(List<ReceivedSpan> chain)
    {
        if (chain.Count != 7)
        {
            return false;
        }

        var broker = BrokerSpans(chain).ToArray();
        return new[] { (chain[1], "merge"), (chain[3], "integrate"), (chain[5], "stitch") }.All(c =>
            broker.Any(s => s.ParentSpanId == c.Item1.SpanId && s.Name.EndsWith(" store", StringComparison.Ordinal) && s.TraceId == c.Item1.TraceId) &&
            broker.Any(s => s.ParentSpanId == c.Item1.SpanId && s.Name.EndsWith(" deliver", StringComparison.Ordinal) && s["messaging.consumer.group.name"] == c.Item2));
    }

    /// <summary>Replays <see cref="Acquisition"/> once per test run and waits for its result.</summary>
    internal static Task ReplayOnceAsync(SuiteFixture suite)
    {
        lock (Gate)
        {
            return replay ??= RunReplayAsync(suite);
        }
    }

    private Task ReplayOnceAsync() => ReplayOnceAsync(suite);

    private static async Task RunReplayAsync(SuiteFixture suite)
    {
        var folder = Path.Combine(suite.DataRoot, "traced");
        RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, Acquisition);

        var victim = Path.Combine(folder, ChunkFileName.Format(Acquisition, 2, 1));
        var bytes = await File.ReadAllBytesAsync(victim).DefaultTimeout();
        await File.WriteAllBytesAsync(victim, bytes[..(bytes.Length / 2)]).DefaultTimeout();
        await AcquisitionDriver.ReplayAsync(suite.Ingest, folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
        await suite.WaitForResultAsync(Acquisition);
    }
}
