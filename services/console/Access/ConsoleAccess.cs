using System.Net;
using System.Security.Claims;
using Anvil.Console.Service.Catalog;
using Anvil.Viewer.Access;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Access;

/// <summary>
/// The console's accounts (from <see cref="AccessOptions.Users"/> and <see cref="AccessOptions.UsersFile"/>, read once at
/// start) and the one answer to "may this request operate?" that the API, the status and the page share.
/// </summary>
public sealed class ConsoleAccess
{
    /// <summary>The cookie authentication scheme.</summary>
    public const string Scheme = "AnvilConsole";

    // Verified for unknown names too, so a wrong name costs as long as a wrong password (no account enumeration by timing).
    private static readonly string DummyHash = ConsolePassword.Hash("no such account", 600_000);

    private readonly Dictionary<string, ConsoleUser> users;
    private readonly IOptions<ConsoleOptions> console;

    public ConsoleAccess(IOptions<AccessOptions> options, IOptions<ConsoleOptions> console)
    {
        this.console = console;
        var all = options.Value.Users.ToList();
        if (options.Value.UsersFile is { Length: > 0 } file)
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"Console:UsersFile '{file}' does not exist (or is not a file). Create it with `./anvil console-user NAME --role operator|viewer >> {file}` (password on stdin), or remove the setting.");
            }

            all.AddRange(ConsoleAccounts.ReadFile(file));
        }

        var problems = ConsoleAccounts.Problems(all);
        if (problems.Count > 0)
        {
            throw new InvalidOperationException("The console's accounts are not valid: " + string.Join(" ", problems));
        }

        users = all.ToDictionary(u => u.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Whether accounts are configured (then everything needs a login).</summary>
    public bool LoginRequired => users.Count > 0;

    /// <summary>The account <paramref name="name"/> when <paramref name="password"/> is its password; null otherwise (same cost either way).</summary>
    public ConsoleUser? Check(string name, string password)
    {
        var user = users.GetValueOrDefault(name.Trim());
        var ok = ConsolePassword.Verify(password, user?.PasswordHash ?? DummyHash);
        return ok ? user : null;
    }

    /// <summary>The principal a session carries: name and role.</summary>
    public static ClaimsPrincipal Principal(ConsoleUser user) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, user.Name), new Claim(ClaimTypes.Name, user.Name), new Claim(ClaimTypes.Role, user.ParsedRole.ToString().ToLowerInvariant())],
        Scheme));

    /// <summary>The signed-in user's name and role, or (null, null).</summary>
    public static (string? Name, string? Role) Who(HttpContext http) =>
        http.User.Identity?.IsAuthenticated == true ? (http.User.Identity.Name, http.User.FindFirstValue(ClaimTypes.Role)) : (null, null);

    /// <summary>
    /// Whether this request may operate the run. With accounts: the signed-in user is an operator. Without: the client is
    /// on this machine (a loopback address, or one of <see cref="ConsoleOptions.OperatorAddresses"/>) and did not come
    /// through a proxy (a forwarded request would make every client look local).
    /// </summary>
    public bool CanOperate(HttpContext http)
    {
        if (LoginRequired)
        {
            return http.User.Identity?.IsAuthenticated == true && http.User.IsInRole("operator");
        }

        if (http.Connection.RemoteIpAddress is not { } remote || ViaProxy(http.Request))
        {
            return false;
        }

        var client = remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
        var allowed = console.Value.OperatorAddresses;
        return allowed.Length == 0
            ? IPAddress.IsLoopback(client)
            : allowed.Any(a => IPAddress.TryParse(a, out var address) && address.Equals(client));
    }

    /// <summary>Whether the request carries a proxy's forwarding headers.</summary>
    public static bool ViaProxy(HttpRequest request) =>
        request.Headers.ContainsKey("X-Forwarded-For") || request.Headers.ContainsKey("Forwarded");

    /// <summary>The client's address as the audit log records it.</summary>
    public static string Remote(HttpContext http) =>
        http.Connection.RemoteIpAddress is { } a ? (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToString() : "unknown";
}
