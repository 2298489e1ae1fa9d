using Anvil.Pipeline;
using Grpc.Core;

namespace Anvil.Cli;

/// <summary>
/// The token the operator verbs (settings, reprocess, pause, resume, stop, status) send to ingest's Control service:
/// <c>--token TOKEN|FILE</c>, else the pipeline's <c>Pipeline__BrokerToken</c> (a token or a file holding one, as every
/// service gets it). An ingest that listens beyond loopback takes changes only with a token of access <c>control</c>
/// (README "Reliability"); on loopback none is needed.
/// </summary>
public static class ControlToken
{
    /// <summary>The flag, as usage lines show it.</summary>
    public const string Usage = "[--token TOKEN|FILE]";

    /// <summary>Call headers with the token, or null when none is given.</summary>
    public static Metadata? Headers(CommandLine args)
    {
        var token = PipelineOptions.ReadToken(args.Get("token") ?? Environment.GetEnvironmentVariable("Pipeline__BrokerToken"));
        return token is { Length: > 0 } ? new Metadata { { "authorization", "Bearer " + token } } : null;
    }
}
