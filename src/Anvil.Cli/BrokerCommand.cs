using System.Globalization;
using Anvil.Broker.Auth;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Grpc.Core;

namespace Anvil.Cli;

/// <summary>`anvil broker token|streams|groups|backlog`: minting tokens and looking at a running broker.</summary>
public static class BrokerCommand
{
    public const string Usage = "anvil broker token --beamtime B --access read,write[,writeraw][,control] [--ttl 24h] [--secret-file F|env ANVIL_BROKER_SECRET]\n" +
        "  anvil broker streams|groups|backlog [--broker http://127.0.0.1:5100] [--beamtime demo] [--data-source S (default: raw, frames, profiles)] [--stream S] [--token T|--secret-file F]";

    /// <summary>Where `anvil up` keeps the broker secret (its default work folder); the look-up commands use it when nothing else is given.</summary>
    public const string UpSecretFile = ".anvil/broker.secret";

    private static readonly TimeSpan MaxTtl = TimeSpan.FromDays(365);

    public static async Task<int> RunAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var what = args.Positional.FirstOrDefault() ?? throw new UsageException("name what: token, streams, groups or backlog");
        return what switch
        {
            "token" => Token(args, log),
            "streams" or "groups" or "backlog" => await ShowAsync(what, args, log, cancellationToken),
            _ => throw new UsageException($"unknown broker command '{what}'; use token, streams, groups or backlog"),
        };
    }

    /// <summary>Parses 90s, 30m, 12h, 7d (or a TimeSpan such as 1.00:00:00).</summary>
    public static TimeSpan ParseTtl(string text)
    {
        var unit = text.Length > 1 ? text[^1] : ' ';
        var ok = double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n);
        var ttl = unit switch
        {
            's' when ok => TimeSpan.FromSeconds(n),
            'm' when ok => TimeSpan.FromMinutes(n),
            'h' when ok => TimeSpan.FromHours(n),
            'd' when ok => TimeSpan.FromDays(n),
            _ => TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) ? span : throw new UsageException($"--ttl must read like 90s, 30m, 12h or 7d, not '{text}'"),
        };
        return ttl > TimeSpan.Zero && ttl <= MaxTtl ? ttl : throw new UsageException($"--ttl must be positive and at most {MaxTtl.TotalDays:0} days");
    }

    private static int Token(CommandLine args, TextWriter log)
    {
        var beamtime = args.Get("beamtime") ?? throw new UsageException("--beamtime is required");
        var accessText = args.Get("access") ?? throw new UsageException("--access is required (read, write, writeraw, control; comma-separated)");
        var ttl = args.Get("ttl") is { } t ? ParseTtl(t) : BrokerTokens.DefaultTtl;
        var secretFile = args.Get("secret-file");
        args.RejectUnknown();
        BrokerAccess access;
        try
        {
            access = BrokerAccessNames.Parse(accessText);
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }

        // With no secret named, the one `anvil up` keeps in its work folder (when there is one).
        if (secretFile is null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SigningKeys.EnvironmentVariable)) && File.Exists(UpSecretFile))
        {
            secretFile = UpSecretFile;
        }

        // Only the token goes to stdout, so `TOKEN=$(anvil broker token …)` works.
        log.WriteLine(new BrokerTokens(LoadKeys(secretFile)).Mint(beamtime, access, ttl));
        return 0;
    }

    private static SigningKeys LoadKeys(string? secretFile)
    {
        try
        {
            return SigningKeys.Load(secretFile, secretFile is null ? Environment.GetEnvironmentVariable(SigningKeys.EnvironmentVariable) : null);
        }
        catch (AuthConfigurationException ex)
        {
            throw new UsageException(ex.Message.Replace("Broker:Auth:SecretFile", "--secret-file", StringComparison.Ordinal));
        }
    }

    // A token from --token or ANVIL_BROKER_TOKEN; else a short read token minted from --secret-file, ANVIL_BROKER_SECRET
    // or the secret `anvil up` keeps; else none (a broker with auth off).
    private static string? ResolveToken(string? token, string? secretFile, string beamtime)
    {
        token ??= Environment.GetEnvironmentVariable("ANVIL_BROKER_TOKEN");
        if (!string.IsNullOrEmpty(token))
        {
            return token;
        }

        if (secretFile is null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SigningKeys.EnvironmentVariable)))
        {
            secretFile = File.Exists(UpSecretFile) ? UpSecretFile : null;
            if (secretFile is null)
            {
                return null;
            }
        }

        return new BrokerTokens(LoadKeys(secretFile)).Mint(beamtime, BrokerAccess.Read, TimeSpan.FromMinutes(10));
    }

    private static async Task<int> ShowAsync(string what, CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var address = args.Get("broker") ?? ServiceAddresses.Broker;
        var beamtime = args.Get("beamtime") ?? "demo";
        var dataSource = args.Get("data-source") ?? string.Empty;
        var stream = args.Get("stream") ?? string.Empty;
        var token = ResolveToken(args.Get("token"), args.Get("secret-file"), beamtime);
        args.RejectUnknown();

        using var client = BrokerClient.Connect(address, new BrokerClientOptions { Beamtime = beamtime, Token = token, RetryFor = TimeSpan.FromSeconds(5) });

        // Without --data-source: the chain's own data sources, one table each (raw chunks, frame work items, profiles).
        string[] sources = dataSource.Length > 0 ? [dataSource] : [PipelineStreams.Raw, PipelineStreams.Frames, PipelineStreams.Profiles];
        try
        {
            foreach (var source in sources)
            {
                if (sources.Length > 1)
                {
                    log.WriteLine($"data source {source}:");
                }

                var target = client.Address(source, stream);
                if (what == "streams")
                {
                    var reply = await client.Consumer.ListStreamsAsync(new ListStreamsRequest { Address = target }, client.Headers, cancellationToken: cancellationToken);
                    PrintStreams(reply.Streams, log);
                    continue;
                }

                var groups = await client.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = target }, client.Headers, cancellationToken: cancellationToken);
                if (what == "groups")
                {
                    PrintGroups(groups.Groups, log);
                }
                else
                {
                    PrintBacklog(groups.Groups, log);
                }
            }

            return 0;
        }
        catch (RpcException ex)
        {
            Console.Error.WriteLine($"anvil broker {what}: {ex.StatusCode} {BrokerClient.Reason(ex)}: {ex.Status.Detail}");
            return 1;
        }
    }

    private static string Time(long ns) => ns == 0 ? "-" : DateTimeOffset.FromUnixTimeMilliseconds(ns / 1_000_000).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static void PrintStreams(Google.Protobuf.Collections.RepeatedField<StreamInfo> streams, TextWriter log)
    {
        log.WriteLine($"{"STREAM",-32} {"LAST_ID",10} {"FINISHED",8} {"NEXT_STREAM",-20} {"CREATED (UTC)",-19} {"LAST (UTC)",-19}");
        foreach (var s in streams)
        {
            log.WriteLine($"{s.Name,-32} {s.LastId,10} {(s.Finished ? "yes" : "no"),8} {(s.NextStream.Length > 0 ? s.NextStream : "-"),-20} {Time(s.TimestampCreatedNs),-19} {Time(s.TimestampLastNs),-19}");
        }

        log.WriteLine($"{streams.Count} stream(s)");
    }

    private static void PrintGroups(Google.Protobuf.Collections.RepeatedField<GroupInfo> groups, TextWriter log)
    {
        log.WriteLine($"{"STREAM",-32} {"GROUP",-24} {"POINTER",10} {"LAST_ACK",10} {"ACKED",10} {"IN_FLIGHT",10} {"BACKLOG",10} {"GAPS",6}");
        foreach (var g in groups)
        {
            log.WriteLine($"{g.Stream,-32} {g.Group,-24} {g.Pointer,10} {g.LastAcknowledged,10} {g.Acknowledged,10} {g.InFlight,10} {g.Backlog,10} {g.GapsOpen,6}");
        }

        log.WriteLine($"{groups.Count} group position(s)");
    }

    private static void PrintBacklog(Google.Protobuf.Collections.RepeatedField<GroupInfo> groups, TextWriter log)
    {
        // Backlog = stored ids above the group's pointer plus due redeliveries (docs/broker.md §9); the largest first.
        log.WriteLine($"{"STREAM",-32} {"GROUP",-24} {"BACKLOG",10} {"IN_FLIGHT",10}");
        foreach (var g in groups.OrderByDescending(g => g.Backlog).ThenBy(g => g.Stream, StringComparer.Ordinal))
        {
            log.WriteLine($"{g.Stream,-32} {g.Group,-24} {g.Backlog,10} {g.InFlight,10}");
        }

        log.WriteLine($"total backlog {groups.Sum(g => (long)g.Backlog)} message(s) in {groups.Count} group position(s)");
    }
}
