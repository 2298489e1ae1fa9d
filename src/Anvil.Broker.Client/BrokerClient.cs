using System.Diagnostics;
using Anvil.Broker.V1;
using Google.Rpc;
using Grpc.Core;
using Grpc.Net.Client;

namespace Anvil.Broker.Client;

/// <summary>
/// Typed access to the Anvil broker: sends carry trace context, reads return a <see cref="ReadResult{T}"/>
/// instead of throwing for END_OF_STREAM / STREAM_FINISHED / gaps, and transient failures are retried
/// with identical content (safe: the broker treats identical resends as duplicates).
/// </summary>
public sealed class BrokerClient : IDisposable
{
    private readonly GrpcChannel? ownedChannel;
    private readonly Producer.ProducerClient producer;
    private readonly Consumer.ConsumerClient consumer;
    private readonly Metadata headers = [];

    /// <summary>Creates a client over an existing channel (not owned).</summary>
    public BrokerClient(ChannelBase channel, BrokerClientOptions options)
    {
        Options = options;
        producer = new Producer.ProducerClient(channel);
        consumer = new Consumer.ConsumerClient(channel);
        if (options.Token is { Length: > 0 } token)
        {
            headers.Add("authorization", "Bearer " + token);
        }
    }

    private BrokerClient(GrpcChannel channel, BrokerClientOptions options, bool owned)
        : this((ChannelBase)channel, options)
    {
        if (owned)
        {
            ownedChannel = channel;
        }
    }

    /// <summary>The options the client was made with.</summary>
    public BrokerClientOptions Options { get; }

    /// <summary>The raw consumer client, for calls this wrapper does not type.</summary>
    public Consumer.ConsumerClient Consumer => consumer;

    /// <summary>The raw producer client, for calls this wrapper does not type.</summary>
    public Producer.ProducerClient Producer => producer;

    /// <summary>Call headers (the token) to pass to raw calls.</summary>
    public Metadata Headers => headers;

    /// <summary>Connects to a broker at an address such as <c>http://127.0.0.1:5100</c>.</summary>
    public static BrokerClient Connect(string address, BrokerClientOptions options) =>
        new(GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = 32 * 1024 * 1024,
            MaxSendMessageSize = 32 * 1024 * 1024,
        }), options, owned: true);

    /// <summary>An address in this client's beamtime.</summary>
    public Address Address(string dataSource, string stream) =>
        new() { Beamtime = Options.Beamtime, DataSource = dataSource, Stream = stream };

    /// <summary>Sends one message once it is durable; retried while the broker is unavailable.</summary>
    public async Task<SendReply> SendAsync(SendRequest request, CancellationToken cancellationToken = default)
    {
        using var activity = BrokerTelemetry.StartPublish(request, Options.Beamtime);
        try
        {
            return await RetryAsync(() => producer.SendAsync(request, headers, cancellationToken: cancellationToken).ResponseAsync, cancellationToken);
        }
        catch (RpcException ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Status.Detail);
            throw;
        }
    }

    /// <summary>Sends a batch over one client-streaming call; per-message results in request order.</summary>
    public async Task<SendBatchReply> SendBatchAsync(IReadOnlyList<SendRequest> requests, CancellationToken cancellationToken = default)
    {
        var activities = new List<Activity>(requests.Count);
        var parent = Activity.Current;
        foreach (var request in requests)
        {
            if (BrokerTelemetry.StartPublish(request, Options.Beamtime) is { } activity)
            {
                activities.Add(activity);
            }

            // One publish span per message, all siblings under the caller's span (not each the child of the last).
            Activity.Current = parent;
        }

        try
        {
            var reply = await RetryAsync(async () =>
            {
                // One request for the whole batch (SendMany): one HTTP/2 message instead of one per frame.
                var many = new SendManyRequest();
                many.Messages.AddRange(requests);
                return await producer.SendManyAsync(many, headers, cancellationToken: cancellationToken);
            }, cancellationToken);
            for (var i = 0; i < activities.Count && i < reply.Results.Count; i++)
            {
                if (reply.Results[i].Code != 0)
                {
                    activities[i].SetStatus(ActivityStatusCode.Error, reply.Results[i].Message);
                }
            }

            return reply;
        }
        finally
        {
            foreach (var activity in activities)
            {
                activity.Dispose();
            }
        }
    }

    /// <summary>Marks a stream finished after <paramref name="lastId"/>; an identical repeat is a success.</summary>
    public Task<FinishStreamReply> FinishStreamAsync(Address address, ulong lastId, string nextStream = "",
        SourceType sourceType = SourceType.Processed, CancellationToken cancellationToken = default) =>
        RetryAsync(() => producer.FinishStreamAsync(new FinishStreamRequest
        {
            Address = address,
            LastId = lastId,
            NextStream = nextStream,
            SourceType = sourceType,
        }, headers, cancellationToken: cancellationToken).ResponseAsync, cancellationToken);

    /// <summary>The next message for the group, or why there is none.</summary>
    public Task<ReadResult<MessageRecord>> GetNextAsync(GetNextRequest request, CancellationToken cancellationToken = default) =>
        ReadAsync(() => consumer.GetNextAsync(request, headers, Deadline(request.TimeoutMs), cancellationToken).ResponseAsync, cancellationToken);

    /// <summary>The next dataset for the group, or why there is none.</summary>
    public Task<ReadResult<Dataset>> GetNextDatasetAsync(GetNextDatasetRequest request, CancellationToken cancellationToken = default) =>
        ReadAsync(() => consumer.GetNextDatasetAsync(request, headers, Deadline(request.TimeoutMs), cancellationToken).ResponseAsync, cancellationToken);

    /// <summary>The newest message of a stream (no group marker), or null when the stream is empty.</summary>
    public async Task<MessageRecord?> GetLastAsync(Address address, CancellationToken cancellationToken = default)
    {
        var result = await ReadAsync(() => consumer.GetLastAsync(new GetLastRequest { Address = address }, headers,
            cancellationToken: cancellationToken).ResponseAsync, cancellationToken);
        return result.Value;
    }

    /// <summary>Acknowledges one id; a repeated ack (ALREADY_ACKNOWLEDGED) counts as success.</summary>
    public async Task AcknowledgeAsync(Address address, string group, ulong id, CancellationToken cancellationToken = default)
    {
        try
        {
            await RetryAsync(() => consumer.AcknowledgeAsync(new AckRequest { Address = address, Group = group, Id = id },
                headers, cancellationToken: cancellationToken).ResponseAsync, cancellationToken);
        }
        catch (RpcException ex) when (Reason(ex) == "ALREADY_ACKNOWLEDGED")
        {
            // ASAP::O parity makes a second ack an error; for a worker that retried, it is success.
        }
    }

    /// <summary>Acknowledges many ids of one stream in one call.</summary>
    public Task<AckManyReply> AcknowledgeManyAsync(Address address, string group, IEnumerable<ulong> ids, CancellationToken cancellationToken = default)
    {
        var request = new AckManyRequest { Address = address, Group = group };
        request.Ids.AddRange(ids);
        return RetryAsync(() => consumer.AcknowledgeManyAsync(request, headers, cancellationToken: cancellationToken).ResponseAsync, cancellationToken);
    }

    /// <summary>Streams of a data source.</summary>
    public async Task<IReadOnlyList<StreamInfo>> ListStreamsAsync(string dataSource, StreamFilter filter = StreamFilter.All, CancellationToken cancellationToken = default)
    {
        var reply = await RetryAsync(() => consumer.ListStreamsAsync(new ListStreamsRequest
        {
            Address = Address(dataSource, string.Empty),
            Filter = filter,
        }, headers, cancellationToken: cancellationToken).ResponseAsync, cancellationToken);
        return reply.Streams;
    }

    /// <summary>The ErrorInfo reason of a broker error, or the status code's name.</summary>
    public static string Reason(RpcException ex) => Info(ex)?.Reason ?? ex.StatusCode.ToString();

    /// <summary>True for failures worth retrying with identical content.</summary>
    public static bool IsTransient(RpcException ex) =>
        ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded ||
        (ex.StatusCode == StatusCode.ResourceExhausted && Reason(ex) != "TOO_MANY_UNACKED");

    /// <inheritdoc />
    public void Dispose() => ownedChannel?.Dispose();

    private static ErrorInfo? Info(RpcException ex)
    {
        try
        {
            return ex.GetRpcStatus()?.GetDetail<ErrorInfo>();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static DateTime? Deadline(uint timeoutMs) => DateTime.UtcNow.AddMilliseconds(timeoutMs + 5000.0);

    private async Task<ReadResult<T>> ReadAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return new ReadResult<T>(ReadOutcome.Delivered, await RetryAsync(call, cancellationToken));
        }
        catch (RpcException ex) when (Info(ex) is { } info && info.Reason is "END_OF_STREAM" or "STREAM_FINISHED" or "NO_DATA" or "PARTIAL_DATA")
        {
            ulong Number(string key) => info.Metadata.TryGetValue(key, out var v) && ulong.TryParse(v, out var n) ? n : 0;
            var outcome = info.Reason switch
            {
                "END_OF_STREAM" => ReadOutcome.EndOfStream,
                "STREAM_FINISHED" => ReadOutcome.Finished,
                _ => ReadOutcome.Gap,
            };
            return new ReadResult<T>(outcome, null,
                LastId: Number("last_id"),
                NextStream: info.Metadata.TryGetValue("next_stream", out var next) ? next : string.Empty,
                GapId: Number("id"),
                StreamExists: !info.Metadata.TryGetValue("stream_exists", out var exists) || exists != "false",
                Reason: info.Reason);
        }
    }

    private async Task<T> RetryAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + Options.RetryFor;
        var fullDeadline = DateTime.UtcNow + (Options.RetryWhileFullFor ?? Options.RetryFor);
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (RpcException ex) when (IsTransient(ex) && DateTime.UtcNow < (Reason(ex) == "STORAGE_FULL" ? fullDeadline : deadline)
                && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
            }
        }
    }
}
