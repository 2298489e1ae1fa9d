using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Anvil.Cli.Supervision;

/// <summary>
/// What only `anvil up`'s supervisor knows, as JSON for the results console's Status tab: each service process (pid,
/// running, when it started, restarts, last exit code and when) and its log. Health, CPU and memory are not here: the
/// console asks every service for those itself (grpc.health.v1, anvil.pipeline.v1.ProcessStatus), which works without
/// a supervisor too. Plain HTTP/1.1 on 127.0.0.1; <c>/</c> sends a browser to the console's Status tab.
/// </summary>
public sealed class SupervisorApi : IAsyncDisposable
{
    private readonly WebApplication app;

    private SupervisorApi(WebApplication app)
    {
        this.app = app;
    }

    /// <summary>The API's address, e.g. http://127.0.0.1:5180/.</summary>
    public string Address { get; private set; } = string.Empty;

    /// <summary>Serves the API on 127.0.0.1:<paramref name="port"/> (0 = a free port).</summary>
    public static async Task<SupervisorApi> StartAsync(Suite suite, int port, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();

        // Nothing from appsettings.json or ASPNETCORE_* variables: a service's Kestrel endpoints there (the console's
        // appsettings.json lands beside the CLI) would be bound too.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, port));
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, SupervisorJson.Default));
        builder.Services.AddProblemDetails();
        var app = builder.Build();
        var api = new SupervisorApi(app);
        app.MapGet("/", () => suite.ConsoleUrl is { } console
            ? Results.Redirect(console + "?tab=status")
            : Results.Text("anvil up's supervisor: GET /api/status (every service process), GET /api/logs/<service>?lines=N (its log). The results console's Status tab shows both.\n"));
        app.MapGet("/api/status", () => Results.Json(Status(suite), SupervisorJson.Default.SupervisorStatus));
        app.MapGet("/api/logs/{name}", (string name, int? lines) => Logs(suite, name, lines ?? 200));
        await app.StartAsync(cancellationToken);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        api.Address = addresses.First().Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/";
        return api;
    }

    /// <summary>Every service process of the suite, now.</summary>
    public static SupervisorStatus Status(Suite suite) => new(DateTime.UtcNow, suite.Services.Select(Process).ToArray());

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    // A process that has died and is not restarted yet reports its own exit; a restarted one its predecessor's.
    private static SupervisedProcess Process(ServiceProcess service)
    {
        int? pid = null;
        var running = false;
        var (exitCode, exitUtc) = (service.LastExitCode, service.LastExitUtc);
        try
        {
            pid = service.Process.Id;
            running = !service.Process.HasExited;
            if (!running)
            {
                (exitCode, exitUtc) = (service.Process.ExitCode, service.Process.ExitTime.ToUniversalTime());
            }
        }
        catch (InvalidOperationException)
        {
            // Disposed by a restart under way: the next poll sees the new process.
        }

        return new SupervisedProcess(service.Name, service.Address, pid, running, service.StartedUtc, service.Restarts, exitCode, exitUtc);
    }

    private static IResult Logs(Suite suite, string name, int lines)
    {
        var service = suite.Services.FirstOrDefault(s => s.Name == name);
        return service is null
            ? Results.Problem(statusCode: 404, title: "Unknown service",
                detail: $"No service '{name}': the suite runs {string.Join(", ", suite.Services.Select(s => s.Name))}.")
            : Results.Text(Suite.Tail(service, Math.Clamp(lines, 1, 20_000)), "text/plain; charset=utf-8");
    }
}

/// <summary>What <c>/api/status</c> returns.</summary>
public sealed record SupervisorStatus(DateTime Time, IReadOnlyList<SupervisedProcess> Services);

/// <summary>One service process as the supervisor knows it.</summary>
/// <param name="Name">Instance name (broker, ingest, stitch, integrate, integrate-2, merge, console).</param>
/// <param name="Address">Its gRPC address, e.g. http://127.0.0.1:5102.</param>
/// <param name="Pid">Process id, null while a restart is under way.</param>
/// <param name="Running">False from its death until the supervisor has started it again.</param>
/// <param name="StartedUtc">When the current process was started.</param>
/// <param name="Restarts">How often the supervisor restarted it after it died.</param>
/// <param name="LastExitCode">Exit code of the last process of it that died (137 = killed), null if none did.</param>
/// <param name="LastExitUtc">When that process died.</param>
public sealed record SupervisedProcess(string Name, string Address, int? Pid, bool Running, DateTime StartedUtc, int Restarts, int? LastExitCode, DateTime? LastExitUtc);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SupervisorStatus))]
internal sealed partial class SupervisorJson : JsonSerializerContext;
