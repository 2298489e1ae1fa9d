using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;

namespace Anvil.Workers;

/// <summary>
/// The operator console's view of and grip on acquisitions, all from the broker: stopping one early (its raw stream
/// finished after the chunk parts stored so far, so the finish flag travels down the chain and merge finalises the
/// file with the frames it has), and every acquisition's progress (chunks and frames per stage, failures, each
/// consumer group's backlog, paused, finished, settings in force, result file).
/// </summary>
public sealed class AcquisitionControl(BrokerClient broker, SettingsStore settings, PauseStore pause, ResultIndex results)
{
    private const int MaxFailureReasons = 5;
    private const int MaxFailedFrames = 50;
    private const uint MaxQuery = 10_000;

    private static readonly (string Source, string Group)[] Positions =
        [(PipelineStreams.Raw, "stitch"), (PipelineStreams.Frames, "integrate"), (PipelineStreams.Profiles, "merge")];

    /// <summary>
    /// Finishes <paramref name="acquisition"/> after the chunk parts stored so far. A second stop (or a stop after the
    /// detector finished it) changes nothing and says so. <see cref="ArgumentException"/> for a bad or unknown name.
    /// </summary>
    public async Task<StopAcquisitionReply> StopAsync(string acquisition, CancellationToken cancellationToken)
    {
        ChunkFileName.CheckAcquisition(acquisition);
        var raw = broker.Address(PipelineStreams.Raw, acquisition);

        // A chunk stored between reading the last id and finishing makes the finish refused (last id below the
        // highest stored): read again and retry.
        for (var attempt = 0; ; attempt++)
        {
            var info = await StreamInfoAsync(raw, cancellationToken)
                ?? throw new ArgumentException($"acquisition '{acquisition}' is unknown to the broker: give the name of an acquisition this beamtime recorded.");
            var paused = await pause.IsPausedAsync(acquisition, cancellationToken);
            var reply = new StopAcquisitionReply { Acquisition = acquisition, Parts = (uint)info.LastId, Paused = paused };
            if (info.Finished)
            {
                reply.AlreadyFinished = true;
                reply.Message = $"acquisition '{acquisition}' was already finished after {info.LastId} chunk part(s): nothing changed.";
                return reply;
            }

            try
            {
                await broker.FinishStreamAsync(raw, info.LastId, sourceType: SourceType.Raw, cancellationToken: cancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument && attempt < 3)
            {
                continue;
            }

            reply.Message = paused
                ? $"acquisition '{acquisition}' stopped after {info.LastId} chunk part(s); it is paused: resume it and merge finalises its file with those frames."
                : $"acquisition '{acquisition}' stopped after {info.LastId} chunk part(s); merge finalises its file with those frames.";
            return reply;
        }
    }

    /// <summary>The progress of every acquisition the broker knows (oldest first), or of one ("" = all).</summary>
    public async Task<ListAcquisitionsReply> ListAsync(string acquisition, CancellationToken cancellationToken)
    {
        if (acquisition.Length > 0)
        {
            ChunkFileName.CheckAcquisition(acquisition);
        }

        var reply = new ListAcquisitionsReply { BeamtimePaused = (await pause.GetAsync(string.Empty, cancellationToken)).BeamtimePaused };
        var raw = (await broker.ListStreamsAsync(PipelineStreams.Raw, cancellationToken: cancellationToken))
            .Where(s => acquisition.Length == 0 || s.Name == acquisition)
            .ToArray();
        if (acquisition.Length > 0 && raw.Length == 0)
        {
            throw new ArgumentException($"acquisition '{acquisition}' is unknown to the broker: give the name of an acquisition this beamtime recorded.");
        }

        // Whether merge is done is read first: every count read after it is then complete for a done acquisition.
        var files = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var stream in raw)
        {
            files[stream.Name] = await results.GetAsync(stream.Name, cancellationToken);
        }

        // One listing per data source for every acquisition's streams and groups; then a few calls per acquisition.
        var streams = new Dictionary<string, Dictionary<string, StreamInfo>>(StringComparer.Ordinal);
        var groups = new Dictionary<string, GroupInfo[]>(StringComparer.Ordinal);
        foreach (var (source, _) in Positions)
        {
            streams[source] = source == PipelineStreams.Raw
                ? raw.ToDictionary(s => s.Name, StringComparer.Ordinal)
                : (await broker.ListStreamsAsync(source, cancellationToken: cancellationToken)).ToDictionary(s => s.Name, StringComparer.Ordinal);
            groups[source] = (await broker.Consumer.ListGroupsAsync(new ListGroupsRequest { Address = broker.Address(source, string.Empty) },
                broker.Headers, cancellationToken: cancellationToken)).Groups.ToArray();
        }

        foreach (var stream in raw)
        {
            reply.Acquisitions.Add(await ProgressAsync(stream, files[stream.Name], streams, groups, cancellationToken));
        }

        return reply;
    }

    private async Task<AcquisitionProgress> ProgressAsync(StreamInfo raw, string? resultFile, Dictionary<string, Dictionary<string, StreamInfo>> streams,
        Dictionary<string, GroupInfo[]> groups, CancellationToken cancellationToken)
    {
        var name = raw.Name;
        var progress = new AcquisitionProgress
        {
            Acquisition = name,
            ChunksAnnounced = (uint)await SizeAsync(PipelineStreams.Raw, name, cancellationToken),
            FramesAnnounced = await AnnouncedFramesAsync(name, cancellationToken),
            FramesStitched = streams[PipelineStreams.Frames].ContainsKey(name) ? await SizeAsync(PipelineStreams.Frames, name, cancellationToken) : 0,
            FramesIntegrated = streams[PipelineStreams.Profiles].ContainsKey(name) ? await SizeAsync(PipelineStreams.Profiles, name, cancellationToken) : 0,
            Finished = raw.Finished,
            Paused = await pause.IsPausedAsync(name, cancellationToken),
            Settings = (await settings.CurrentAsync(name, cancellationToken)).ToMessage(),
            StartedUnixMs = raw.TimestampCreatedNs / 1_000_000,
            LastActivityUnixMs = Positions.Select(p => streams[p.Source].TryGetValue(name, out var s) ? s.TimestampLastNs : 0).Max() / 1_000_000,
        };

        foreach (var (source, group) in Positions)
        {
            foreach (var g in groups[source].Where(g => g.Stream == name && g.Group == group))
            {
                progress.Backlog.Add(new GroupBacklog { DataSource = source, Group = g.Group, Backlog = g.Backlog, InFlight = g.InFlight, Acknowledged = g.Acknowledged });
            }
        }

        progress.FramesMerged = progress.Backlog.FirstOrDefault(b => b.Group == "merge")?.Acknowledged ?? 0;
        if (progress.FramesIntegrated > 0)
        {
            await AddFailuresAsync(progress, cancellationToken);
        }

        if (resultFile is { } file)
        {
            progress.Done = true;
            progress.ResultFile = file;
        }

        progress.State = progress.Done ? "done" : progress.Paused ? "paused" : !progress.Finished ? "acquiring" : "processing";
        return progress;
    }

    private async Task<ulong> SizeAsync(string source, string acquisition, CancellationToken cancellationToken) =>
        (await broker.Consumer.GetCurrentSizeAsync(new CurrentSizeRequest { Address = broker.Address(source, acquisition) },
            broker.Headers, cancellationToken: cancellationToken)).Size;

    // The frames module 1 announced per chunk part (ChunkMeta), summed.
    private async Task<ulong> AnnouncedFramesAsync(string acquisition, CancellationToken cancellationToken)
    {
        var reply = await broker.Consumer.QueryAsync(new QueryRequest
        {
            Address = broker.Address(PipelineStreams.Raw, acquisition),
            Expression = "meta.module = 1",
            MaxResults = MaxQuery,
        }, broker.Headers, cancellationToken: cancellationToken);
        return reply.Records.Aggregate(0UL, (sum, r) => sum + ChunkMeta.AnnouncedFrames(r.Meta));
    }

    // Integrate marks a failed frame's profile in its meta ("failed": true); the reason is in the profile itself.
    private async Task AddFailuresAsync(AcquisitionProgress progress, CancellationToken cancellationToken)
    {
        var address = broker.Address(PipelineStreams.Profiles, progress.Acquisition);
        var failed = await broker.Consumer.QueryAsync(new QueryRequest { Address = address, Expression = "meta.failed = true", MaxResults = MaxQuery },
            broker.Headers, cancellationToken: cancellationToken);
        progress.FramesFailed = (ulong)failed.Records.Count;
        var reasons = new HashSet<string>(StringComparer.Ordinal);
        foreach (var record in failed.Records.OrderBy(r => r.Id).Take(MaxFailedFrames))
        {
            var payload = await broker.Consumer.GetPayloadAsync(new GetPayloadRequest { Address = address, Id = record.Id }, broker.Headers,
                cancellationToken: cancellationToken);
            var error = Profile.Parser.ParseFrom(payload.Payload).Error;
            progress.FailedFrames.Add(new FailedFrame { Frame = record.Id, Reason = error, TraceId = TraceId(record.Headers) });
            if (reasons.Count < MaxFailureReasons && reasons.Add(error))
            {
                progress.Failures.Add($"frame {record.Id}: {error}");
            }
        }
    }

    // The trace id of a W3C traceparent header ("00-<32 hex trace id>-<16 hex span id>-<flags>"), "" without one.
    private static string TraceId(Google.Protobuf.Collections.MapField<string, string> headers) =>
        headers.TryGetValue("traceparent", out var parent) && parent.Split('-') is [_, { Length: 32 } trace, _, _] ? trace : string.Empty;

    private async Task<StreamInfo?> StreamInfoAsync(Address address, CancellationToken cancellationToken)
    {
        try
        {
            return await broker.Consumer.GetStreamInfoAsync(new StreamInfoRequest { Address = address }, broker.Headers, cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }
}
