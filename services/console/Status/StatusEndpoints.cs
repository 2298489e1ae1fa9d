using Grpc.Core;
using Anvil.Console.Service.Api;
using Anvil.Pipeline.V1;

namespace Anvil.Console.Service.Status;

/// <summary>
/// The Status tab's API (issue 13 item 4): every service instance's health, load and crashes; every acquisition's
/// progress with rate and time to completion; each service's log, filtered by level, text and trace id. Read-only.
/// Unknown services are 404, bad filters 400, a supervisor or ingest that does not answer 503 — all problem bodies.
/// </summary>
public static class StatusEndpoints
{
    private const int MaxLines = 20_000;

    /// <summary>The monitor, the supervisor client and the rate tracker.</summary>
    public static IServiceCollection AddConsoleStatus(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<StatusOptions>(configuration.GetSection(Catalog.ConsoleOptions.Section));
        services.AddSingleton<SupervisorClient>();
        services.AddSingleton<ServiceMonitor>();
        services.AddSingleton(sp => new AcquisitionRates(TimeProvider.System));
        return services;
    }

    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/status").WithTags("Status");
        api.MapGet("/services", async (ServiceMonitor monitor, CancellationToken ct) => Results.Ok(await monitor.GetAsync(ct)))
            .WithSummary("Every service instance: state (serving, not_serving, down, crashed, restarting), pid, uptime, CPU %, resident memory; under `anvil up` also restarts and the last exit code and time (from the supervisor).");
        api.MapGet("/acquisitions", Acquisitions)
            .WithSummary("Every acquisition's progress (ingest's ListAcquisitions): frames announced, stitched, integrated, merged, failed (each failed frame with its reason and trace id), backlog per consumer group, rate (frames merged per second over the last 10 s of readings) and seconds to completion.");
        api.MapGet("/logs/{service}", Log)
            .WithSummary($"The tail of a service's log as entries (level, category, trace id, text): lines = how many log lines to read (1–{MaxLines}, default 2000), level = the least severe level shown (trce, dbug, info, warn, fail, crit), text = a case-insensitive substring, trace = a trace id, limit = at most this many of the newest matching entries (default 500). From `anvil up`'s supervisor when there is one (its log files), else from the service itself (what it logged since it started, ProcessStatus/GetLog).");
        api.MapGet("/traces/{traceId}", Trace)
            .WithSummary("Every service's log entries written under one trace id (e.g. a failed frame's), oldest first.");
        return app;
    }

    private static Task<IResult> Acquisitions(ControlConnection control, AcquisitionRates rates) => control.Call(async (client, options) =>
    {
        var reply = await client.ListAcquisitionsAsync(new ListAcquisitionsRequest(), options);
        return Results.Ok(new
        {
            time = DateTime.UtcNow,
            beamtimePaused = reply.BeamtimePaused,
            acquisitions = reply.Acquisitions.Select(a =>
            {
                var expected = a.FramesAnnounced > 0 ? a.FramesAnnounced : a.FramesStitched;
                var (rate, eta) = rates.Observe(a.Acquisition, a.FramesMerged, expected, a.Done);
                return new
                {
                    name = a.Acquisition,
                    state = a.State,
                    framesAnnounced = a.FramesAnnounced,
                    framesStitched = a.FramesStitched,
                    framesIntegrated = a.FramesIntegrated,
                    framesMerged = a.FramesMerged,
                    framesFailed = a.FramesFailed,
                    failedFrames = a.FailedFrames.Select(f => new { frame = f.Frame, reason = f.Reason, traceId = f.TraceId }),
                    backlogs = a.Backlog.Select(b => new { dataSource = b.DataSource, group = b.Group, backlog = b.Backlog, inFlight = b.InFlight, acknowledged = b.Acknowledged }),
                    rate = rate is { } r ? Math.Round(r, 2) : (double?)null,
                    etaSeconds = eta is { } e ? Math.Round(e, 1) : (double?)null,
                    paused = a.Paused,
                    finished = a.Finished,
                    done = a.Done,
                    resultFile = a.ResultFile,
                    started = a.StartedUnixMs,
                    lastActivity = a.LastActivityUnixMs,
                };
            }),
        });
    });

    private static async Task<IResult> Log(string service, int? lines, string? level, string? text, string? trace, int? limit,
        ServiceMonitor monitor, SupervisorClient supervisor, CancellationToken ct)
    {
        level ??= string.Empty;
        trace ??= string.Empty;
        if (!ServiceLogs.IsLevel(level))
        {
            return Problem(400, "Unknown level", $"level '{level}' is not a log level: give one of {string.Join(", ", ServiceLogs.Levels)} (or none for all).");
        }

        if (trace.Length > 0 && !ServiceLogs.IsTraceId(trace))
        {
            return Problem(400, "Bad trace id", $"trace '{trace}' is not a trace id: give 32 lowercase hex digits, as the failed-frame list shows them.");
        }

        if (lines is < 1 or > MaxLines || limit is < 1 or > MaxLines)
        {
            return Problem(400, "Out of range", $"lines and limit go from 1 to {MaxLines}.");
        }

        var known = await monitor.NamesAsync(ct);
        if (!known.Contains(service))
        {
            return Problem(404, "Unknown service", $"No service '{service}': the console knows {string.Join(", ", known)}.");
        }

        // Under `anvil up` the supervisor's log file (it keeps a dead process's last words); elsewhere the service's own
        // memory of what it logged since it started (ProcessStatus/GetLog).
        string? log;
        try
        {
            log = supervisor.Configured
                ? await supervisor.LogAsync(service, lines ?? 2000, ct)
                : await monitor.LogAsync(service, lines ?? 2000, ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return Problem(503, "Supervisor is not answering", $"The log of '{service}' comes from the supervisor at {supervisor.Address}, which did not answer ({ex.Message}).");
        }
        catch (RpcException ex)
        {
            return ServiceDown(service, ex);
        }

        if (log is null)
        {
            return Problem(404, "Unknown service", $"The supervisor runs no service '{service}'.");
        }

        var entries = ServiceLogs.Parse(log);
        var matching = entries.Where(e => ServiceLogs.AtLeast(e, level) && ServiceLogs.Contains(e, text ?? string.Empty) && (trace.Length == 0 || e.TraceId == trace)).ToList();
        var shown = matching.TakeLast(limit ?? 500).ToArray();
        return Results.Ok(new { service, source = LogSource(supervisor), entriesRead = entries.Count, matching = matching.Count, entries = shown });
    }

    private static async Task<IResult> Trace(string traceId, ServiceMonitor monitor, SupervisorClient supervisor, CancellationToken ct)
    {
        if (!ServiceLogs.IsTraceId(traceId))
        {
            return Problem(400, "Bad trace id", $"'{traceId}' is not a trace id: give 32 lowercase hex digits, as the failed-frame list shows them.");
        }

        var names = await monitor.NamesAsync(ct);
        var found = new List<(string Service, LogEntry Entry)>();
        var unanswered = new List<string>();
        foreach (var name in names)
        {
            try
            {
                var log = supervisor.Configured ? await supervisor.LogAsync(name, MaxLines, ct) : await monitor.LogAsync(name, MaxLines, ct);
                if (log is not null)
                {
                    found.AddRange(ServiceLogs.Parse(log).Where(e => e.TraceId == traceId).Select(e => (name, e)));
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return Problem(503, "Supervisor is not answering", $"The logs come from the supervisor at {supervisor.Address}, which did not answer ({ex.Message}).");
            }
            catch (RpcException)
            {
                // A service that is down has no log to give here; the answer names it.
                unanswered.Add(name);
            }
        }

        // Oldest first across the services (ISO 8601 UTC times sort as text; the order within a service is kept).
        var entries = found.OrderBy(f => f.Entry.Time ?? string.Empty, StringComparer.Ordinal)
            .Select(f => new { service = f.Service, f.Entry.Line, f.Entry.Time, f.Entry.Level, f.Entry.Category, f.Entry.TraceId, f.Entry.Text });
        return Results.Ok(new { traceId, source = LogSource(supervisor), unanswered, entries });
    }

    // Where the lines come from, for the page to say.
    private static string LogSource(SupervisorClient supervisor) => supervisor.Configured ? "supervisor" : "service";

    private static IResult ServiceDown(string service, RpcException ex) => Problem(503, "Service is not answering",
        $"'{service}' did not answer for its log ({(ex.Status.Detail.Length > 0 ? ex.Status.Detail : ex.StatusCode.ToString())}). Without `anvil up`'s supervisor each service keeps its own recent log; " +
        $"what it logged before it went down is where the platform keeps it (`docker compose logs {service}`, `kubectl -n anvil logs deploy/{service}`).");

    private static IResult Problem(int status, string title, string detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}
