using Anvil.Broker.Auth;
using Anvil.Broker.Core;
using Anvil.Broker.Service.Options;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Anvil.Broker.Service.Grpc;

/// <summary>
/// docs/broker.md §8 for the service: authenticates the <c>authorization</c> header and authorises a beamtime and access type.
/// Checks run authentication → request shape → authorisation → semantics (§6): an address whose beamtime cannot be
/// resolved is left to the core, which rejects it with INVALID_ARGUMENT before anything is read.
/// </summary>
public sealed partial class BrokerAuth
{
    private const string PrincipalKey = "anvil.broker.principal";
    private readonly BrokerOptions core;
    private readonly ILogger<BrokerAuth> logger;

    public BrokerAuth(IOptions<BrokerServiceOptions> options, MessageBroker broker, TimeProvider time, ILogger<BrokerAuth> logger)
    {
        var auth = options.Value.Auth;
        Enabled = auth.Enabled;
        core = broker.Options;
        this.logger = logger;
        if (Enabled)
        {
            var keys = SigningKeys.Load(auth.SecretFile, Environment.GetEnvironmentVariable(SigningKeys.EnvironmentVariable));
            var revocations = string.IsNullOrWhiteSpace(auth.RevocationFile) ? null : new RevocationList(auth.RevocationFile, time);
            Tokens = new BrokerTokens(keys, revocations, time);
        }
    }

    public bool Enabled { get; }

    /// <summary>Null when auth is off.</summary>
    public BrokerTokens? Tokens { get; }

    /// <summary>The principal the interceptor stored for this call (null when auth is off).</summary>
    public static TokenPrincipal? PrincipalOf(ServerCallContext context) =>
        context.UserState.TryGetValue(PrincipalKey, out var value) ? value as TokenPrincipal : null;

    /// <summary>Authenticates the call and remembers the principal on it; null when auth is off.</summary>
    public TokenPrincipal? Authenticate(ServerCallContext context)
    {
        if (Tokens is null)
        {
            return null;
        }

        try
        {
            var principal = Tokens.Authenticate(context.RequestHeaders.GetValue("authorization"));
            context.UserState[PrincipalKey] = principal;
            return principal;
        }
        catch (BrokerException ex)
        {
            Log.Unauthenticated(logger, context.Method, ex.Reason);
            throw;
        }
    }

    /// <summary>Authorises one address (a call's, or each SendBatch message's) for an access type.</summary>
    public void Authorize(TokenPrincipal? principal, V1.Address? address, BrokerAccess required, string method)
    {
        if (principal is null || ResolveBeamtime(address) is not { } beamtime)
        {
            return;
        }

        Authorize(principal, beamtime, required, method);
    }

    public void Authorize(TokenPrincipal principal, string beamtime, BrokerAccess required, string method)
    {
        try
        {
            BrokerTokens.Authorize(principal, beamtime, required);
        }
        catch (BrokerException ex)
        {
            Log.Denied(logger, method, ex.Reason, principal.Subject, principal.Jti);
            throw;
        }
    }

    /// <summary>The beamtime an address names ("auto" resolved), or null when malformed (the core rejects it).</summary>
    public string? ResolveBeamtime(V1.Address? address)
    {
        if (address is null)
        {
            return null;
        }

        var beamtime = address.Beamtime;
        if (beamtime == "auto" && !core.Beamlines.TryGetValue(address.Beamline, out beamtime!))
        {
            return null;
        }

        return IsBeamtime(beamtime) ? beamtime : null;
    }

    internal static bool IsBeamtime(string beamtime) =>
        beamtime.Length is >= 1 and <= 128 && beamtime.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static partial class Log
    {
        // Never the token or the secret: the method, the reason and, once known, sub and jti (§8).
        [LoggerMessage(EventId = 1101, EventName = "Unauthenticated", Level = LogLevel.Debug, Message = "Refused {Method}: {Reason}")]
        public static partial void Unauthenticated(ILogger logger, string method, string reason);

        [LoggerMessage(EventId = 1102, EventName = "PermissionDenied", Level = LogLevel.Debug, Message = "Denied {Method} to {Subject} (jti {Jti}): {Reason}")]
        public static partial void Denied(ILogger logger, string method, string reason, string subject, string jti);
    }
}
