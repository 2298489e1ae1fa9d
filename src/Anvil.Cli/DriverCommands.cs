using Anvil.Integration;
using Anvil.Pipeline;
using Grpc.Net.Client;

namespace Anvil.Cli;

/// <summary>`anvil simulate` and `anvil replay` against a running suite's ingest service.</summary>
public static class DriverCommands
{
    public const string SimulateUsage = "anvil simulate [--frames N] [--rate HZ] [--detectors N] [--acquisition NAME] [--data DIR] [--poni F] [--config F] [--ingest http://127.0.0.1:5101]";
    public const string ReplayUsage = "anvil replay DIR [--detector NAME] [--ingest http://127.0.0.1:5101]";

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
        var count = args.Get("detectors") is null ? (int?)null : args.GetInt("detectors", 1);
        var address = args.Get("ingest") ?? ServiceAddresses.Ingest;
        args.RejectUnknown();
        var detectors = SimulatedDetectors(config, count);
        using var channel = GrpcChannel.ForAddress(address);
        var result = await AcquisitionDriver.SimulateAsync(RetryWhileUnavailable.Ingest(channel, log), config["DataRoot"], detectors, options, log, cancellationToken);
        log.WriteLine($"announced {result.Frames} frames of {string.Join(", ", result.Acquisitions)} to {address}");
        return 0;
    }

    /// <summary>
    /// The detectors a simulation plays: the first <paramref name="count"/> of the configuration's (all of them when not
    /// given), each with its own PONI; with none configured, the unnamed detector of the pipeline's PONI.
    /// </summary>
    public static IReadOnlyList<SimulatedDetector> SimulatedDetectors(PipelineConfig config, int? count)
    {
        var configured = config.ValidDetectors();
        if (!configured.Configured)
        {
            return count is null or 1
                ? [new SimulatedDetector(string.Empty, PoniFile.Load(config["Poni"]))]
                : throw new UsageException($"--detectors {count}: the pipeline configuration lists no detectors; give one that lists them (e.g. --config config/two-lambdas.json, the configuration the suite was started with).");
        }

        if (count is < 1 || count > configured.Detectors.Count)
        {
            throw new UsageException($"--detectors {count}: the pipeline configuration lists {configured.Detectors.Count} ({configured.Names}); give 1 to {configured.Detectors.Count}.");
        }

        var played = configured.Detectors.Take(count ?? configured.Detectors.Count).ToArray();
        if (played.FirstOrDefault(d => d.Kind != DetectorKinds.Lambda2M) is { } other)
        {
            throw new UsageException($"detector {other.Name} is a {other.Kind.Name}: the simulator plays {DetectorKinds.Lambda2M.Name} detectors only.");
        }

        return [.. played.Select(d => new SimulatedDetector(d.Name, PoniFile.Load(d.Settings.Poni)))];
    }

    public static async Task<int> ReplayAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var directory = args.Positional.FirstOrDefault() ?? throw new UsageException("give the folder of Lambda files to replay");
        var address = args.Get("ingest") ?? ServiceAddresses.Ingest;
        var detector = args.Get("detector") ?? string.Empty;
        args.RejectUnknown();
        using var channel = GrpcChannel.ForAddress(address);
        var result = await AcquisitionDriver.ReplayAsync(RetryWhileUnavailable.Ingest(channel, log), directory, log, cancellationToken, detector);
        log.WriteLine($"announced {result.Frames} frames of {string.Join(", ", result.Acquisitions)} to {address}");
        return 0;
    }
}
