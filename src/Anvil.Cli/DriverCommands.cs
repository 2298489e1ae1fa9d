using Anvil.Integration;
using Anvil.Pipeline;
using Grpc.Net.Client;

namespace Anvil.Cli;

/// <summary>`anvil simulate` and `anvil replay` against a running suite's ingest service.</summary>
public static class DriverCommands
{
    public const string SimulateUsage = "anvil simulate [--frames N] [--rate HZ] [--acquisition NAME] [--data DIR] [--poni F] [--ingest http://127.0.0.1:5101]";
    public const string ReplayUsage = "anvil replay DIR [--ingest http://127.0.0.1:5101]";

    public static async Task<int> SimulateAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var config = PipelineConfig.Load(args.Get("config"));
        config.Override("DataRoot", args.Get("data"));
        config.Override("Poni", args.Get("poni"));
        var options = new SimulationOptions
        {
            Frames = args.GetInt("frames", 800),
            FrameRate = args.GetDouble("rate", 0),
            Acquisition = args.Get("acquisition") ?? $"sim_{DateTime.UtcNow:HHmmss}_00001",
        };
        var address = args.Get("ingest") ?? ServiceAddresses.Ingest;
        args.RejectUnknown();
        using var channel = GrpcChannel.ForAddress(address);
        var result = await AcquisitionDriver.SimulateAsync(RetryWhileUnavailable.Ingest(channel, log), config["DataRoot"], PoniFile.Load(config["Poni"]), options, log, cancellationToken);
        log.WriteLine($"announced {result.Frames} frames of {options.Acquisition} to {address}");
        return 0;
    }

    public static async Task<int> ReplayAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var directory = args.Positional.FirstOrDefault() ?? throw new UsageException("give the folder of Lambda files to replay");
        var address = args.Get("ingest") ?? ServiceAddresses.Ingest;
        args.RejectUnknown();
        using var channel = GrpcChannel.ForAddress(address);
        var result = await AcquisitionDriver.ReplayAsync(RetryWhileUnavailable.Ingest(channel, log), directory, log, cancellationToken);
        log.WriteLine($"announced {result.Frames} frames of {string.Join(", ", result.Acquisitions)} to {address}");
        return 0;
    }
}
