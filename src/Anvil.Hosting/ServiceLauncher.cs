using System.Diagnostics;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Anvil.Hosting;

/// <summary>How to start one service process.</summary>
public sealed record LaunchOptions
{
    /// <summary>The built service assembly (…/bin/&lt;Configuration&gt;/net10.0/Anvil.X.Service.dll).</summary>
    public required string Dll { get; init; }

    /// <summary>The h2c gRPC port on 127.0.0.1; 0 lets the service pick one, read back from its "Now listening on" line.</summary>
    public int Port { get; init; }

    /// <summary>Environment of the process (beyond the caller's, which it inherits; a null value removes a variable).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>Command-line configuration (e.g. <c>--Broker:Fsync=always</c>).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>A file the process's output goes to (appended when <see cref="AppendLog"/>); null = kept in memory only.</summary>
    public string? LogPath { get; init; }

    public bool AppendLog { get; init; }

    /// <summary>
    /// The process's nice value (0 = the caller's priority; up to 19 = the lowest): started through <c>nice -n</c>, so
    /// every thread of the service runs at it from the start (the reprocess pool, deploy/topology.json).
    /// </summary>
    public int Nice { get; init; }

    /// <summary>
    /// Whether the process runs under Linux's SCHED_IDLE policy (started through <c>chrt --idle 0</c>): it gets only the
    /// CPU time no normal process wants, and a normal process that wakes preempts it at once, which a nice value alone
    /// does not promise (the scheduler lets a niced task finish its time slice first).
    /// </summary>
    public bool Idle { get; init; }
}

/// <summary>
/// One of Anvil's services as its own process on 127.0.0.1: an HTTP/2-only (h2c) gRPC endpoint, its output captured
/// (in memory, and in a file when asked), ready once <c>grpc.health.v1.Health/Check</c> answers SERVING. The CLI's
/// suite, the broker tests and the benches all start services here.
/// </summary>
public sealed partial class ServiceLauncher : IAsyncDisposable
{
    private const int KeptLines = 400;
    private readonly Queue<string> tail = new();
    private readonly TaskCompletionSource<string> listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StreamWriter? logFile;
    private int openStreams = 2;

    private ServiceLauncher(Process process, StreamWriter? logFile)
    {
        Process = process;
        this.logFile = logFile;
    }

    public Process Process { get; }

    /// <summary>The gRPC address (known at once for a fixed port; for port 0 once <see cref="WaitHealthyAsync"/> returned).</summary>
    public string Address { get; private set; } = string.Empty;

    /// <summary>The process's last lines of output.</summary>
    public string Log
    {
        get
        {
            lock (tail)
            {
                return string.Join('\n', tail);
            }
        }
    }

    /// <summary>User plus system CPU time so far (zero once the process is gone).</summary>
    public TimeSpan Cpu
    {
        get
        {
            try
            {
                Process.Refresh();
                return Process.TotalProcessorTime;
            }
            catch (InvalidOperationException)
            {
                return TimeSpan.Zero;
            }
        }
    }

    /// <summary>Starts the process; it is not ready before <see cref="WaitHealthyAsync"/> returns.</summary>
    public static ServiceLauncher Start(LaunchOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.Nice);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Nice, 19);

        // chrt and nice each exec the next program in the same process, so the process id (health, CPU, kill) stays the
        // service's. The service stays in the caller's session: with Linux's autogroups (sched(7)) its priority then
        // counts against the suite's other services, which is the point, while the session as a whole keeps its fair
        // share. (A session of its own with a niced autogroup starved it outright on a machine busy with other work.)
        var command = new List<string>();
        if (options.Idle)
        {
            command.AddRange(["chrt", "--idle", "0"]);
        }

        if (options.Nice > 0)
        {
            command.AddRange(["nice", "-n", options.Nice.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        command.Add("dotnet");
        var start = new ProcessStartInfo(command[0])
        {
            WorkingDirectory = Path.GetDirectoryName(options.Dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var word in command.Skip(1))
        {
            start.ArgumentList.Add(word);
        }

        start.ArgumentList.Add(options.Dll);
        foreach (var argument in options.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{options.Port}";
        start.Environment["Kestrel__Endpoints__Grpc__Protocols"] = "Http2";
        start.Environment["DOTNET_gcServer"] = "0";
        foreach (var (key, value) in options.Environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        var logFile = options.LogPath is null
            ? null
            : new StreamWriter(new FileStream(options.LogPath, options.AppendLog ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var launched = new ServiceLauncher(process, logFile);
        if (options.Port != 0)
        {
            launched.Address = $"http://127.0.0.1:{options.Port}";
        }

        process.OutputDataReceived += (_, e) => launched.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => launched.OnLine(e.Data);
        // The log is closed once both output streams have ended (OnLine), not when the process exits: its last lines (an
        // unhandled exception's, say "address already in use") are still on their way then.
        process.Exited += (_, _) => launched.listening.TrySetException(new InvalidOperationException($"{Path.GetFileName(options.Dll)} exited during startup."));
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {options.Dll}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return launched;
    }

    /// <summary>Starts the process and waits until it serves.</summary>
    public static async Task<ServiceLauncher> StartAsync(LaunchOptions options, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var launched = Start(options);
        try
        {
            await launched.WaitHealthyAsync(timeout, cancellationToken);
            return launched;
        }
        catch
        {
            await launched.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Waits until the service's gRPC health check answers SERVING (a broker serves only once it has replayed its data
    /// folder). Throws with the process's last lines when it exits or the timeout passes first.
    /// </summary>
    public async Task WaitHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        if (Address.Length == 0)
        {
            try
            {
                Address = await listening.Task.WaitAsync(timeout, cancellationToken);
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
            {
                throw new InvalidOperationException($"{Name} did not start listening: {ex.Message}\n{Log}", ex);
            }
        }

        using var channel = GrpcChannel.ForAddress(Address);
        var health = new Health.HealthClient(channel);
        while (true)
        {
            if (Process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {Process.ExitCode} while starting:\n{Log}");
            }

            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: cancellationToken);
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return;
                }
            }
            catch (RpcException) when (DateTime.UtcNow < deadline)
            {
                // Not listening yet, or still replaying its data.
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"{Name} at {Address} did not answer its health check within {timeout.TotalSeconds:0} s:\n{Log}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>True when the service answers its gRPC health check SERVING within <paramref name="within"/>.</summary>
    public async Task<bool> AnswersHealthAsync(TimeSpan within, CancellationToken cancellationToken = default)
    {
        if (Address.Length == 0 || Process.HasExited)
        {
            return false;
        }

        using var channel = GrpcChannel.ForAddress(Address);
        try
        {
            var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + within, cancellationToken: cancellationToken);
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }
        catch (RpcException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed beyond what already reached the OS.</summary>
    public async Task KillAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        await Process.WaitForExitAsync();
    }

    /// <summary>SIGTERM (a graceful stop), then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!Process.HasExited)
        {
            _ = Kill(Process.Id, 15);
        }

        using var timer = new CancellationTokenSource(grace);
        try
        {
            await Process.WaitForExitAsync(timer.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        Process.Dispose();
        lock (tail)
        {
            logFile?.Dispose();
        }
    }

    private string Name => Path.GetFileNameWithoutExtension(Process.StartInfo.ArgumentList[0]);

    private void OnLine(string? line)
    {
        if (line is null)
        {
            // One of the two output streams ended; after both, nothing more comes.
            if (Interlocked.Decrement(ref openStreams) == 0)
            {
                lock (tail)
                {
                    logFile?.Dispose();
                }
            }

            return;
        }

        lock (tail)
        {
            tail.Enqueue(line);
            if (tail.Count > KeptLines)
            {
                tail.Dequeue();
            }

            try
            {
                logFile?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // The launcher was disposed while its last lines were in flight.
            }
        }

        if (ListeningLine().Match(line) is { Success: true } match)
        {
            listening.TrySetResult(match.Groups[1].Value);
        }
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
