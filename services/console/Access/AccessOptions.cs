using Anvil.Viewer.Access;

namespace Anvil.Console.Service.Access;

/// <summary>
/// Who may use the console (section <c>Console</c>, beside <see cref="Catalog.ConsoleOptions"/>; services/console README
/// "Access"). No accounts: the console answers only on loopback and lets the local machine operate, as before; with
/// accounts, everything but the login page and gRPC health needs a login.
/// </summary>
public sealed record AccessOptions
{
    /// <summary>Accounts given in configuration (<c>Console:Users:0:Name</c>, <c>…:Role</c>, <c>…:PasswordHash</c>).</summary>
    public ConsoleUser[] Users { get; init; } = [];

    /// <summary>A file of accounts (JSON lines as `anvil console-user` prints them, or a JSON array): a Compose or Kubernetes secret.</summary>
    public string? UsersFile { get; init; }

    /// <summary>The audit log (JSON lines); empty = <c>console-audit.jsonl</c> in <c>Pipeline:OutputDir</c>.</summary>
    public string? AuditLog { get; init; }

    /// <summary>A session ends after this long without a request (the page's own polling keeps an open page signed in).</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Failed logins of one name from one address before that pair is locked out.</summary>
    public int MaxFailedLogins { get; init; } = 5;

    /// <summary>How long a locked-out name/address pair must wait.</summary>
    public TimeSpan LoginLockout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Every failed login is answered only after this delay (slows guessing; costs the server nothing but a timer).</summary>
    public TimeSpan FailedLoginDelay { get; init; } = TimeSpan.FromSeconds(1);
}
