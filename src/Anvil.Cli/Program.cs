using Anvil.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

string[] flags = ["keep", "quick"];
var verb = args.Length > 0 ? args[0] : "help";
if (args.Skip(1).Any(a => a is "--help" or "-h"))
{
    return Help("help");
}

// Operating a running suite: each failure is one line and a non-zero exit code.
if (verb is "pause" or "resume" or "stop" or "status")
{
    return await OperatorCommands.RunAsync(verb, args.Skip(1).ToArray(), Console.Out, Console.Error, cancel.Token);
}

try
{
    var line = new CommandLine(args.Skip(1).ToArray(), flags.ToHashSet());
    return verb switch
    {
        "demo" => await DemoCommand.RunAsync(line, Console.Out, cancel.Token),
        "up" => await UpCommand.RunAsync(line, Console.Out, cancel.Token),
        "simulate" => await DriverCommands.SimulateAsync(line, Console.Out, cancel.Token),
        "replay" => await DriverCommands.ReplayAsync(line, Console.Out, cancel.Token),
        "settings" => await ControlCommands.SettingsAsync(line, Console.Out, cancel.Token),
        "reprocess" => await ControlCommands.ReprocessAsync(line, Console.Out, cancel.Token),
        "broker" => await BrokerCommand.RunAsync(line, Console.Out, cancel.Token),
        "integrate" => await IntegrateCommand.RunAsync(line, Console.Out, cancel.Token),
        "pressure" => await PressureCommand.RunAsync(line, Console.Out, cancel.Token),
        "console-user" => ConsoleUserCommand.Run(line, Console.In, Console.Out, Console.Error),
        "chaos" => await Anvil.Cli.Chaos.ChaosCommand.RunAsync(line, Console.Out, cancel.Token),
        _ => Help(verb),
    };
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"anvil {verb}: {ex.Message}");
    Help(verb);
    return 2;
}
catch (Grpc.Core.RpcException ex)
{
    // A service refused or could not be reached: its message says what to fix, no stack trace needed.
    Console.Error.WriteLine($"anvil {verb}: {ex.StatusCode}: {ex.Status.Detail}");
    return 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    return 130;
}
catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or UnauthorizedAccessException
    or ArgumentException or Anvil.Hdf5.Hdf5Exception or TimeoutException or InvalidOperationException)
{
    // A file that does not read, a service that would not start, a value the library refuses: one line that says what
    // went wrong (ANVIL_DEBUG=1 prints the stack trace too).
    Console.Error.WriteLine($"anvil {verb}: {ex.Message}");
    if (Environment.GetEnvironmentVariable("ANVIL_DEBUG") == "1")
    {
        Console.Error.WriteLine(ex);
    }

    return 1;
}

static int Help(string verb)
{
    Console.Error.WriteLine($"""
        usage:
          {DemoCommand.Usage}
          {UpCommand.Usage}
          {DriverCommands.SimulateUsage}
          {DriverCommands.ReplayUsage}
          {ControlCommands.SettingsUsage}
          {ControlCommands.ReprocessUsage}
          {OperatorCommands.PauseUsage}
          {OperatorCommands.StopUsage}
          {OperatorCommands.StatusUsage}
          {BrokerCommand.Usage}
          {IntegrateCommand.Usage}
          {PressureCommand.Usage}
          {ConsoleUserCommand.Usage}
          {Anvil.Cli.Chaos.ChaosCommand.Usage}
          ./anvil bench integrate|broker|simulate|viewer [--quick]
          ./anvil bench pipeline [--frames N] [--quick] [--live RATE,…|--no-live] [--replicas N,…] [--no-baseline]
        """);
    return verb is "help" or "--help" or "-h" ? 0 : 2;
}
