using System.Security.Cryptography;

namespace Anvil.Broker.Auth;

/// <summary>One HMAC secret and its key id (the first 16 hex digits of its SHA-256, so no id needs configuring).</summary>
public sealed class SigningKey
{
    internal SigningKey(byte[] secret)
    {
        Secret = secret;
        Kid = Convert.ToHexStringLower(SHA256.HashData(secret))[..16];
    }

    /// <summary>The key id written into a token's header.</summary>
    public string Kid { get; }

    internal byte[] Secret { get; }

    /// <summary>Never prints the secret.</summary>
    public override string ToString() => $"signing key {Kid}";
}

/// <summary>
/// The broker's signing secrets (docs/broker.md §8): base64, ≥ 32 bytes decoded, one per line of the secret file (or the one value
/// of <c>ANVIL_BROKER_SECRET</c>). Several lines allow rotation: every key verifies, the last one signs.
/// </summary>
public sealed class SigningKeys
{
    /// <summary>The environment variable that may hold the secret.</summary>
    public const string EnvironmentVariable = "ANVIL_BROKER_SECRET";

    /// <summary>The smallest decoded secret accepted.</summary>
    public const int MinSecretBytes = 32;

    private readonly Dictionary<string, SigningKey> byKid;

    private SigningKeys(IReadOnlyList<SigningKey> keys)
    {
        Keys = keys;
        byKid = keys.ToDictionary(k => k.Kid, StringComparer.Ordinal);
    }

    /// <summary>Every key, oldest first.</summary>
    public IReadOnlyList<SigningKey> Keys { get; }

    /// <summary>The key that signs new tokens (the newest).</summary>
    public SigningKey Current => Keys[^1];

    /// <summary>A fresh random secret in the accepted format (base64 of 32 bytes).</summary>
    public static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(MinSecretBytes));

    /// <summary>
    /// Loads the secret from exactly one of a file or an environment value; both or neither is a configuration error
    /// whose message says what to set. Messages never contain the secret.
    /// </summary>
    public static SigningKeys Load(string? secretFile, string? environmentValue)
    {
        var hasFile = !string.IsNullOrWhiteSpace(secretFile);
        var hasEnv = !string.IsNullOrWhiteSpace(environmentValue);
        if (hasFile == hasEnv)
        {
            throw new AuthConfigurationException(hasFile
                ? $"Both Broker:Auth:SecretFile and {EnvironmentVariable} are set; set exactly one."
                : $"Broker auth is on but no signing secret is configured: set Broker:Auth:SecretFile to a file holding a base64 secret of at least {MinSecretBytes} bytes, or the environment variable {EnvironmentVariable} (or turn auth off explicitly with Broker:Auth:Enabled=false).");
        }

        string text;
        if (hasFile)
        {
            try
            {
                text = File.ReadAllText(secretFile!);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new AuthConfigurationException($"Cannot read the broker secret file {secretFile}: {ex.Message}", ex);
            }
        }
        else
        {
            text = environmentValue!;
        }

        return Parse(text, hasFile ? $"secret file {secretFile}" : EnvironmentVariable);
    }

    /// <summary>Parses one base64 secret per non-empty line (lines starting with # are comments).</summary>
    public static SigningKeys Parse(string text, string origin = "secret")
    {
        var keys = new List<SigningKey>();
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            byte[] secret;
            try
            {
                secret = Convert.FromBase64String(line);
            }
            catch (FormatException)
            {
                throw new AuthConfigurationException($"Line {lineNumber} of the {origin} is not base64; generate a secret with `openssl rand -base64 32`.");
            }

            if (secret.Length < MinSecretBytes)
            {
                throw new AuthConfigurationException($"Line {lineNumber} of the {origin} decodes to {secret.Length} bytes; a secret needs at least {MinSecretBytes}.");
            }

            keys.Add(new SigningKey(secret));
        }

        return keys.Count > 0 ? new SigningKeys(keys) : throw new AuthConfigurationException($"The {origin} holds no secret.");
    }

    internal SigningKey? Find(string kid) => byKid.GetValueOrDefault(kid);
}

/// <summary>The auth configuration cannot work; the broker refuses to start with this message.</summary>
public sealed class AuthConfigurationException : Exception
{
    public AuthConfigurationException()
    {
    }

    public AuthConfigurationException(string message)
        : base(message)
    {
    }

    public AuthConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
