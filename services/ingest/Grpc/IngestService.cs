using Anvil.Broker.Client;
using Anvil.Ingest.Service.Ingesting;
using Anvil.Ingest.Service.Options;
using Anvil.Pipeline.V1;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Anvil.Ingest.Service.Grpc;

/// <summary>The producer endpoint detector drivers call: thin mapping onto <see cref="ChunkAnnouncer"/>.</summary>
public sealed class IngestService(ChunkAnnouncer announcer, IOptions<IngestOptions> options) : Anvil.Pipeline.V1.Ingest.IngestBase
{
    /// <inheritdoc />
    public override async Task<AnnounceChunkReply> AnnounceChunk(AnnounceChunkRequest request, ServerCallContext context)
    {
        var reply = await Guard(() => announcer.AnnounceAsync(request, context.CancellationToken));
        return new AnnounceChunkReply { Id = reply.Id, Duplicate = reply.Duplicate };
    }

    /// <inheritdoc />
    public override async Task<IngestStatusReply> AnnounceChunks(IAsyncStreamReader<AnnounceChunkRequest> requestStream, ServerCallContext context)
    {
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            await Guard(() => announcer.AnnounceAsync(request, context.CancellationToken));
        }

        return Status();
    }

    /// <inheritdoc />
    public override async Task<FinishAcquisitionReply> FinishAcquisition(FinishAcquisitionRequest request, ServerCallContext context)
    {
        var reply = await Guard(() => announcer.FinishAsync(request, context.CancellationToken));
        return new FinishAcquisitionReply { Duplicate = reply.Duplicate };
    }

    /// <inheritdoc />
    public override Task<IngestStatusReply> GetStatus(IngestStatusRequest request, ServerCallContext context) => Task.FromResult(Status());

    private IngestStatusReply Status()
    {
        var reply = new IngestStatusReply
        {
            DataRoot = announcer.DataRootPath,
            ChunksAnnounced = (ulong)announcer.ChunksAnnounced,
            AcquisitionsFinished = (ulong)announcer.AcquisitionsFinished,
        };
        if (options.Value.Watch is { Length: > 0 } watch)
        {
            reply.Watching.Add(watch);
        }

        return reply;
    }

    // Bad input is the caller's to fix: INVALID_ARGUMENT with the message. The broker's full disk is UNAVAILABLE, which
    // detector drivers retry (nothing was stored; the broker keeps each chunk part once, so a retry is safe). Other
    // broker errors pass through.
    private static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (ArgumentException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }
        catch (RpcException ex) when (BrokerClient.Reason(ex) == "STORAGE_FULL")
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"The broker's disk is full: nothing was announced. Retry once there is room in the broker's data directory (Broker:DataDir). Broker: {ex.Status.Detail}"));
        }
    }
}
