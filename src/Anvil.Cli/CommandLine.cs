namespace Anvil.Cli;

/// <summary>A small parser for `anvil VERB [ARG…] [--name value|--flag]…`.</summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> options = new(StringComparer.Ordinal);
    private readonly HashSet<string> used = new(StringComparer.Ordinal);

    public CommandLine(IReadOnlyList<string> args, IReadOnlySet<string> flags)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var name = arg[2..];
                var eq = name.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    options[name[..eq]] = name[(eq + 1)..];
                }
                else if (flags.Contains(name))
                {
                    options[name] = null;
                }
                else if (i + 1 < args.Count)
                {
                    options[name] = args[++i];
                }
                else
                {
                    throw new UsageException($"--{name} needs a value");
                }
            }
            else
            {
                Positional.Add(arg);
            }
        }
    }

    public List<string> Positional { get; } = [];

    public string? Get(string name)
    {
        used.Add(name);
        return options.TryGetValue(name, out var value) ? value : null;
    }

    public bool Has(string name)
    {
        used.Add(name);
        return options.ContainsKey(name);
    }

    public int GetInt(string name, int fallback) =>
        Get(name) is { } text ? int.TryParse(text, out var value) && value > 0 ? value : throw new UsageException($"--{name} must be a positive integer, not '{text}'") : fallback;

    public double GetDouble(string name, double fallback) =>
        Get(name) is { } text ? double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : throw new UsageException($"--{name} must be a number, not '{text}'") : fallback;

    /// <summary>Fails on options nobody asked for (a typo must not be silently ignored).</summary>
    public void RejectUnknown()
    {
        var unknown = options.Keys.Where(k => !used.Contains(k)).ToArray();
        if (unknown.Length > 0)
        {
            throw new UsageException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }
}

/// <summary>A mistake on the command line: printed with the usage, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
