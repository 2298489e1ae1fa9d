using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Anvil.Broker.Core;

namespace Anvil.Broker.Auth;

/// <summary>Who a valid token speaks for. Logs may name <see cref="Subject"/> and <see cref="Jti"/>, never the token.</summary>
public sealed record TokenPrincipal(string Beamtime, BrokerAccess Access, string Jti, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>The <c>sub</c> claim: <c>bt_&lt;beamtime&gt;</c>.</summary>
    public string Subject => "bt_" + Beamtime;
}

/// <summary>
/// Compact JWTs signed with HMAC-SHA256 (docs/broker.md §8): header <c>{"alg":"HS256","typ":"JWT","kid"}</c>, claims <c>sub</c>
/// (<c>bt_&lt;beamtime&gt;</c>), <c>access</c>, <c>iat</c>, <c>exp</c>, <c>jti</c>. Any other <c>alg</c> (<c>none</c>
/// included) is refused; the signature is compared in constant time; clock leeway 30 s.
/// </summary>
public sealed class BrokerTokens
{
    /// <summary>Clock leeway for <c>iat</c> and <c>exp</c>.</summary>
    public static readonly TimeSpan Leeway = TimeSpan.FromSeconds(30);

    /// <summary>TTL when the caller names none.</summary>
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(24);

    private const int CacheLimit = 4096;

    // Validating the same token again (every call of a long-lived client) costs a dictionary lookup, not an HMAC
    // and a JSON parse. Only tokens that verified are cached, and the expiry and revocation checks still run per call.
    private readonly ConcurrentDictionary<string, TokenPrincipal> cache = new(StringComparer.Ordinal);
    private readonly TimeProvider time;

    public BrokerTokens(SigningKeys keys, RevocationList? revocations = null, TimeProvider? time = null)
    {
        Keys = keys;
        Revocations = revocations;
        this.time = time ?? TimeProvider.System;
    }

    public SigningKeys Keys { get; }

    public RevocationList? Revocations { get; }

    /// <summary>Signs a token for one beamtime with the newest key.</summary>
    public string Mint(string beamtime, BrokerAccess access, TimeSpan? ttl = null, string? jti = null)
    {
        if (access == BrokerAccess.None)
        {
            throw new ArgumentException("a token needs at least one access type", nameof(access));
        }

        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "HS256", ["typ"] = "JWT", ["kid"] = Keys.Current.Kid });
        using var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("sub", "bt_" + beamtime);
            json.WriteStartArray("access");
            foreach (var name in BrokerAccessNames.Names(access))
            {
                json.WriteStringValue(name);
            }

            json.WriteEndArray();
            json.WriteNumber("iat", now);
            json.WriteNumber("exp", now + (long)(ttl ?? DefaultTtl).TotalSeconds);
            json.WriteString("jti", jti ?? Guid.NewGuid().ToString("N"));
            json.WriteEndObject();
        }

        var signingInput = Base64Url.EncodeToString(header) + "." + Base64Url.EncodeToString(body.ToArray());
        var signature = HMACSHA256.HashData(Keys.Current.Secret, Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>
    /// Checks an <c>authorization</c> header value (<c>Bearer &lt;token&gt;</c>); throws UNAUTHENTICATED
    /// (TOKEN_MISSING / TOKEN_INVALID / TOKEN_EXPIRED / TOKEN_REVOKED) with a message that never echoes the token.
    /// </summary>
    public TokenPrincipal Authenticate(string? authorization)
    {
        if (string.IsNullOrWhiteSpace(authorization))
        {
            throw Unauthenticated(ErrorReasons.TokenMissing, "No token: send the metadata header 'authorization: Bearer <token>' (mint one with `anvil broker token`).");
        }

        const string Bearer = "Bearer ";
        if (!authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            throw Unauthenticated(ErrorReasons.TokenInvalid, "The authorization header must read 'Bearer <token>'.");
        }

        var token = authorization[Bearer.Length..].Trim();
        if (!cache.TryGetValue(token, out var principal))
        {
            principal = Verify(token);
            if (cache.Count >= CacheLimit)
            {
                cache.Clear();
            }

            cache[token] = principal;
        }

        var now = time.GetUtcNow();
        if (now > principal.ExpiresAt + Leeway)
        {
            throw Unauthenticated(ErrorReasons.TokenExpired, $"The token expired at {principal.ExpiresAt:u}; mint a new one.");
        }

        if (now + Leeway < principal.IssuedAt)
        {
            throw Unauthenticated(ErrorReasons.TokenInvalid, $"The token is not valid before {principal.IssuedAt:u}; check the clocks.");
        }

        if (Revocations?.IsRevoked(principal.Jti) == true)
        {
            throw Unauthenticated(ErrorReasons.TokenRevoked, $"The token {principal.Jti} has been revoked.");
        }

        return principal;
    }

    /// <summary>
    /// Checks that <paramref name="principal"/> may act on <paramref name="beamtime"/> with one of <paramref name="required"/>;
    /// throws PERMISSION_DENIED (WRONG_BEAMTIME / ACCESS_DENIED with <c>required_access</c>).
    /// </summary>
    public static void Authorize(TokenPrincipal principal, string beamtime, BrokerAccess required)
    {
        if (!string.Equals(principal.Beamtime, beamtime, StringComparison.Ordinal))
        {
            throw new BrokerException(BrokerErrorCode.PermissionDenied, ErrorReasons.WrongBeamtime,
                $"The token is for another beamtime than '{beamtime}'; use a token minted for it.");
        }

        if ((principal.Access & required) == BrokerAccess.None)
        {
            var names = BrokerAccessNames.Describe(required);
            throw new BrokerException(BrokerErrorCode.PermissionDenied, ErrorReasons.AccessDenied,
                $"This call needs {(required == BrokerAccess.Any ? "any" : "the")} access {names}; the token has {BrokerAccessNames.Describe(principal.Access)}.",
                new Dictionary<string, string> { ["required_access"] = names });
        }
    }

    private static BrokerException Unauthenticated(string reason, string message) =>
        new(BrokerErrorCode.Unauthenticated, reason, message);

    private static BrokerException Invalid(string why) => Unauthenticated(ErrorReasons.TokenInvalid, "The token is invalid: " + why + ".");

    private TokenPrincipal Verify(string token)
    {
        var first = token.IndexOf('.', StringComparison.Ordinal);
        var second = first < 0 ? -1 : token.IndexOf('.', first + 1);
        if (first <= 0 || second < 0 || token.IndexOf('.', second + 1) >= 0 || token.Length > 8192)
        {
            throw Invalid("not a compact JWT (header.claims.signature)");
        }

        JsonElement header;
        JsonElement claims;
        byte[] signature;
        try
        {
            header = JsonDocument.Parse(Base64Url.DecodeFromChars(token.AsSpan(0, first))).RootElement;
            claims = JsonDocument.Parse(Base64Url.DecodeFromChars(token.AsSpan(first + 1, second - first - 1))).RootElement;
            signature = Base64Url.DecodeFromChars(token.AsSpan(second + 1));
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw Invalid("malformed base64url or JSON");
        }

        if (header.ValueKind != JsonValueKind.Object || claims.ValueKind != JsonValueKind.Object)
        {
            throw Invalid("header and claims must be JSON objects");
        }

        if (!header.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String || alg.GetString() != "HS256")
        {
            throw Invalid("only alg HS256 is accepted");
        }

        var key = header.TryGetProperty("kid", out var kid) && kid.ValueKind == JsonValueKind.String ? Keys.Find(kid.GetString()!) : null;
        if (key is null)
        {
            throw Invalid("signed with an unknown key");
        }

        var expected = HMACSHA256.HashData(key.Secret, Encoding.ASCII.GetBytes(token, 0, second));
        if (!CryptographicOperations.FixedTimeEquals(expected, signature))
        {
            throw Invalid("bad signature");
        }

        var sub = String(claims, "sub");
        if (sub is null || !sub.StartsWith("bt_", StringComparison.Ordinal) || sub.Length == 3)
        {
            throw Invalid("claim sub must be bt_<beamtime>");
        }

        var access = BrokerAccess.None;
        if (claims.TryGetProperty("access", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in list.EnumerateArray())
            {
                access |= item.ValueKind == JsonValueKind.String ? BrokerAccessNames.One(item.GetString()!) ?? BrokerAccess.None : BrokerAccess.None;
            }
        }

        if (access == BrokerAccess.None)
        {
            throw Invalid("claim access must list read, write, writeraw or control");
        }

        var iat = Number(claims, "iat");
        var exp = Number(claims, "exp");
        var jti = String(claims, "jti");
        if (iat is null || exp is null || string.IsNullOrEmpty(jti))
        {
            throw Invalid("claims iat, exp and jti are required");
        }

        return new TokenPrincipal(sub[3..], access, jti, DateTimeOffset.FromUnixTimeSeconds(iat.Value), DateTimeOffset.FromUnixTimeSeconds(exp.Value));
    }

    private static string? String(JsonElement claims, string name) =>
        claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Number(JsonElement claims, string name) =>
        claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n)
            && n is > 0 and < 253402300799 ? n : null;
}

/// <summary>
/// Revoked token ids (<c>jti</c>), one per line of a file. The file's timestamp is checked at most every
/// <see cref="RecheckInterval"/>, so a revocation takes effect within that time of the file changing (§8: 10 s).
/// </summary>
public sealed class RevocationList(string path, TimeProvider? time = null)
{
    /// <summary>How often the file's timestamp is looked at.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(5);

    private readonly TimeProvider time = time ?? TimeProvider.System;
    private readonly Lock gate = new();
    private HashSet<string> revoked = new(StringComparer.Ordinal);
    private DateTime loadedStamp = DateTime.MinValue;
    private DateTimeOffset nextCheck = DateTimeOffset.MinValue;

    public string Path { get; } = path;

    public bool IsRevoked(string jti)
    {
        var now = time.GetUtcNow();
        if (now >= nextCheck)
        {
            lock (gate)
            {
                if (now >= nextCheck)
                {
                    Reload();
                    nextCheck = now + RecheckInterval;
                }
            }
        }

        return revoked.Contains(jti);
    }

    private void Reload()
    {
        var stamp = File.Exists(Path) ? File.GetLastWriteTimeUtc(Path) : DateTime.MinValue;
        if (stamp == loadedStamp)
        {
            return;
        }

        try
        {
            revoked = stamp == DateTime.MinValue
                ? new HashSet<string>(StringComparer.Ordinal)
                : File.ReadAllLines(Path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);
            loadedStamp = stamp;
        }
        catch (IOException)
        {
            // Being rewritten: keep the previous list and look again at the next check.
        }
    }
}
