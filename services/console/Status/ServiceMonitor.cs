using System.Collections.Concurrent;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Status;

/// <summary>
/// Every service instance's state for the Status tab: health (grpc.health.v1) and load (anvil.pipeline.v1.ProcessStatus:
/// CPU time, resident memory) asked of each service itself, so it works on any platform; process id, restarts and the
/// last exit code and time from `anvil up`'s supervisor when there is one. A service that does not answer is "down"
/// (or "crashed" when the supervisor saw its process die); the others are still shown.
/// </summary>
public sealed class ServiceMonitor(IOptions<StatusOptions> options, SupervisorClient supervisor) : IDisposable
{
    private readonly ConcurrentDictionary<string, GrpcChannel> channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DateTime At, int Pid, double Cpu, double? Percent)> lastCpu = new(StringComparer.Ordinal);

    /// <summary>Every instance now, in the supervisor's order (else the configured one).</summary>
    public async Task<ServicesStatus> GetAsync(CancellationToken cancellationToken)
    {
        var (processes, supervisorError) = await supervisor.ProcessesAsync(cancellationToken);
        var instances = processes is null
            ? options.Value.Instances().Select(i => (i.Name, i.Address, Process: (SupervisedProcess?)null)).ToArray()
            : processes.Select(p => (p.Name, p.Address, Process: (SupervisedProcess?)p)).ToArray();
        var services = await Task.WhenAll(instances.Select(i => InstanceAsync(i.Name, i.Address, i.Process, cancellationToken)));
        return new ServicesStatus(DateTime.UtcNow, supervisor.Configured, processes is not null, supervisorError, services);
    }

    /// <summary>The instance names the tab knows (for the log endpoints): the supervisor's, else the configured ones.</summary>
    public async Task<IReadOnlyList<string>> NamesAsync(CancellationToken cancellationToken)
    {
        var (processes, _) = await supervisor.ProcessesAsync(cancellationToken);
        return processes?.Select(p => p.Name).ToArray() ?? options.Value.Instances().Select(i => i.Name).ToArray();
    }

    /// <summary>
    /// The newest <paramref name="lines"/> lines of a configured instance's log, asked of the service itself
    /// (ProcessStatus/GetLog: what it logged since it started); null when no instance has that name. Throws
    /// <see cref="RpcException"/> when it does not answer.
    /// </summary>
    public async Task<string?> LogAsync(string name, int lines, CancellationToken cancellationToken)
    {
        var address = options.Value.Instances().FirstOrDefault(i => i.Name == name).Address;
        if (address is null)
        {
            return null;
        }

        var channel = channels.GetOrAdd(address, a => GrpcChannel.ForAddress(a));
        var reply = await new ProcessStatus.ProcessStatusClient(channel).GetLogAsync(new GetLogRequest { Lines = (uint)lines },
            deadline: DateTime.UtcNow + (options.Value.StatusTimeout * 3), cancellationToken: cancellationToken);
        return reply.Text;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var channel in channels.Values)
        {
            channel.Dispose();
        }
    }

    private async Task<ServiceState> InstanceAsync(string name, string address, SupervisedProcess? process, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + options.Value.StatusTimeout;
        string health;
        string? error = null;
        ProcessStatusReply? load = null;
        try
        {
            var channel = channels.GetOrAdd(address, a => GrpcChannel.ForAddress(a));
            var check = new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: deadline, cancellationToken: cancellationToken).ResponseAsync;
            var status = new ProcessStatus.ProcessStatusClient(channel).GetStatusAsync(new ProcessStatusRequest(), deadline: deadline, cancellationToken: cancellationToken).ResponseAsync;
            health = (await check).Status == HealthCheckResponse.Types.ServingStatus.Serving ? "serving" : "not_serving";
            try
            {
                load = await status;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unimplemented)
            {
                error = "this build of the service does not report its load (ProcessStatus)";
            }
        }
        catch (RpcException ex)
        {
            health = "down";
            error = ex.Status.Detail.Length > 0 ? ex.Status.Detail : ex.StatusCode.ToString();
        }
        catch (Exception ex) when (ex is UriFormatException or ArgumentException or InvalidOperationException)
        {
            health = "down";
            error = $"'{address}' is not a service address ({ex.Message})";
        }

        // "crashed": the supervisor saw the process die and has not started it again yet; "restarting": started again, not serving yet.
        var state = health == "serving" ? "serving"
            : process is { Running: false } ? "crashed"
            : process is { Restarts: > 0 } && health == "down" && process.StartedUtc > DateTime.UtcNow.AddMinutes(-1) ? "restarting"
            : health;
        var now = DateTime.UtcNow;
        double? cpuPercent = null;
        if (load is not null)
        {
            // CPU % of one core since the console last looked at least a second ago (the first look: since the process
            // started); looks closer together (two pages polling) reuse the last figure.
            var last = lastCpu.TryGetValue(address, out var l) && l.Pid == load.Pid ? l : ((DateTime At, int Pid, double Cpu, double? Percent)?)null;
            if (last is { } previous && (now - previous.At).TotalSeconds < 1)
            {
                cpuPercent = previous.Percent;
            }
            else
            {
                var since = last?.At ?? DateTimeOffset.FromUnixTimeMilliseconds(load.StartedUnixMs).UtcDateTime;
                var seconds = Math.Max((now - since).TotalSeconds, 0.001);
                cpuPercent = Math.Max(0, 100 * (load.CpuSeconds - (last?.Cpu ?? 0)) / seconds);
                lastCpu[address] = (now, load.Pid, load.CpuSeconds, cpuPercent);
            }
        }

        var started = load is not null ? DateTimeOffset.FromUnixTimeMilliseconds(load.StartedUnixMs).UtcDateTime : process?.StartedUtc;
        return new ServiceState(name, address, state, error, load?.Pid ?? process?.Pid, load?.Host,
            started, started is { } s && state == "serving" ? Math.Round((now - s).TotalSeconds, 1) : null,
            cpuPercent is { } c ? Math.Round(c, 1) : null, load is null ? null : Math.Round(load.CpuSeconds, 2),
            load is null ? null : (long)load.RssBytes, load?.Threads,
            process?.Restarts, process?.LastExitCode, process?.LastExitUtc);
    }
}

/// <summary>The Status tab's services table.</summary>
/// <param name="Time">When it was gathered (UTC).</param>
/// <param name="SupervisorConfigured">Whether the console was told of a supervisor (Console:Supervisor).</param>
/// <param name="Supervised">Whether the supervisor answered: restarts and exit codes are known.</param>
/// <param name="SupervisorError">Why the supervisor did not answer, when configured.</param>
/// <param name="Services">One row per service instance.</param>
public sealed record ServicesStatus(DateTime Time, bool SupervisorConfigured, bool Supervised, string? SupervisorError, IReadOnlyList<ServiceState> Services);

/// <summary>One service instance: health, load and (under a supervisor) crashes.</summary>
/// <param name="Name">Instance name (integrate-2 is integrate's second replica).</param>
/// <param name="Address">Its gRPC address.</param>
/// <param name="Error">Why it did not answer, if it did not.</param>
/// <param name="Pid">Process id (its own, else the supervisor's).</param>
/// <param name="Host">Machine, container or pod it runs on.</param>
/// <param name="StartedUtc">When its process started.</param>
/// <param name="UptimeSeconds">Seconds since then, while serving.</param>
/// <param name="CpuSeconds">CPU time since start.</param>
/// <param name="Threads">Threads of its process.</param>
/// <param name="State">serving, not_serving, down (no answer), crashed (its process died, not restarted yet) or restarting.</param>
/// <param name="CpuPercent">CPU % of one core since the console last looked.</param>
/// <param name="RssBytes">Resident memory.</param>
/// <param name="Restarts">Restarts after a death (null: no supervisor knows).</param>
/// <param name="LastExitCode">Exit code of the last process that died (137 = killed).</param>
/// <param name="LastExitUtc">When it died.</param>
public sealed record ServiceState(string Name, string Address, string State, string? Error, int? Pid, string? Host, DateTime? StartedUtc, double? UptimeSeconds,
    double? CpuPercent, double? CpuSeconds, long? RssBytes, int? Threads, int? Restarts, int? LastExitCode, DateTime? LastExitUtc);

/// <summary>One process as `anvil up`'s supervisor reports it (its /api/status).</summary>
public sealed record SupervisedProcess(string Name, string Address, int? Pid, bool Running, DateTime StartedUtc, int Restarts, int? LastExitCode, DateTime? LastExitUtc);

/// <summary>The supervisor's JSON API, when Console:Supervisor names one.</summary>
public sealed class SupervisorClient(IOptions<StatusOptions> options) : IDisposable
{
    private readonly HttpClient http = new() { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>Whether a supervisor is configured.</summary>
    public bool Configured => options.Value.Supervisor.Length > 0;

    /// <summary>The supervisor's address, e.g. http://127.0.0.1:5180.</summary>
    public string Address => options.Value.Supervisor.TrimEnd('/');

    /// <summary>Its processes, or null and why not (not configured: no reason).</summary>
    public async Task<(IReadOnlyList<SupervisedProcess>? Processes, string? Error)> ProcessesAsync(CancellationToken cancellationToken)
    {
        if (!Configured)
        {
            return (null, null);
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.StatusTimeout);
            var status = await http.GetFromJsonAsync<SupervisorReply>($"{Address}/api/status", timeout.Token);
            return (status?.Services, status is null ? "empty answer" : null);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or UriFormatException or InvalidOperationException)
        {
            return (null, $"the supervisor at {Address} did not answer ({ex.Message})");
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of an instance's log; null when the supervisor does not know the name.</summary>
    public async Task<string?> LogAsync(string name, int lines, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.StatusTimeout * 3);
        using var response = await http.GetAsync($"{Address}/api/logs/{Uri.EscapeDataString(name)}?lines={lines}", timeout.Token);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(timeout.Token);
    }

    /// <inheritdoc />
    public void Dispose() => http.Dispose();

    private sealed record SupervisorReply(DateTime Time, SupervisedProcess[] Services);
}
