using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Anvil.Cli;

/// <summary>
/// Retries a unary call that fails with UNAVAILABLE (the service is restarting, or not up yet) with a growing pause,
/// for up to <see cref="GiveUpAfter"/> in all, then lets the error through. For the detector drivers' calls to ingest
/// (<c>anvil simulate</c>, <c>replay</c>, <c>demo</c>): announcing a chunk part and finishing an acquisition are
/// idempotent (the broker keeps each dataset id once and answers a repeat as a duplicate), so a driver whose ingest is
/// killed mid-run resumes where it stopped, and nothing is announced twice.
/// </summary>
public sealed class RetryWhileUnavailable(TextWriter log) : Interceptor
{
    /// <summary>How long a call keeps retrying before the error is final.</summary>
    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The first pause; each later one doubles, up to <see cref="LongestPause"/>.</summary>
    public TimeSpan FirstPause { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan LongestPause { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>An ingest client on <paramref name="channel"/> whose calls retry while ingest is unavailable.</summary>
    public static Pipeline.V1.Ingest.IngestClient Ingest(ChannelBase channel, TextWriter log) =>
        new(channel.Intercept(new RetryWhileUnavailable(log)));

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        var response = CallAsync(request, context, continuation);
        return new AsyncUnaryCall<TResponse>(response, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
    }

    private async Task<TResponse> CallAsync<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context,
        AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        where TRequest : class
        where TResponse : class
    {
        var giveUp = DateTime.UtcNow + GiveUpAfter;
        var pause = FirstPause;
        var announced = false;
        while (true)
        {
            try
            {
                using var call = continuation(request, context);
                return await call.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && DateTime.UtcNow + pause < giveUp
                && !context.Options.CancellationToken.IsCancellationRequested)
            {
                if (!announced)
                {
                    await log.WriteLineAsync($"{context.Host ?? "the service"} is unavailable ({ex.Status.Detail}): retrying {context.Method.Name} for up to {GiveUpAfter.TotalSeconds:0} s");
                    announced = true;
                }

                await Task.Delay(pause, context.Options.CancellationToken).ConfigureAwait(false);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPause.Ticks));
            }
        }
    }
}
