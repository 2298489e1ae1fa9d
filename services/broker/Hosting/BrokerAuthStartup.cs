using Anvil.Broker.Service.Grpc;

namespace Anvil.Broker.Service.Hosting;

/// <summary>Loads the signing secret before the broker serves (a bad configuration stops the start) and says how auth is set.</summary>
internal sealed partial class BrokerAuthStartup(BrokerAuth auth, ILogger<BrokerAuthStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (auth.Tokens is { } tokens)
        {
            Log.AuthOn(logger, tokens.Keys.Keys.Count, tokens.Keys.Current.Kid, tokens.Revocations?.Path ?? "(none)");
        }
        else
        {
            Log.AuthOff(logger);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(EventId = 1103, EventName = "AuthOn", Level = LogLevel.Information, Message = "Broker auth on: {Keys} signing key(s), newest kid {Kid}, revocation file {RevocationFile}")]
        public static partial void AuthOn(ILogger logger, int keys, string kid, string revocationFile);

        [LoggerMessage(EventId = 1104, EventName = "AuthOff", Level = LogLevel.Warning, Message = "Broker auth is OFF (Broker:Auth:Enabled=false): every caller may read, write and delete every beamtime")]
        public static partial void AuthOff(ILogger logger);
    }
}
