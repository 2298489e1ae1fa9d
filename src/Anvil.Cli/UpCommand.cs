using System.Runtime.InteropServices;
using Anvil.Cli.Supervision;

namespace Anvil.Cli;

/// <summary>
/// `anvil up`: the suite on its fixed default ports until Ctrl-C or SIGTERM, with a supervisor that restarts a service
/// that dies, its JSON API (processes, restarts, exit codes, logs) on 127.0.0.1:5180 and the results console on 5181,
/// whose Status tab shows all of it.
/// </summary>
public static class UpCommand
{
    public const string Usage = "anvil up [--config F] [--data DIR] [--out DIR] [--work DIR] [--watch DIR] [--web PORT|off] [--console PORT|off] [--console-bind ADDRESS] [--console-users FILE]";

    /// <summary>The supervisor API's default port (<see cref="SupervisorApi"/>).</summary>
    public const int WebPort = 5180;

    /// <summary>The results console's default page port (services/console; deploy/topology.json's console httpPort).</summary>
    public static int ConsolePort => ConsolePorts.Defaults.Http;

    public static async Task<int> RunAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var config = PipelineConfig.Load(args.Get("config"));
        config.Override("DataRoot", args.Get("data"));
        config.Override("OutputDir", args.Get("out"));
        var work = Path.GetFullPath(args.Get("work") ?? ".anvil");
        var watch = args.Get("watch");
        var web = args.Get("web") is "off" ? (int?)null : args.GetInt("web", WebPort);
        var console = args.Get("console") is "off" ? null
            : ConsolePorts.Defaults with { Http = args.GetInt("console", ConsolePort), Bind = args.Get("console-bind") ?? "127.0.0.1", UsersFile = args.Get("console-users") is { } users ? Path.GetFullPath(users) : null };
        args.RejectUnknown();
        if (console is { UsersFile: null } && console.Bind is not ("127.0.0.1" or "localhost" or "::1" or "[::1]")
            && System.Environment.GetEnvironmentVariable("Console__UsersFile") is null && System.Environment.GetEnvironmentVariable("Console__Users__0__Name") is null)
        {
            // The console itself refuses this too; saying it here saves starting the suite first.
            throw new UsageException($"--console-bind {console.Bind} opens the console to other PCs, which needs accounts: add --console-users FILE with lines from `./anvil console-user NAME --role operator|viewer` (services/console/README.md \"Access\")");
        }

        config.ValidSettings();
        Directory.CreateDirectory(config["DataRoot"]);
        Directory.CreateDirectory(config["OutputDir"]);

        // Watch mode (ingest's Ingest:Watch): a folder below the data root (a relative flag is taken from the working directory).
        var environment = new Dictionary<string, string>();
        if (watch is not null)
        {
            var root = new Anvil.Pipeline.DataRoot(config["DataRoot"]);
            string relative;
            try
            {
                relative = root.ToRelative(Path.GetFullPath(watch));
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"--watch {watch}: {ex.Message}");
            }

            Directory.CreateDirectory(root.ToFull(relative));
            environment["Ingest__Watch"] = relative;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        await using var suite = await Suite.StartAsync(new SuiteOptions { WorkDir = work, Pipeline = config.Values, Environment = environment, Console = console, SupervisorPort = web, ReprocessPool = true }, TimeSpan.FromSeconds(60), stop.Token);
        var width = Math.Max(12, suite.Services.Max(s => s.Name.Length));
        foreach (var service in suite.Services.Where(s => s.Name != "console"))
        {
            log.WriteLine($"{service.Name.PadRight(width)} {service.Address[7..]}{(service.MetricsUrl is { } metrics ? $"  metrics {metrics}" : "")}");
        }

        if (suite.ConsoleUrl is { } consoleUrl)
        {
            log.WriteLine($"console {consoleUrl}");
        }

        log.WriteLine($"data root {config["DataRoot"]}, results in {config["OutputDir"]}, logs in {Path.Combine(work, "logs")}");
        if (environment.TryGetValue("Ingest__Watch", out var watched))
        {
            log.WriteLine($"watching {Path.GetFullPath(Path.Combine(config["DataRoot"], watched))} for Lambda chunk files and detector image sequences");
        }

        await using var supervisor = web is { } port ? await SupervisorApi.StartAsync(suite, port, stop.Token) : null;
        if (supervisor is not null)
        {
            log.WriteLine($"supervisor   {supervisor.Address}api/status (the console's Status tab shows it)");
        }

        log.WriteLine($"broker auth on: secret in {suite.BrokerSecretFile} (`./anvil broker streams|groups|backlog` and `./anvil broker token` use it)");
        log.WriteLine("ready");
        try
        {
            await suite.SuperviseAsync(log, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (InvalidOperationException ex)
        {
            log.WriteLine(ex.Message);
            return 1;
        }

        log.WriteLine("stopping");
        return 0;
    }
}
