using System.Text.Json;
using Anvil.Pipeline.V1;
using Anvil.Viewer;

namespace Anvil.Console.Service.Catalog;

/// <summary>
/// An acquisition as the broker tells it: rows filled from the profiles integrate publishes, the frames stitch has
/// published (expected), failed frames and the settings of the newest frame. When a settings change moves the radial
/// axis, the rows start again on the new axis (what the result file will show as <c>/processed/result</c>).
/// </summary>
public sealed class LiveAcquisition(string name)
{
    private readonly Lock gate = new();
    private readonly SortedDictionary<long, string> failed = [];
    private readonly Dictionary<long, (string M1File, int Index)> sources = [];

    public string Name { get; } = name;

    /// <summary>The 2θ axis and wavelength of the rows, once a profile arrived.</summary>
    public RadialAxis? Axis { get; private set; }

    /// <summary>The rows, once a profile arrived.</summary>
    public FrameMatrix? Matrix { get; private set; }

    /// <summary>Bumped by every profile: the page re-reads what it shows when this changes.</summary>
    public long Version { get; private set; }

    /// <summary>Profiles received (failed frames included).</summary>
    public int Received { get; private set; }

    /// <summary>Frames stitch has published so far.</summary>
    public long FramesPublished { get; set; }

    /// <summary>True once stitch finished the frames stream: <see cref="FramesPublished"/> is the total.</summary>
    public bool FramesFinal { get; set; }

    /// <summary>True once integrate finished the profiles stream and every profile was read.</summary>
    public bool ProfilesComplete { get; set; }

    /// <summary>Settings JSON of the newest frame.</summary>
    public string SettingsJson { get; private set; } = string.Empty;

    /// <summary>When the last profile arrived (UTC).</summary>
    public DateTime UpdatedUtc { get; private set; } = DateTime.UtcNow;

    /// <summary>Failed frames and their reasons.</summary>
    public IReadOnlyList<(long Frame, string Reason)> Failed
    {
        get
        {
            lock (gate)
            {
                return failed.Select(f => (f.Key, f.Value)).ToArray();
            }
        }
    }

    /// <summary>The module-1 chunk file and frame index of <paramref name="frame"/>, when its profile named them.</summary>
    public (string M1File, int Index)? SourceOf(long frame)
    {
        lock (gate)
        {
            return sources.TryGetValue(frame, out var source) ? source : null;
        }
    }

    /// <summary>A string field of a settings JSON (the canonical settings JSON of IntegrationSettings, e.g. "poni", "mask"), or empty.</summary>
    public static string SettingsField(string settingsJson, string name)
    {
        if (settingsJson.Length == 0)
        {
            return string.Empty;
        }

        try
        {
            using var doc = JsonDocument.Parse(settingsJson);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                {
                    return property.Value.GetString() ?? string.Empty;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: no such field.
        }

        return string.Empty;
    }

    /// <summary>Takes one profile; <paramref name="wavelength"/> resolves a PONI path to λ (Å).</summary>
    public void Add(Profile profile, Func<string, (double? Angstrom, string Source)> wavelength)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(wavelength);
        lock (gate)
        {
            Received++;
            Version++;
            UpdatedUtc = DateTime.UtcNow;
            if (profile.SettingsJson.Length > 0)
            {
                SettingsJson = profile.SettingsJson;
            }

            if (profile.M1File.Length > 0)
            {
                sources[(long)profile.Frame] = (profile.M1File, (int)profile.IndexInFile);
            }

            if (profile.Error.Length > 0 || profile.TwoTheta is null || profile.TwoTheta.Intensity.Count == 0)
            {
                failed[(long)profile.Frame] = profile.Error.Length > 0 ? profile.Error : "no curve";
                return;
            }

            var radial = profile.TwoTheta.Radial;
            if (Axis is null || Axis.Count != radial.Count || Axis.TwoTheta[0] != radial[0] || Axis.TwoTheta[^1] != radial[^1])
            {
                var (lambda, source) = wavelength(SettingsField(profile.SettingsJson, "poni"));
                Axis = new RadialAxis(radial.ToArray(), lambda, source);
                Matrix = FrameMatrix.Live(radial.Count);
            }

            var values = new float[profile.TwoTheta.Intensity.Count];
            profile.TwoTheta.Intensity.CopyTo(values, 0);
            Matrix!.Set((int)profile.Frame - 1, values);
        }
    }
}
