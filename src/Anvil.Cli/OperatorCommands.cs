using System.Globalization;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.Cli;

/// <summary>
/// `anvil pause|resume [--acquisition A]`, `anvil stop ACQ` and `anvil status [ACQ]`: operating a running suite through
/// ingest's Control service. Every failure is one line on the error writer and a non-zero exit code (2: the command
/// line is wrong; 1: the suite refused or could not be reached). With several detectors configured, each detector's
/// data of acquisition A is its own stream <c>A_D</c> (README "Several detectors"): <c>--detector D</c> addresses it
/// (as does the full name <c>A_D</c>); <c>status A</c> shows every detector's stream of A, and pausing or stopping
/// <c>A</c> when only its detectors' streams exist is refused with their names rather than doing nothing.
/// </summary>
public static partial class OperatorCommands
{
    public const string PauseUsage = "anvil pause|resume [--acquisition A [--detector NAME]] [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;
    public const string StopUsage = "anvil stop ACQUISITION [--detector NAME] [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;
    public const string StatusUsage = "anvil status [ACQUISITION] [--detector NAME] [--ingest http://127.0.0.1:5101] " + ControlToken.Usage;

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
            var detector = line.Get("detector") ?? string.Empty;
            if (verb == "stop" && acquisition.Length == 0)
            {
                throw new UsageException("give the acquisition to stop: anvil stop ACQUISITION");
            }

            if (detector.Length > 0 && acquisition.Length == 0 && verb is "pause" or "resume")
            {
                throw new UsageException($"--detector {detector} needs --acquisition A: it {verb}s that detector's stream A_{detector}; to {verb} every acquisition, leave both out");
            }

            if (detector.Length > 0 && !DetectorName().IsMatch(detector))
            {
                throw new UsageException($"--detector '{detector}' is no detector name: 1–{DetectorSet.MaxNameLength} characters of A–Z, a–z, 0–9 and '-'");
            }

            // A detector's stream: A_D.
            var stream = acquisition.Length > 0 && detector.Length > 0 ? DetectorSet.StreamName(acquisition, detector) : acquisition;

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
                    await RefuseBareAcquisitionAsync(control, verb, stream, deadline, cancellationToken);
                    var request = new PauseRequest { Acquisition = stream };
                    var state = verb == "pause"
                        ? await control.PauseAsync(request, headers, deadline, cancellationToken)
                        : await control.ResumeAsync(request, headers, deadline, cancellationToken);
                    log.WriteLine(state.Message);
                    return 0;
                case "stop":
                    await RefuseBareAcquisitionAsync(control, verb, stream, deadline, cancellationToken);
                    var stopped = await control.StopAcquisitionAsync(new StopAcquisitionRequest { Acquisition = stream }, headers, deadline, cancellationToken);
                    log.WriteLine(stopped.Message);
                    return 0;
                default:
                    // status A with detectors: A's own row if A is a stream, else every detector's stream A_D; --detector D alone: D's streams.
                    var list = await control.ListAcquisitionsAsync(new ListAcquisitionsRequest(), headers, deadline, cancellationToken);
                    var rows = list.Acquisitions.Where(a => stream.Length == 0
                        ? detector.Length == 0 || a.Acquisition.EndsWith("_" + detector, StringComparison.Ordinal)
                        : a.Acquisition == stream || (detector.Length == 0 && list.Acquisitions.All(b => b.Acquisition != stream) && IsDetectorStreamOf(a.Acquisition, stream))).ToList();
                    if (stream.Length > 0 && rows.Count == 0)
                    {
                        throw new UsageException($"acquisition '{stream}' is unknown to the suite: anvil status lists the acquisitions it knows");
                    }

                    var shown = new ListAcquisitionsReply { BeamtimePaused = list.BeamtimePaused };
                    shown.Acquisitions.AddRange(rows);
                    PrintStatus(shown, log);
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

    // Pausing or stopping A when the suite knows only its detectors' streams A_D would change nothing the chain reads:
    // refused, naming the streams and --detector. A name that is a stream, or that nothing is known of yet (a pause
    // set before an acquisition starts), passes.
    private static async Task RefuseBareAcquisitionAsync(Control.ControlClient control, string verb, string stream, DateTime deadline, CancellationToken cancellationToken)
    {
        if (stream.Length == 0)
        {
            return;
        }

        var list = await control.ListAcquisitionsAsync(new ListAcquisitionsRequest(), deadline: deadline, cancellationToken: cancellationToken);
        var streams = list.Acquisitions.Select(a => a.Acquisition).Where(a => IsDetectorStreamOf(a, stream)).ToList();
        if (streams.Count > 0 && list.Acquisitions.All(a => a.Acquisition != stream))
        {
            var detectors = streams.Select(s => s[(stream.Length + 1)..]).ToList();
            throw new UsageException($"acquisition '{stream}' has one stream per detector ({string.Join(", ", streams)}): {verb} each with --detector NAME ({string.Join(", ", detectors)}), e.g. anvil {verb} {(verb == "stop" ? stream : "--acquisition " + stream)} --detector {detectors[0]}");
        }
    }

    // Whether stream is detector D's stream A_D of acquisition A (D a detector name: no '_').
    private static bool IsDetectorStreamOf(string stream, string acquisition) =>
        stream.Length > acquisition.Length + 1 && stream.StartsWith(acquisition + "_", StringComparison.Ordinal) && DetectorName().IsMatch(stream[(acquisition.Length + 1)..]);

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9-]{1,32}$")]
    private static partial System.Text.RegularExpressions.Regex DetectorName();

    private static string Usage(string verb) => verb switch
    {
        "pause" or "resume" => PauseUsage,
        "stop" => StopUsage,
        _ => StatusUsage,
    };
}
