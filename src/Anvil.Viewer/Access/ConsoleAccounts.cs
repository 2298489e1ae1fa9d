using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Anvil.Viewer.Access;

/// <summary>What a console account may do: operators read and write (pause, resume, stop, settings); viewers only read.</summary>
public enum ConsoleRole
{
    /// <summary>Reads everything, changes nothing.</summary>
    Viewer,

    /// <summary>Reads and operates the run.</summary>
    Operator,
}

/// <summary>
/// One console account as configuration holds it (<c>Console:Users</c>, or a line of <c>Console:UsersFile</c>): a name, a
/// role and a PBKDF2 hash of the password (<see cref="ConsolePassword"/>). `anvil console-user` prints one.
/// </summary>
public sealed record ConsoleUser
{
    public string Name { get; init; } = string.Empty;

    /// <summary>operator or viewer.</summary>
    public string Role { get; init; } = string.Empty;

    /// <summary>The hash `anvil console-user` prints (never the password itself).</summary>
    public string PasswordHash { get; init; } = string.Empty;

    /// <summary>The role as an enum; throws with the account's name when it is neither operator nor viewer.</summary>
    [JsonIgnore]
    public ConsoleRole ParsedRole => ConsoleAccounts.ParseRole(Role) ?? throw new FormatException($"Console account '{Name}': role '{Role}' is not operator or viewer.");
}

/// <summary>Parsing and checking the console's accounts (issue 13, item 6).</summary>
public static class ConsoleAccounts
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
    // Relaxed escaping keeps base64's '+' readable in the printed entry (it goes into config files, never into HTML).
    private static readonly JsonSerializerOptions Output = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>operator → Operator, viewer → Viewer (any case), anything else null.</summary>
    public static ConsoleRole? ParseRole(string? role) => role?.Trim().ToLowerInvariant() switch
    {
        "operator" => ConsoleRole.Operator,
        "viewer" => ConsoleRole.Viewer,
        _ => null,
    };

    /// <summary>The config entry for one account, one JSON line (what `anvil console-user` prints).</summary>
    public static string Entry(ConsoleUser user) => JsonSerializer.Serialize(user, Output);

    /// <summary>
    /// Reads a users file: a JSON array of entries, or JSON lines (one entry per line, as `anvil console-user … &gt;&gt; FILE`
    /// appends them); blank lines and lines starting with # are skipped.
    /// </summary>
    public static IReadOnlyList<ConsoleUser> ReadFile(string path)
    {
        var text = File.ReadAllText(path);
        try
        {
            if (text.TrimStart().StartsWith('['))
            {
                return JsonSerializer.Deserialize<ConsoleUser[]>(text, Json) ?? [];
            }

            return text.Split('\n')
                .Select(l => l.Trim())
                .Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => JsonSerializer.Deserialize<ConsoleUser>(l, Json) ?? throw new FormatException("null entry"))
                .ToList();
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path} is not a console users file ({ex.Message}): give one entry per line as `./anvil console-user NAME --role operator|viewer` prints it.", ex);
        }
    }

    /// <summary>Every problem with a set of accounts (empty name, unknown role, a hash that is not one of ours, duplicates), one sentence each.</summary>
    public static IReadOnlyList<string> Problems(IEnumerable<ConsoleUser> users)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var index = 0;
        foreach (var user in users)
        {
            var which = string.IsNullOrWhiteSpace(user.Name) ? $"account #{index}" : $"account '{user.Name}'";
            if (string.IsNullOrWhiteSpace(user.Name))
            {
                problems.Add($"{which} has no name.");
            }
            else if (!seen.Add(user.Name))
            {
                problems.Add($"{which} is listed twice.");
            }

            if (ParseRole(user.Role) is null)
            {
                problems.Add($"{which}: role '{user.Role}' is not operator or viewer.");
            }

            if (!ConsolePassword.IsHash(user.PasswordHash))
            {
                problems.Add($"{which}: passwordHash is not a hash `./anvil console-user` prints (pbkdf2-sha256:ITERATIONS:SALT:KEY).");
            }

            index++;
        }

        return problems;
    }
}

/// <summary>
/// Password hashes for console accounts: PBKDF2 with HMAC-SHA256 (<see cref="Rfc2898DeriveBytes.Pbkdf2(byte[], byte[], int, HashAlgorithmName, int)"/>),
/// a random 16-byte salt, a 32-byte key, stored as <c>pbkdf2-sha256:ITERATIONS:SALT:KEY</c> (base64; no <c>$</c>, so the
/// hash survives Compose's variable interpolation and shell quoting). The iteration count travels with the hash, so it
/// can rise later without invalidating accounts; comparison is constant-time.
/// </summary>
public static class ConsolePassword
{
    /// <summary>Iterations for new hashes (OWASP's 2023 advice for PBKDF2-HMAC-SHA256 is 600,000; about 0.3 s here).</summary>
    public const int Iterations = 600_000;

    private const string Prefix = "pbkdf2-sha256";
    private const int SaltBytes = 16;
    private const int KeyBytes = 32;

    /// <summary>A new hash of <paramref name="password"/> with a fresh salt.</summary>
    public static string Hash(string password, int iterations = Iterations)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var key = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, KeyBytes);
        return $"{Prefix}:{iterations}:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(key)}";
    }

    /// <summary>Whether <paramref name="hash"/> has our format.</summary>
    public static bool IsHash(string? hash) => TryParse(hash, out _, out _, out _);

    /// <summary>Whether <paramref name="password"/> matches <paramref name="hash"/> (false for a malformed hash).</summary>
    public static bool Verify(string password, string? hash)
    {
        if (!TryParse(hash, out var iterations, out var salt, out var key))
        {
            return false;
        }

        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password ?? string.Empty), salt, iterations, HashAlgorithmName.SHA256, key.Length);
        return CryptographicOperations.FixedTimeEquals(actual, key);
    }

    private static bool TryParse(string? hash, out int iterations, out byte[] salt, out byte[] key)
    {
        iterations = 0;
        salt = key = [];
        var parts = (hash ?? string.Empty).Split(':');
        if (parts.Length != 4 || parts[0] != Prefix || !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out iterations) || iterations < 1000)
        {
            return false;
        }

        try
        {
            salt = Convert.FromBase64String(parts[2]);
            key = Convert.FromBase64String(parts[3]);
            return salt.Length >= 8 && key.Length >= 16;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
