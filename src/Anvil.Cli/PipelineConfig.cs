using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pressure;
using Anvil.Workers;

namespace Anvil.Cli;

/// <summary>
/// The pipeline configuration the CLI hands to every service: the config file's <c>Pipeline</c> section, then
/// <c>Pipeline__Key</c> environment variables, read by the one reader of the file (<see cref="PipelineConfigFile"/>, which
/// the console uses too), then command-line flags. The CLI runs on the operator's host while the services run in their
/// own folders, so every path leaves here absolute: a path in the config file is taken from the file's folder, one from
/// the environment or a flag from the working directory (the conventions of files and shells). The services then see no
/// relative path, and the settings model's own rule (relative to the data root) applies only to changes made while they run.
/// </summary>
public sealed class PipelineConfig
{
    private readonly PipelineConfigFile file;

    private PipelineConfig(PipelineConfigFile file) => this.file = file;

    /// <summary>The settings as <c>Key → value</c>, nested keys as <c>Pressure:Marker</c> (passed to the services as <c>Pipeline__Key</c>, <c>Pipeline__Pressure__Marker</c>).</summary>
    public IReadOnlyDictionary<string, string> Values => file.Values;

    public string this[string key] => file.Values.TryGetValue(key, out var v) ? v : throw new UsageException($"the pipeline setting {key} is not set (config file, Pipeline__{key} or a flag)");

    /// <summary>The settings bound to <see cref="PipelineOptions"/>, as a service binds them.</summary>
    public PipelineOptions Options
    {
        get
        {
            try
            {
                return file.Options;
            }
            catch (PipelineConfigException ex)
            {
                throw new UsageException(ex.Message);
            }
        }
    }

    /// <summary>The file <c>--config</c> names, else ANVIL_CONFIG, else config/pipeline.json of the checkout.</summary>
    public static string FileOf(string? file) =>
        Path.GetFullPath(file ?? Environment.GetEnvironmentVariable("ANVIL_CONFIG") ?? Path.Combine(Suite.RepoRoot, "config", "pipeline.json"));

    /// <summary>Loads <paramref name="file"/> (or ANVIL_CONFIG, or config/pipeline.json of the checkout) and the environment.</summary>
    public static PipelineConfig Load(string? file)
    {
        try
        {
            return new PipelineConfig(PipelineConfigFile.Read(FileOf(file), environment: true));
        }
        catch (PipelineConfigException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    /// <summary>Sets a value from a flag (paths relative to the working directory).</summary>
    public void Override(string key, string? value)
    {
        if (value is not null)
        {
            file.Set(key, value, Environment.CurrentDirectory);
        }
    }

    /// <summary>
    /// Replaces the pressure stage's settings with the one-line form <c>MARKER HKL [LO:HI] [vinet|bm3]</c>
    /// (<see cref="PressureSettings.ParseSpec"/>), or switches it off with "off". Null changes nothing.
    /// </summary>
    public void OverridePressure(string? spec)
    {
        if (spec is null)
        {
            return;
        }

        file.RemoveWhere(k => k.StartsWith("Pressure:", StringComparison.Ordinal));
        if (spec.Trim() == "off")
        {
            Override("Pressure:Enabled", "false");
            return;
        }

        PressureSettings parsed;
        try
        {
            parsed = PressureSettings.ParseSpec(spec);
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }

        Override("Pressure:Marker", parsed.Marker.Length > 0 ? parsed.Marker : null);
        Override("Pressure:Jcpds", parsed.Jcpds.Length > 0 ? parsed.Jcpds : null);
        Override("Pressure:Reflection", parsed.Reflection);
        Override("Pressure:Eos", parsed.Eos.Length > 0 ? parsed.Eos : null);
        Override("Pressure:WindowLo", parsed.WindowLo?.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Override("Pressure:WindowHi", parsed.WindowHi?.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Whether the configuration switches the pressure stage on.</summary>
    public bool PressureEnabled => Options.Pressure is { Enabled: true };

    /// <summary>
    /// The integration settings of new acquisitions, validated by the settings model; every problem in one
    /// <see cref="UsageException"/>, before anything starts.
    /// </summary>
    public IntegrationSettings ValidSettings()
    {
        var detectors = ValidDetectors();
        try
        {
            // With detectors configured, each has its own PONI: the pipeline-wide one may be left out.
            var settings = Options.IntegrationDefaults();
            return detectors.Configured && settings.Poni.Length == 0 ? settings : settings.ThrowIfInvalid();
        }
        catch (Exception ex) when (ex is SettingsException or FormatException)
        {
            throw new UsageException(ex.Message);
        }
    }

    /// <summary>The configured detectors (<c>Pipeline:Detectors</c>), checked with their files; every problem in one <see cref="UsageException"/>.</summary>
    public DetectorSet ValidDetectors()
    {
        try
        {
            return DetectorSet.From(Options, checkFiles: true);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    /// <summary>Replaces the <c>Detectors</c> section with <paramref name="detectors"/> (name, kind, PONI; paths from the working directory).</summary>
    public void OverrideDetectors(IEnumerable<(string Name, string Kind, string Poni)> detectors)
    {
        file.RemoveWhere(k => k.StartsWith("Detectors:", StringComparison.OrdinalIgnoreCase));
        foreach (var (name, kind, poni) in detectors)
        {
            Override($"Detectors:{name}:Kind", kind);
            Override($"Detectors:{name}:Poni", poni);
        }
    }
}
