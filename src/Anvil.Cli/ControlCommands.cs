using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.Cli;

/// <summary>`anvil settings` and `anvil reprocess`: operator control of a running suite through ingest's Control service.</summary>
public static class ControlCommands
{
    public const string SettingsUsage = "anvil settings [--acquisition A] [--detector NAME] [--poni F] " + SettingsFlags.Usage + " " + SettingsFlags.PressureUsage + " [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;
    public const string ReprocessUsage = "anvil reprocess ACQUISITION [--poni F] " + SettingsFlags.Usage + " " + SettingsFlags.PressureUsage + " [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;

    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithIndentation());

    /// <summary>Without changes, prints the settings in force; with any, publishes a new version and prints it.</summary>
    public static async Task<int> SettingsAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var update = Changes(args);
        update.Acquisition = args.Get("acquisition") ?? string.Empty;
        update.Detector = args.Get("detector") ?? string.Empty;
        var address = args.Get("ingest") ?? ServiceAddresses.Ingest;
        var headers = ControlToken.Headers(args);
        args.RejectUnknown();
        using var channel = GrpcChannel.ForAddress(address);
        var control = new Control.ControlClient(channel);
        var changed = update.HasChanges();
        var spec = await Call(() => changed
            ? control.UpdateSettingsAsync(update, headers, cancellationToken: cancellationToken).ResponseAsync
            : control.GetSettingsAsync(new GetSettingsRequest { Acquisition = update.Acquisition, Detector = update.Detector }, headers, cancellationToken: cancellationToken).ResponseAsync);
        var of = spec.Detector.Length > 0 ? $" of detector {spec.Detector}" : string.Empty;
        var every = changed && update.Detector.Length == 0 && spec.Detector.Length > 0 ? " (the change applies to every detector, each from its own settings; this is the first's)" : string.Empty;
        log.WriteLine(changed ? $"settings version {spec.Version}{of} applies from the next chunk on{every}:" : $"settings version {spec.Version}{of}:");
        log.WriteLine(Json.Format(spec));
        return 0;
    }

    /// <summary>Integrates a finished acquisition again under a new name; the earlier result stays.</summary>
    public static async Task<int> ReprocessAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var acquisition = args.Positional.FirstOrDefault() ?? throw new UsageException("give the acquisition to reprocess");
        var request = new ReprocessRequest { Acquisition = acquisition, Settings = Changes(args) };
        var address = args.Get("ingest") ?? ServiceAddresses.Ingest;
        var headers = ControlToken.Headers(args);
        args.RejectUnknown();
        using var channel = GrpcChannel.ForAddress(address);
        var reply = await Call(() => new Control.ControlClient(channel).ReprocessAsync(request, headers, cancellationToken: cancellationToken).ResponseAsync);
        log.WriteLine($"reprocessing {acquisition} as {reply.Acquisition} ({reply.Chunks} chunk parts); its result will be {reply.Acquisition}.nxs");
        log.WriteLine(Json.Format(reply.Settings));
        return 0;
    }

    private static UpdateSettingsRequest Changes(CommandLine args) => SettingsFlags.Read(args);

    private static async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            throw new UsageException(ex.Status.Detail);
        }
    }
}
