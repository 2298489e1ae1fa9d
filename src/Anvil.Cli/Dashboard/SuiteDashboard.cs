using System.Diagnostics;
using System.Text.Json.Serialization;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Anvil.Cli.Dashboard;

/// <summary>
/// The operator's web page for a running suite (`anvil up`): each service's health, process load (CPU, memory),
/// restarts after crashes and log tail; the workers' progress; the settings in force; the newest results.
/// Plain HTTP/1.1 on 127.0.0.1, separate from the h2c gRPC endpoints; the page polls <c>/api/status</c>.
/// </summary>
public sealed class SuiteDashboard : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly Suite suite;
    private readonly string resultsDir;
    private readonly Dictionary<string, GrpcChannel> channels = new(StringComparer.Ordinal);
    private readonly Dictionary<int, (DateTime At, TimeSpan Cpu)> lastCpu = [];
    private readonly Lock gate = new();

    private SuiteDashboard(WebApplication app, Suite suite, string resultsDir)
    {
        this.app = app;
        this.suite = suite;
        this.resultsDir = resultsDir;
    }

    /// <summary>The page's address, e.g. http://127.0.0.1:5180/.</summary>
    public string Address { get; private set; } = string.Empty;

    /// <summary>Serves the dashboard on 127.0.0.1:<paramref name="port"/> (0 = a free port).</summary>
    public static async Task<SuiteDashboard> StartAsync(Suite suite, string resultsDir, int port, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, port));
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, DashboardJson.Default));
        var app = builder.Build();
        var dashboard = new SuiteDashboard(app, suite, resultsDir);
        app.MapGet("/", () => Results.Content(DashboardPage.Html, "text/html; charset=utf-8"));
        app.MapGet("/api/status", async (CancellationToken ct) => Results.Json(await dashboard.StatusAsync(ct), DashboardJson.Default.SuiteStatus));
        app.MapGet("/api/logs/{name}", (string name, int? lines) => dashboard.Logs(name, lines ?? 200));
        await app.StartAsync(cancellationToken);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        dashboard.Address = addresses.First().Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/";
        return dashboard;
    }

    /// <summary>Everything the page shows, gathered now.</summary>
    public async Task<SuiteStatus> StatusAsync(CancellationToken cancellationToken)
    {
        var services = await Task.WhenAll(suite.Services.Select(s => ServiceAsync(s, cancellationToken)));
        var ingest = Channel(suite.IngestAddress);
        string settings;
        try
        {
            var spec = await new Control.ControlClient(ingest).GetSettingsAsync(new GetSettingsRequest(), deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);
            settings = Google.Protobuf.JsonFormatter.Default.Format(spec);
        }
        catch (RpcException ex)
        {
            settings = $"(ingest did not answer: {ex.Status.Detail})";
        }

        var results = Directory.Exists(resultsDir)
            ? new DirectoryInfo(resultsDir).EnumerateFiles("*.nxs").OrderByDescending(f => f.LastWriteTimeUtc).Take(20)
                .Select(f => new ResultFile(f.Name, f.Length, f.LastWriteTimeUtc)).ToArray()
            : [];
        return new SuiteStatus(DateTime.UtcNow, services, settings, results);
    }

    /// <summary>The last lines of a service's log.</summary>
    public IResult Logs(string name, int lines)
    {
        var service = suite.Services.FirstOrDefault(s => s.Name == name);
        return service is null
            ? Results.NotFound($"no service '{name}'; the suite runs {string.Join(", ", suite.Services.Select(s => s.Name))}")
            : Results.Text(Suite.Tail(service, Math.Clamp(lines, 1, 5000)), "text/plain; charset=utf-8");
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        foreach (var channel in channels.Values)
        {
            channel.Dispose();
        }
    }

    private async Task<ServiceStatus> ServiceAsync(ServiceProcess service, CancellationToken cancellationToken)
    {
        var channel = Channel(service.Address);
        var state = "down";
        WorkerStatusReply? worker = null;
        var deadline = DateTime.UtcNow.AddSeconds(2);
        try
        {
            var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: deadline, cancellationToken: cancellationToken);
            state = health.Status.ToString().ToLowerInvariant();
            if (service.Name is not ("broker" or "ingest"))
            {
                worker = await new WorkerStatus.WorkerStatusClient(channel).GetStatusAsync(new WorkerStatusRequest(), deadline: deadline, cancellationToken: cancellationToken);
            }
        }
        catch (RpcException)
        {
            // Down or restarting: shown as such.
        }

        var (cpuPercent, cpuSeconds, rssMb, pid) = Load(service.Process);
        return new ServiceStatus(service.Name, service.Address[7..], pid, state, service.Restarts, service.LastExitCode,
            (DateTime.UtcNow - service.StartedUtc).TotalSeconds, cpuSeconds, cpuPercent, rssMb,
            worker is null ? null : (long)worker.Handled, worker is null ? null : (int)worker.ActiveAcquisitions);
    }

    private (double? CpuPercent, double? CpuSeconds, double? RssMb, int? Pid) Load(Process process)
    {
        try
        {
            if (process.HasExited)
            {
                return (null, null, null, null);
            }

            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var now = DateTime.UtcNow;
            double? percent = null;
            lock (gate)
            {
                if (lastCpu.TryGetValue(process.Id, out var last) && now > last.At)
                {
                    percent = 100 * (cpu - last.Cpu).TotalSeconds / (now - last.At).TotalSeconds;
                }

                lastCpu[process.Id] = (now, cpu);
            }

            return (percent, cpu.TotalSeconds, process.WorkingSet64 / 1048576.0, process.Id);
        }
        catch (InvalidOperationException)
        {
            return (null, null, null, null);
        }
    }

    private GrpcChannel Channel(string address)
    {
        lock (gate)
        {
            return channels.TryGetValue(address, out var channel) ? channel : channels[address] = GrpcChannel.ForAddress(address);
        }
    }
}

/// <summary>What <c>/api/status</c> returns.</summary>
public sealed record SuiteStatus(DateTime Time, IReadOnlyList<ServiceStatus> Services, string Settings, IReadOnlyList<ResultFile> Results);

/// <summary>One service: health, load, crashes, progress.</summary>
public sealed record ServiceStatus(string Name, string Address, int? Pid, string State, int Restarts, int? LastExitCode, double UptimeSeconds,
    double? CpuSeconds, double? CpuPercent, double? MemoryMb, long? Handled, int? ActiveAcquisitions);

/// <summary>A finished result file.</summary>
public sealed record ResultFile(string Name, long Bytes, DateTime ModifiedUtc);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SuiteStatus))]
internal sealed partial class DashboardJson : JsonSerializerContext;
