using Anvil.Integration;
using Anvil.Pipeline;
using Microsoft.Extensions.Configuration;

namespace Anvil.Workers;

/// <summary>
/// A pipeline configuration file (the file <c>./anvil up --config</c> takes, section <c>Pipeline</c>) read with
/// Microsoft.Extensions.Configuration as the services read theirs, flattened to <c>Key → value</c> (nested keys as
/// <c>Pressure:Marker</c>, <c>Detectors:lambda1:Poni</c>) with every path made absolute: a path in the file is taken
/// from the file's folder, one set later (<see cref="Set"/>) from the folder its caller gives. The one reader of the
/// file: the CLI (<c>Anvil.Cli.PipelineConfig</c>, which adds <c>Pipeline__*</c> variables and flags) and the console
/// (which loads a file from the data root and applies its settings while the suite runs) both use it.
/// </summary>
public sealed class PipelineConfigFile
{
    /// <summary>The keys (of the pipeline and of each detector) that name files.</summary>
    public static readonly IReadOnlyList<string> PathKeys = ["DataRoot", "OutputDir", "Poni", "Mask", "Dark", "Flat", "Pressure:Jcpds"];

    // The integration settings' keys, of the pipeline and of each detector: what ingest's UpdateSettings changes while it runs.
    private static readonly string[] SettingKeys = ["Poni", "Mask", "Dark", "Flat", "Npt", "Unit", "Method", "Polarization"];

    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);

    private PipelineConfigFile()
    {
    }

    /// <summary>The settings as <c>Key → value</c>, nested keys as <c>Pressure:Marker</c> (passed to the services as <c>Pipeline__Key</c>, <c>Pipeline__Pressure__Marker</c>).</summary>
    public IReadOnlyDictionary<string, string> Values => values;

    /// <summary>The values bound to <see cref="PipelineOptions"/>, as a service binds them; <see cref="PipelineConfigException"/> when a value does not bind (a word where a number belongs).</summary>
    public PipelineOptions Options
    {
        get
        {
            try
            {
                return new ConfigurationBuilder()
                    .AddInMemoryCollection(values.Select(kv => KeyValuePair.Create($"{PipelineOptions.Section}:{kv.Key}", (string?)kv.Value)))
                    .Build()
                    .GetSection(PipelineOptions.Section)
                    .Get<PipelineOptions>() ?? new PipelineOptions();
            }
            catch (InvalidOperationException ex)
            {
                // The binder's message names the key ('Pipeline:Npt'), its inner one the value.
                throw new PipelineConfigException($"the pipeline configuration does not read: {ex.Message}{(ex.InnerException is { } inner ? $" ({inner.Message})" : string.Empty)}");
            }
        }
    }

    /// <summary>
    /// Reads <paramref name="path"/>'s <c>Pipeline</c> section (paths from the file's folder), then, with
    /// <paramref name="environment"/>, the <c>Pipeline__Key</c> environment variables (paths from the working directory).
    /// <see cref="PipelineConfigException"/> names the file and says what is wrong.
    /// </summary>
    public static PipelineConfigFile Read(string path, bool environment)
    {
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new PipelineConfigException($"pipeline config {path} does not exist");
        }

        IConfigurationSection fromFile;
        try
        {
            fromFile = new ConfigurationBuilder().AddJsonFile(path).Build().GetSection(PipelineOptions.Section);
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or UnauthorizedAccessException)
        {
            throw new PipelineConfigException($"pipeline config {path} does not read: {ex.Message}");
        }

        var config = new PipelineConfigFile();
        config.SetAll(fromFile, Path.GetDirectoryName(path)!);
        if (environment)
        {
            config.SetAll(new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(PipelineOptions.Section), Environment.CurrentDirectory);
        }

        return config;
    }

    /// <summary>The values of a configuration already read (a service's own <c>Pipeline</c> section), flattened the same way; relative paths from <paramref name="baseDirectory"/>.</summary>
    public static PipelineConfigFile From(IConfigurationSection pipeline, string baseDirectory)
    {
        var config = new PipelineConfigFile();
        config.SetAll(pipeline, baseDirectory);
        return config;
    }

    /// <summary>Sets <paramref name="key"/>; a path is made absolute from <paramref name="baseDirectory"/>.</summary>
    public void Set(string key, string value, string baseDirectory) =>
        values[key] = IsPath(key) && value.Length > 0 ? HdfPath.GetFullPath(value, baseDirectory) : value;

    /// <summary>Removes every key that <paramref name="match"/> picks.</summary>
    public void RemoveWhere(Func<string, bool> match)
    {
        foreach (var key in values.Keys.Where(match).ToList())
        {
            values.Remove(key);
        }
    }

    /// <summary>Whether <paramref name="key"/> names a file: the pipeline's paths, and each detector's (<c>Detectors:&lt;name&gt;:Poni</c>, …).</summary>
    public static bool IsPath(string key) =>
        PathKeys.Contains(key)
        || (key.StartsWith("Detectors:", StringComparison.OrdinalIgnoreCase) && key.Split(':') is [_, _, .. var rest] && PathKeys.Contains(string.Join(':', rest)));

    /// <summary>
    /// Whether <paramref name="key"/> is an integration setting (PONI, mask, dark, flat, npt, unit, method, polarization,
    /// the pressure stage), of the pipeline or of a detector, which a running suite changes through <c>UpdateSettings</c>;
    /// every other key (addresses, folders, the detectors' kinds and patterns, timeouts, …) needs a restart.
    /// </summary>
    public static bool IsRuntimeSetting(string key)
    {
        var parts = key.Split(':');
        var own = parts.Length >= 3 && parts[0].Equals("Detectors", StringComparison.OrdinalIgnoreCase) ? parts[2..] : parts;
        return (own.Length == 1 && SettingKeys.Contains(own[0], StringComparer.OrdinalIgnoreCase))
            || (own.Length >= 1 && own[0].Equals("Pressure", StringComparison.OrdinalIgnoreCase));
    }

    private void SetAll(IConfigurationSection section, string baseDirectory)
    {
        foreach (var child in section.GetChildren())
        {
            if (child.Value is { } value)
            {
                Set(child.Path[(PipelineOptions.Section.Length + 1)..], value, baseDirectory);
            }

            // Nested sections (Pressure, Detectors) keep their path: Pressure:Marker.
            SetAll(child, baseDirectory);
        }
    }
}

/// <summary>A pipeline configuration that does not read or bind; the message names the file or the value and says what is wrong.</summary>
public sealed class PipelineConfigException(string message) : Exception(message);
