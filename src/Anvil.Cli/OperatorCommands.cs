using System.Globalization;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.Cli;

/// <summary>
/// `anvil pause|resume [--acquisition A]`, `anvil stop ACQ` and `anvil status [ACQ]`: operating a running suite through
/// ingest's Control service. Every failure is one line on the error writer and a non-zero exit code (2: the command
/// line is wrong; 1: the suite refused or could not be reached).
/// </summary>
public static class OperatorCommands
{
    public const string PauseUsage = "anvil pause|resume [--acquisition A] [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;
    public const string StopUsage = "anvil stop ACQUISITION [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;
    public const string StatusUsage = "anvil status [ACQUISITION] [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;

    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs one of the verbs pause, resume, stop, status.</summary>
    public static async Task<int> RunAsync(string verb, IReadOnlyList<string> args, TextWriter log, TextWriter error, CancellationToken cancellationToken)
    {
        string address = ServiceAddresses.Ingest;
        try
        {
            var line = new CommandLine(args, new HashSet<string>());
            address = line.Get("ingest") ?? ServiceAddresses.Ingest;
            var acquisition = verb is "pause" or "resume" ? line.Get("acquisition") ?? string.Empty : line.Positional.FirstOrDefault() ?? string.Empty;
            if (verb == "stop" && acquisition.Length == 0)
            {
                throw new UsageException("give the acquisition to stop: anvil stop ACQUISITION");
            }

            if (line.Positional.Count > (verb is "pause" or "resume" ? 0 : 1))
            {
                throw new UsageException($"unexpected argument '{line.Positional.Last()}'; usage: {Usage(verb)}");
            }

            var headers = ControlToken.Headers(line);
            line.RejectUnknown();
            using var channel = GrpcChannel.ForAddress(address);
            var control = new Control.ControlClient(channel);
            var deadline = DateTime.UtcNow + CallTimeout;
            switch (verb)
            {
                case "pause" or "resume":
                    var request = new PauseRequest { Acquisition = acquisition };
                    var state = verb == "pause"
                        ? await control.PauseAsync(request, headers, deadline, cancellationToken)
                        : await control.ResumeAsync(request, headers, deadline, cancellationToken);
                    log.WriteLine(state.Message);
                    return 0;
                case "stop":
                    var stopped = await control.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = acquisition }, headers, deadline, cancellationToken);
                    log.WriteLine(stopped.Message);
                    return 0;
                default:
                    var list = await control.ListAcquisitionsAsync(new ListAcquisitionsRequest { Acquisition = acquisition }, headers, deadline, cancellationToken);
                    PrintStatus(list, log);
                    return 0;
            }
        }
        catch (UsageException ex)
        {
            error.WriteLine($"anvil {verb}: {ex.Message}");
            return 2;
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            error.WriteLine($"anvil {verb}: {ex.Status.Detail}");
            return 1;
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            error.WriteLine($"anvil {verb}: ingest at {address} does not answer ({ex.StatusCode}); is the suite running (./anvil up), or give --ingest URL.");
            return 1;
        }
        catch (RpcException ex)
        {
            error.WriteLine($"anvil {verb}: {ex.StatusCode}: {ex.Status.Detail.ReplaceLineEndings(" ")}");
            return 1;
        }
        catch (UriFormatException)
        {
            error.WriteLine($"anvil {verb}: --ingest '{address}' is no URL; give one like http://127.0.0.1:5101.");
            return 2;
        }
    }

    /// <summary>The progress table: one row per acquisition, then the failures' reasons.</summary>
    public static void PrintStatus(ListAcquisitionsReply reply, TextWriter log)
    {
        log.WriteLine(reply.BeamtimePaused ? "automatic processing is PAUSED for the beamtime (anvil resume)" : "automatic processing runs");
        log.WriteLine($"{"ACQUISITION",-28} {"STATE",-10} {"CHUNKS",6} {"FRAMES",7} {"STITCHED",8} {"INTEGR.",8} {"MERGED",7} {"FAILED",6} {"BACKLOG",8} {"SETTINGS",8}  RESULT");
        foreach (var a in reply.Acquisitions)
        {
            var backlog = a.Backlog.Aggregate(0UL, (sum, b) => sum + b.Backlog);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{a.Acquisition,-28} {a.State,-10} {a.ChunksAnnounced,6} {a.FramesAnnounced,7} {a.FramesStitched,8} {a.FramesIntegrated,8} {a.FramesMerged,7} {a.FramesFailed,6} {backlog,8} {"v" + a.Settings?.Version,8}  {(a.ResultFile.Length > 0 ? a.ResultFile : "-")}"));
        }

        foreach (var a in reply.Acquisitions.Where(a => a.Failures.Count > 0))
        {
            foreach (var failure in a.Failures)
            {
                log.WriteLine($"{a.Acquisition}: {failure}");
            }
        }

        log.WriteLine($"{reply.Acquisitions.Count} acquisition(s)");
    }

    private static string Usage(string verb) => verb switch
    {
        "pause" or "resume" => PauseUsage,
        "stop" => StopUsage,
        _ => StatusUsage,
    };
}
