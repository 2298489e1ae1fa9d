using System.Net;

namespace Anvil.ServiceDefaults;

/// <summary>
/// Which addresses a service listens on reach beyond this machine: the one rule for the console (no accounts → loopback
/// only) and for ingest's Control changes (beyond loopback → a token is required).
/// </summary>
public static class ListenAddresses
{
    /// <summary>Whether a bound address (http://127.0.0.1:5181, http://[::1]:0, http://localhost:5181) is loopback only.</summary>
    public static bool IsLoopback(string address)
    {
        var host = BindingHost(address);
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    /// <summary>The addresses of <paramref name="addresses"/> that other machines can reach (0.0.0.0, [::], a LAN address, a host name).</summary>
    public static IReadOnlyList<string> BeyondLoopback(IEnumerable<string> addresses) => [.. addresses.Where(a => !IsLoopback(a))];

    private static string BindingHost(string address)
    {
        var rest = address.Contains("://", StringComparison.Ordinal) ? address[(address.IndexOf("://", StringComparison.Ordinal) + 3)..] : address;
        if (rest.StartsWith('['))
        {
            return rest[1..rest.IndexOf(']', StringComparison.Ordinal)];
        }

        var colon = rest.LastIndexOf(':');
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return colon >= 0 ? rest[..colon] : slash >= 0 ? rest[..slash] : rest;
    }
}
