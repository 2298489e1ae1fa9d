using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Catalog;

/// <summary>
/// Follows the broker's <c>profiles</c> streams (one per acquisition, id = frame) by id — GetById, never a consumer
/// group — so the console disturbs no one: merge's group, its pointer and acknowledgements are untouched, and any
/// number of consoles can watch. Every <see cref="ConsoleOptions.PollInterval"/> it lists the streams and reads the
/// ids it has not seen yet; an id below the stream's highest that is not stored yet (two integrate replicas publish
/// out of order) is tried again next time. Finished streams whose result file exists are not read at all: the
/// file is what the page shows. The <c>frames</c> streams give the frames expected.
/// </summary>
public sealed partial class ProfileFollower(BrokerClient broker, AcquisitionCatalog catalog, IOptions<ConsoleOptions> options, ILogger<ProfileFollower> log)
    : BackgroundService
{
    private readonly Dictionary<string, StreamProgress> progress = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PollAsync(stoppingToken);
                if (failing)
                {
                    Log.BrokerBack(log, broker.Options.Beamtime);
                    failing = false;
                }
            }
            catch (RpcException ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (!failing)
                {
                    Log.BrokerUnavailable(log, ex.StatusCode.ToString(), ex.Status.Detail);
                    failing = true;
                }

                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            }

            await Task.Delay(options.Value.PollInterval, stoppingToken);
        }
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        var frames = await ListAsync(PipelineStreams.Frames, cancellationToken);
        foreach (var stream in frames)
        {
            if (catalog.ResultPath(stream.Name) is null && !(progress.TryGetValue(stream.Name, out var done) && done.Complete))
            {
                var acquisition = catalog.Live(stream.Name);
                acquisition.FramesPublished = (long)stream.LastId;
                acquisition.FramesFinal = stream.Finished;
            }
        }

        foreach (var stream in await ListAsync(PipelineStreams.Profiles, cancellationToken))
        {
            if (!progress.TryGetValue(stream.Name, out var state))
            {
                state = progress[stream.Name] = new StreamProgress();
            }

            if (state.Complete || (stream.Finished && state.Highest == 0 && catalog.ResultPath(stream.Name) is not null))
            {
                state.Complete = true;
                if (catalog.ResultPath(stream.Name) is not null)
                {
                    // Merge's file is what the page shows now: the rows read from the broker are no longer needed.
                    catalog.DropLive(stream.Name);
                }

                continue;
            }

            var acquisition = catalog.Live(stream.Name);
            var address = broker.Address(PipelineStreams.Profiles, stream.Name);
            foreach (var id in state.Pending.ToArray())
            {
                if (await TryReadAsync(address, id, acquisition, cancellationToken))
                {
                    state.Pending.Remove(id);
                }
            }

            for (var id = state.Highest + 1; id <= stream.LastId; id++)
            {
                if (!await TryReadAsync(address, id, acquisition, cancellationToken))
                {
                    state.Pending.Add(id);
                }

                state.Highest = id;
            }

            if (stream.Finished && state.Pending.Count == 0 && state.Highest >= stream.LastId)
            {
                state.Complete = true;
                acquisition.ProfilesComplete = true;
            }
        }
    }

    private async Task<IReadOnlyList<StreamInfo>> ListAsync(string dataSource, CancellationToken cancellationToken) =>
        await broker.ListStreamsAsync(dataSource, StreamFilter.All, cancellationToken);

    private async Task<bool> TryReadAsync(Address address, ulong id, LiveAcquisition acquisition, CancellationToken cancellationToken)
    {
        try
        {
            var record = await broker.Consumer.GetByIdAsync(new GetByIdRequest { Address = address, Id = id, IncludePayload = true }, broker.Headers,
                deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);
            acquisition.Add(Profile.Parser.ParseFrom(record.Payload), catalog.Wavelength);
            return true;
        }
        catch (RpcException ex) when (BrokerClient.Reason(ex) is "NO_DATA" or "END_OF_STREAM" or "PARTIAL_DATA")
        {
            return false;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException ex)
        {
            Log.BadProfile(log, address.Stream, id, ex.Message);
            return true;
        }
    }

    private sealed class StreamProgress
    {
        public ulong Highest { get; set; }

        public HashSet<ulong> Pending { get; } = [];

        public bool Complete { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, EventName = "BrokerUnavailable", Level = LogLevel.Warning,
            Message = "Cannot read the broker's profiles ({Status}: {Detail}); result files are still served, retrying")]
        public static partial void BrokerUnavailable(ILogger logger, string status, string detail);

        [LoggerMessage(EventId = 1202, EventName = "BrokerBack", Level = LogLevel.Information, Message = "Following the broker's profiles of beamtime {Beamtime}")]
        public static partial void BrokerBack(ILogger logger, string beamtime);

        [LoggerMessage(EventId = 1203, EventName = "BadProfile", Level = LogLevel.Warning, Message = "Profile {Stream}/{Id} is not a Profile message: {Error}")]
        public static partial void BadProfile(ILogger logger, string stream, ulong id, string error);
    }
}
