using Anvil.ServiceDefaults;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Anvil.Console.Service.Access;

/// <summary>
/// Refuses to run a console that listens on a non-loopback address without accounts: it would let every PC that reaches
/// it read every result and, behind a proxy, operate the run. Checked once the server listens (the addresses it really
/// bound, whatever configured them: Kestrel endpoints, ASPNETCORE_URLS, --urls); until then <see cref="AccessGate"/>
/// serves no request that arrived on a non-loopback address. The host then stops with this message.
/// </summary>
public sealed partial class BindCheck(IServer server, ConsoleAccess access, AuditLog audit, ILogger<BindCheck> logger) : IHostedLifecycleService
{
    /// <summary>How to add accounts, in every message that needs them.</summary>
    public const string HowToAddAccounts =
        "Add accounts: `./anvil console-user NAME --role operator|viewer` (password on stdin) prints an entry; put the entries in a file named by Console:UsersFile (Console__UsersFile), or under Console:Users. Or bind the page to 127.0.0.1 only (services/console README \"Access\").";

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var open = addresses.Where(a => !IsLoopback(a)).ToList();
        if (!access.LoginRequired && open.Count > 0)
        {
            var message = $"The console listens on {string.Join(", ", open)}, which other machines can reach, but has no accounts, so anyone there could read every result and operate the run. It will not start like this. {HowToAddAccounts}";
            Refused(logger, message);
            throw new InvalidOperationException(message);
        }

        var mode = access.LoginRequired ? "login required (accounts configured)" : "no accounts: loopback only, this machine operates";
        var bound = string.Join(", ", addresses);
        Started(logger, mode, bound, audit.Path);
        return Task.CompletedTask;
    }

    /// <summary>Whether a bound address (http://127.0.0.1:5181, http://[::1]:0, http://localhost:5181) is loopback only (<see cref="ListenAddresses"/>).</summary>
    public static bool IsLoopback(string address) => ListenAddresses.IsLoopback(address);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1282, EventName = "ConsoleRefusedToStart", Level = LogLevel.Critical, Message = "{Message}")]
    private static partial void Refused(ILogger logger, string message);

    [LoggerMessage(EventId = 1283, EventName = "ConsoleAccess", Level = LogLevel.Information, Message = "Console access: {Mode}; listening on {Addresses}; audit log {AuditLog}")]
    private static partial void Started(ILogger logger, string mode, string addresses, string auditLog);
}
