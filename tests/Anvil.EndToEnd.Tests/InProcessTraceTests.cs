using System.Diagnostics;
using Anvil.Broker.Service.Extensions;
using Anvil.Cli;
using Anvil.Pipeline;
using Anvil.Testing;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Trace;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// The five services hosted in this test process, each composed exactly as its Program.cs composes it, on 127.0.0.1
/// port 0, with OpenTelemetry's in-memory exporter: every frame of a replay is one trace through all five in
/// parent/child order. ActivitySources are process-wide, so one host's exporter sees every host's spans; each span is
/// attributed to its service by what it is (the broker's own source; a stage's receive span carries the stage; a
/// publish span belongs to the stage that writes its data source).
/// </summary>
// In the suite's collection: it runs one test at a time after the suite's processes hold their ports, so its port-0
// hosts cannot take a port the suite picked but had not bound yet, and its always-on providers (listening
// process-wide) never run beside SamplingTests' ratio-0 sampler.
[Collection(SuiteCollection.Name)]
public sealed class InProcessTraceTests : IAsyncLifetime
{
    private const string Acquisition = "inproc_1009_00007";
    private readonly string work = Path.Combine(Path.GetTempPath(), "anvil-inproc-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly LockedCollection spans = new();
    private readonly List<WebApplication> apps = [];
    private string ingestAddress = string.Empty;

    private string DataRoot => Path.Combine(work, "data");

    private string OutputDir => Path.Combine(work, "out");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(DataRoot);
        var broker = await StartAsync("broker", new()
        {
            ["Broker:DataDir"] = Path.Combine(work, "broker"),
            ["Broker:DataRoot"] = DataRoot,
            ["Broker:Auth:Enabled"] = "false",
        }, b => b.AddBrokerServices(), app =>
        {
            app.MapGrpcService<Anvil.Broker.Service.Grpc.ProducerService>();
            app.MapGrpcService<Anvil.Broker.Service.Grpc.ConsumerService>();
        }, exportTo: spans);
        var pipeline = new Dictionary<string, string?>
        {
            ["Pipeline:Broker"] = broker,
            ["Pipeline:DataRoot"] = DataRoot,
            ["Pipeline:OutputDir"] = OutputDir,
            ["Pipeline:Poni"] = Path.Combine(TestPaths.LambdaFixtures, "L2.poni"),
            ["Pipeline:Npt"] = "1000",
            ["Pipeline:ChunkReadableTimeout"] = "00:00:05",
            ["Pipeline:ResendDelay"] = "00:00:05",
        };
        ingestAddress = await StartAsync("ingest", pipeline, b => b.AddIngestServices(), app =>
        {
            app.MapGrpcService<Anvil.Ingest.Service.Grpc.IngestService>();
            app.MapGrpcService<Anvil.Ingest.Service.Grpc.ControlService>();
        });
        await StartAsync("stitch", pipeline, b => b.AddStitchServices(), app => app.MapGrpcService<Anvil.Workers.WorkerStatusService>());
        await StartAsync("integrate", pipeline, b => b.AddIntegrateServices(), app => app.MapGrpcService<Anvil.Workers.WorkerStatusService>());
        await StartAsync("merge", pipeline, b => b.AddMergeServices(), app => app.MapGrpcService<Anvil.Workers.WorkerStatusService>());
    }

    public async Task DisposeAsync()
    {
        foreach (var app in Enumerable.Reverse(apps))
        {
            await app.StopAsync().DefaultTimeout();
            await app.DisposeAsync();
        }

        Directory.Delete(work, recursive: true);
    }

    [Fact]
    public async Task Replay_InMemoryExporter_EachFrameOneTraceThroughAllFiveServicesInParentChildOrder()
    {
        var folder = Path.Combine(DataRoot, "inproc");
        RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, Acquisition);

        using var channel = GrpcChannel.ForAddress(ingestAddress);
        await AcquisitionDriver.ReplayAsync(new Anvil.Pipeline.V1.Ingest.IngestClient(channel), folder, TextWriter.Null, CancellationToken.None).DefaultTimeout();
        await TaskTimeoutExtensions.Until("the result file", () => File.Exists(Path.Combine(OutputDir, Acquisition + ".nxs")), TimeSpan.FromMinutes(2));

        string[] expected = ["merge receive", "integrate publish", "integrate receive", "stitch frame", "stitch receive", "ingest publish", "ingest chunk"];
        var chains = new Dictionary<int, List<Activity>>();
        try
        {
            await TaskTimeoutExtensions.Until("every frame's chain of spans", () =>
            {
                var all = spans.Snapshot();
                chains = Enumerable.Range(1, 50).ToDictionary(f => f, f => Chain(all, f));
                return chains.Values.All(c => c.Count == expected.Length);
            }, TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException ex)
        {
            var incomplete = chains.Where(c => c.Value.Count != expected.Length).Take(3)
                .Select(c => $"frame {c.Key}: {string.Join(" <- ", c.Value.Select(s => $"{Role(s)} [{s.Source.Name} {s.DisplayName}]"))}");
            var roles = spans.Snapshot().GroupBy(s => $"{Role(s)} [{s.Source.Name} {s.DisplayName.Split(' ').Last()}]").Select(g => $"{g.Key}: {g.Count()}");
            throw new Xunit.Sdk.XunitException($"{ex.Message}\n{string.Join('\n', incomplete)}\nspans seen: {string.Join(", ", roles)}");
        }

        var snapshot = spans.Snapshot();
        foreach (var (frame, chain) in chains)
        {
            Assert.Equal(expected, chain.Select(Role));
            Assert.Single(chain.Select(s => s.TraceId).Distinct());
            for (var i = 0; i + 1 < chain.Count; i++)
            {
                Assert.Equal(chain[i + 1].SpanId, chain[i].ParentSpanId);
            }

            // The broker stored and delivered each of the frame's messages inside the same trace.
            var brokerSpans = snapshot.Where(s => s.Source.Name == "Anvil.Broker" && s.TraceId == chain[0].TraceId).ToArray();
            Assert.Contains(brokerSpans, s => s.ParentSpanId == chain[1].SpanId);
            Assert.Contains(brokerSpans, s => s.ParentSpanId == chain[5].SpanId);
            var services = chain.Select(Service).Concat(brokerSpans.Select(Service)).ToHashSet();
            Assert.Equal(["broker", "ingest", "integrate", "merge", "stitch"], services.Order());
            Assert.Equal(frame.ToString(System.Globalization.CultureInfo.InvariantCulture), chain[0].GetTagItem(PipelineTelemetry.Frame)?.ToString());
        }
    }

    // Walks from merge's receive of the frame's profile up through its parents to ingest.
    private static List<Activity> Chain(Activity[] all, int frame)
    {
        var byId = all.GroupBy(s => s.SpanId).ToDictionary(g => g.Key, g => g.First());
        var f = frame.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var chain = new List<Activity>();
        var current = all.FirstOrDefault(s => Role(s) == "merge receive" && s.GetTagItem(PipelineTelemetry.Acquisition)?.ToString() == Acquisition
            && s.GetTagItem(PipelineTelemetry.Frame)?.ToString() == f);
        // Up to ingest's handling of the announcement (its own parent is the incoming AnnounceChunk call's server span).
        while (current is not null && current.Source.Name is not ("Anvil.Broker" or "Microsoft.AspNetCore") && chain.Count < 10)
        {
            chain.Add(current);
            current = byId.GetValueOrDefault(current.ParentSpanId);
        }

        return chain;
    }

    private static string Role(Activity span) => $"{Service(span)} {span.Kind switch
    {
        ActivityKind.Producer when span.Source.Name == "Anvil.Broker.Client" => "publish",
        ActivityKind.Consumer when span.Source.Name == "Anvil.Broker.Client" => "receive",
        _ => span.DisplayName.Split(' ').Last(),
    }}";

    private static string Service(Activity span)
    {
        if (span.Source.Name == "Anvil.Broker")
        {
            return "broker";
        }

        if (span.GetTagItem(PipelineTelemetry.Stage) is string stage)
        {
            return stage;
        }

        // A publish belongs to the stage that writes that data source.
        return span.GetTagItem("anvil.data_source") switch
        {
            PipelineStreams.Raw => "ingest",
            PipelineStreams.Frames => "stitch",
            PipelineStreams.Profiles => "integrate",
            _ => span.DisplayName.Split(' ')[0],
        };
    }

    private async Task<string> StartAsync(string name, Dictionary<string, string?> settings, Action<WebApplicationBuilder> add, Action<WebApplication> map,
        ICollection<Activity>? exportTo = null)
    {
        var root = Directory.CreateDirectory(Path.Combine(work, "hosts", name)).FullName;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = "anvil-" + name, ContentRootPath = root });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings)
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Grpc:Protocols"] = "Http2",
            ["OTEL_SERVICE_NAME"] = "anvil-" + name,
        });
        builder.AddServiceDefaults();
        add(builder);
        if (exportTo is not null)
        {
            builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(exportTo));
        }

        var app = builder.Build();
        app.MapDefaultEndpoints();
        map(app);
        await app.StartAsync().DefaultTimeout();
        apps.Add(app);
        if (app.Services.GetService<Anvil.Broker.Core.MessageBroker>() is { } broker)
        {
            // The broker replays its data directory in the background (docs/broker.md §7); the chain starts once it has.
            await broker.Recovery.DefaultTimeout();
        }

        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
    }

    // The exporter adds from its processor's thread; the test reads snapshots.
    private sealed class LockedCollection : ICollection<Activity>
    {
        private readonly List<Activity> items = [];

        public int Count
        {
            get
            {
                lock (items)
                {
                    return items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public Activity[] Snapshot()
        {
            lock (items)
            {
                return [.. items];
            }
        }

        public void Add(Activity item)
        {
            lock (items)
            {
                items.Add(item);
            }
        }

        public void Clear()
        {
            lock (items)
            {
                items.Clear();
            }
        }

        public bool Contains(Activity item) => Snapshot().Contains(item);

        public void CopyTo(Activity[] array, int arrayIndex) => Snapshot().CopyTo(array, arrayIndex);

        public bool Remove(Activity item)
        {
            lock (items)
            {
                return items.Remove(item);
            }
        }

        public IEnumerator<Activity> GetEnumerator() => ((IEnumerable<Activity>)Snapshot()).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
