using System.Runtime.InteropServices;

namespace Anvil.Cli;

/// <summary>`anvil up`: the suite on its fixed default ports until Ctrl-C.</summary>
public static class UpCommand
{
    public const string Usage = "anvil up [--config F] [--data DIR] [--out DIR] [--work DIR]";

    public static async Task<int> RunAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var config = PipelineConfig.Load(args.Get("config"));
        config.Override("DataRoot", args.Get("data"));
        config.Override("OutputDir", args.Get("out"));
        var work = Path.GetFullPath(args.Get("work") ?? ".anvil");
        args.RejectUnknown();
        DemoCommand.Validate(config);
        Directory.CreateDirectory(config["DataRoot"]);
        Directory.CreateDirectory(config["OutputDir"]);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        await using var suite = await Suite.StartAsync(new SuiteOptions { WorkDir = work, Pipeline = config.Values }, TimeSpan.FromSeconds(60), stop.Token);
        foreach (var service in suite.Services)
        {
            log.WriteLine($"{service.Name,-12} {service.Address[7..]}");
        }

        log.WriteLine($"data root {config["DataRoot"]}, results in {config["OutputDir"]}, logs in {Path.Combine(work, "logs")}");
        log.WriteLine($"broker auth on: secret in {suite.BrokerSecretFile} (`./anvil broker streams|groups|backlog` and `./anvil broker token` use it)");
        log.WriteLine("ready");
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
                {
                    log.WriteLine($"{dead.Name} exited with code {dead.Process.ExitCode}:\n{Suite.Tail(dead)}");
                    return 1;
                }

                await Task.Delay(500, stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }

        log.WriteLine("stopping");
        return 0;
    }
}
