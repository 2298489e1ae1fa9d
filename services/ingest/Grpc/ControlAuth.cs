using Anvil.Broker.Auth;
using Anvil.Broker.Core;
using Anvil.Ingest.Service.Options;
using Anvil.Pipeline;
using Anvil.ServiceDefaults;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Anvil.Ingest.Service.Grpc;

/// <summary>
/// The token rule for Control changes (<see cref="ControlAuthOptions"/>). Decided once the server listens, from the
/// addresses it really bound (Kestrel endpoints, ASPNETCORE_URLS, --urls): beyond loopback, a change needs
/// <c>authorization: Bearer &lt;token&gt;</c> with access <c>control</c> for the pipeline's beamtime, checked with the
/// broker's own token code (<see cref="BrokerTokens"/>). An ingest that must check tokens and has no secret to check
/// them with does not start. Reads (GetSettings, GetPauseState, ListAcquisitions, Browse) stay open, as on the broker
/// side nothing they return is a secret; detector drivers' Ingest calls are not affected.
/// </summary>
public sealed partial class ControlAuth(IServer server, IOptions<ControlAuthOptions> options, PipelineOptions pipeline, ILogger<ControlAuth> logger)
    : IHostedLifecycleService
{
    /// <summary>The Control methods that change the run.</summary>
    public static readonly IReadOnlySet<string> Changes = new HashSet<string>(StringComparer.Ordinal)
    {
        "/anvil.pipeline.v1.Control/UpdateSettings",
        "/anvil.pipeline.v1.Control/Reprocess",
        "/anvil.pipeline.v1.Control/Pause",
        "/anvil.pipeline.v1.Control/Resume",
        "/anvil.pipeline.v1.Control/StopAcquisition",
    };


    private BrokerTokens? tokens;
    private volatile bool decided;

    /// <summary>True once the server listens and changes need a token.</summary>
    public bool Required { get; private set; }

    /// <summary>Checks a change's <c>authorization</c> header; throws UNAUTHENTICATED or PERMISSION_DENIED saying what to fix.</summary>
    public void Check(string method, Metadata headers)
    {
        if (!decided)
        {
            // A call before the server reported its addresses: decide from the configuration alone, never more open than it says.
            Decide();
        }

        if (!Required || !Changes.Contains(method))
        {
            return;
        }

        try
        {
            var principal = tokens!.Authenticate(headers.GetValue("authorization"));
            BrokerTokens.Authorize(principal, pipeline.Beamtime, BrokerAccess.Control);
        }
        catch (BrokerException ex)
        {
            var code = ex.Code == BrokerErrorCode.PermissionDenied ? StatusCode.PermissionDenied : StatusCode.Unauthenticated;
            throw new RpcException(new Status(code,
                $"{method[(method.LastIndexOf('/') + 1)..]} changes the run and this ingest takes changes only with a token of access 'control' for beamtime {pipeline.Beamtime}: {ex.Message} "
                + $"Mint one with `./anvil broker token --beamtime {pipeline.Beamtime} --access control` and send it as 'authorization: Bearer <token>' (the CLI: --token FILE, or Pipeline:BrokerToken)."));
        }
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (!decided)
        {
            Decide();
        }

        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Until the server has bound its addresses (it has before it takes a call) only an explicit setting decides.
    private void Decide()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var open = ListenAddresses.BeyondLoopback(addresses);
        var bound = string.Join(", ", addresses);
        var enabled = options.Value.Enabled;
        if (enabled is null && addresses.Count == 0)
        {
            return;
        }

        if (enabled == false)
        {
            Required = false;
            Unchecked(logger, bound);
        }
        else if (enabled == true || open.Count > 0)
        {
            try
            {
                tokens ??= new BrokerTokens(SigningKeys.Load(options.Value.SecretFile, Environment.GetEnvironmentVariable(SigningKeys.EnvironmentVariable)));
            }
            catch (AuthConfigurationException ex)
            {
                var where = open.Count > 0 ? $"Ingest listens on {string.Join(", ", open)}, which other machines can reach" : "Control:Auth:Enabled is true";
                var message = $"{where}, so Control changes need a token, but none can be checked: {ex.Message} Set Control:Auth:SecretFile (Control__Auth__SecretFile) to the broker's secret file, or bind ingest to 127.0.0.1 only, or set Control:Auth:Enabled=false to take changes from anyone who reaches it.";
                Refused(logger, message);
                throw new InvalidOperationException(message, ex);
            }

            Required = true;
            Decided(logger, "changes need a token of access control for the beamtime", bound);
        }
        else
        {
            Required = false;
            Decided(logger, "loopback only: changes need no token", bound);
        }

        decided = true;
    }

    [LoggerMessage(EventId = 2101, EventName = "ControlAuth", Level = LogLevel.Information, Message = "Control: {Mode}; listening on {Addresses}")]
    private static partial void Decided(ILogger logger, string mode, string addresses);

    [LoggerMessage(EventId = 2102, EventName = "ControlUnchecked", Level = LogLevel.Warning,
        Message = "Control changes are taken from anyone who reaches ingest (Control:Auth:Enabled=false); listening on {Addresses}")]
    private static partial void Unchecked(ILogger logger, string addresses);

    [LoggerMessage(EventId = 2103, EventName = "ControlRefusedToStart", Level = LogLevel.Critical, Message = "{Message}")]
    private static partial void Refused(ILogger logger, string message);
}

/// <summary>Applies <see cref="ControlAuth"/> to every call; Control changes without a valid token end here.</summary>
public sealed class ControlAuthInterceptor(ControlAuth auth) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        auth.Check(context.Method, context.RequestHeaders);
        return continuation(request, context);
    }
}
