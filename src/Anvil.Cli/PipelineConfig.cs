using System.Text.Json;

namespace Anvil.Cli;

/// <summary>
/// The pipeline settings the CLI hands to every service: the config file's <c>Pipeline</c> section (paths in it
/// relative to the file), then <c>Pipeline__Key</c> environment variables, then command-line flags (paths relative
/// to the working directory). Every path leaves here absolute, since services run in their own folders.
/// </summary>
public sealed class PipelineConfig
{
    private static readonly string[] PathKeys = ["DataRoot", "OutputDir", "Poni", "Mask"];
    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);

    private PipelineConfig()
    {
    }

    public IReadOnlyDictionary<string, string> Values => values;

    public string this[string key] => values.TryGetValue(key, out var v) ? v : throw new UsageException($"the pipeline setting {key} is not set (config file, Pipeline__{key} or a flag)");

    /// <summary>Loads <paramref name="file"/> (or ANVIL_CONFIG, or config/pipeline.json of the checkout) and the environment.</summary>
    public static PipelineConfig Load(string? file)
    {
        var config = new PipelineConfig();
        var path = Path.GetFullPath(file ?? Environment.GetEnvironmentVariable("ANVIL_CONFIG") ?? Path.Combine(Suite.RepoRoot, "config", "pipeline.json"));
        if (!File.Exists(path))
        {
            throw new UsageException($"pipeline config {path} does not exist");
        }

        using (var json = JsonDocument.Parse(File.ReadAllText(path)))
        {
            if (json.RootElement.TryGetProperty("Pipeline", out var section))
            {
                foreach (var property in section.EnumerateObject())
                {
                    config.Set(property.Name, property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText(), Path.GetDirectoryName(path)!);
                }
            }
        }

        foreach (var entry in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>())
        {
            if (entry.Key is string key && key.StartsWith("Pipeline__", StringComparison.Ordinal) && entry.Value is string value)
            {
                config.Set(key["Pipeline__".Length..], value, Environment.CurrentDirectory);
            }
        }

        return config;
    }

    /// <summary>Sets a value from a flag (paths relative to the working directory).</summary>
    public void Override(string key, string? value)
    {
        if (value is not null)
        {
            Set(key, value, Environment.CurrentDirectory);
        }
    }

    private void Set(string key, string value, string baseDirectory) =>
        values[key] = PathKeys.Contains(key) && value.Length > 0 && !value.Contains("::", StringComparison.Ordinal)
            ? Path.GetFullPath(Path.Combine(baseDirectory, value))
            : PathKeys.Contains(key) && value.Contains("::", StringComparison.Ordinal)
                ? Path.GetFullPath(Path.Combine(baseDirectory, value[..value.IndexOf("::", StringComparison.Ordinal)])) + value[value.IndexOf("::", StringComparison.Ordinal)..]
                : value;
}
