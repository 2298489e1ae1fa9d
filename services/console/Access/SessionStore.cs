using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace Anvil.Console.Service.Access;

/// <summary>
/// Sessions held by the console itself: the cookie carries only a random key, the identity stays here. Logging out
/// removes the entry, so a copy of the cookie taken before is worthless afterwards (a self-contained cookie would stay
/// valid until it expires). In memory: a restart of the console signs everybody out.
/// </summary>
public sealed class SessionStore(TimeProvider time) : ITicketStore
{
    private readonly ConcurrentDictionary<string, AuthenticationTicket> tickets = new(StringComparer.Ordinal);

    /// <summary>Sessions currently held.</summary>
    public int Count => tickets.Count;

    public Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        Sweep();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        tickets[key] = ticket;
        return Task.FromResult(key);
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        // Only a session that still exists is renewed: a logged-out key stays gone.
        if (tickets.ContainsKey(key))
        {
            tickets[key] = ticket;
        }

        return Task.CompletedTask;
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key)
    {
        if (tickets.TryGetValue(key, out var ticket) && ticket.Properties.ExpiresUtc is { } expires && expires <= time.GetUtcNow())
        {
            tickets.TryRemove(key, out _);
            ticket = null;
        }

        return Task.FromResult(ticket);
    }

    public Task RemoveAsync(string key)
    {
        tickets.TryRemove(key, out _);
        return Task.CompletedTask;
    }

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var (key, ticket) in tickets)
        {
            if (ticket.Properties.ExpiresUtc is { } expires && expires <= now)
            {
                tickets.TryRemove(key, out _);
            }
        }
    }
}

/// <summary>
/// Failed logins per (name, client address): after <see cref="AccessOptions.MaxFailedLogins"/> in a row that pair is
/// locked for <see cref="AccessOptions.LoginLockout"/> (a correct password is refused too meanwhile); a success clears it.
/// Keyed by the pair, so someone guessing from another PC cannot lock the operator out of their own.
/// </summary>
public sealed class LoginThrottle(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (int Failures, DateTimeOffset LockedUntil)> state = new(StringComparer.Ordinal);

    /// <summary>How long the pair must still wait, or null when it may try.</summary>
    public TimeSpan? LockedFor(string name, string remote)
    {
        var now = time.GetUtcNow();
        return state.TryGetValue(Key(name, remote), out var s) && s.LockedUntil > now ? s.LockedUntil - now : null;
    }

    /// <summary>Counts a failure; returns true when it locked the pair.</summary>
    public bool Fail(string name, string remote, int maxFailures, TimeSpan lockout)
    {
        var now = time.GetUtcNow();
        var next = state.AddOrUpdate(Key(name, remote), (1, DateTimeOffset.MinValue), (_, s) => (s.LockedUntil > DateTimeOffset.MinValue && s.LockedUntil <= now ? 1 : s.Failures + 1, s.LockedUntil <= now ? DateTimeOffset.MinValue : s.LockedUntil));
        if (next.Failures >= maxFailures && next.LockedUntil <= now)
        {
            state[Key(name, remote)] = (0, now + lockout);
            return true;
        }

        return false;
    }

    /// <summary>A successful login clears the pair.</summary>
    public void Succeed(string name, string remote) => state.TryRemove(Key(name, remote), out _);

    private static string Key(string name, string remote) => name.Trim().ToLowerInvariant() + "\n" + remote;
}
