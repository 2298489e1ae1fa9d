using System.Collections.Concurrent;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;

namespace Anvil.Integrate.Service.Messaging;

/// <summary>
/// A frame's leases on the engines for one canvas layout and settings: 2θ (what DIOPTAS plots) and, when asked for,
/// the operator's unit. The engines stay usable until this is disposed, even if a settings change evicts them meanwhile.
/// </summary>
public sealed class EngineSet : IDisposable
{
    private readonly EngineLease twoTheta;
    private readonly EngineLease? requested;

    internal EngineSet(EngineLease twoTheta, EngineLease? requested, IntegrationSettings settings, string hash, string settingsJson)
    {
        this.twoTheta = twoTheta;
        this.requested = requested;
        Settings = settings;
        Hash = hash;
        SettingsJson = settingsJson;
    }

    /// <summary>The 2θ engine (the settings with the unit set to 2θ in degrees).</summary>
    public IntegrationEngine TwoTheta => twoTheta.Engine;

    /// <summary>The engine in the requested unit; null when that unit is 2θ in degrees.</summary>
    public IntegrationEngine? Requested => requested?.Engine;

    /// <summary>The settings in the requested unit.</summary>
    public IntegrationSettings Settings { get; }

    /// <summary>The settings hash each profile records.</summary>
    public string Hash { get; }

    /// <summary>The settings as the result file records them (<see cref="EngineCache.CanonicalJson"/>).</summary>
    public string SettingsJson { get; }

    /// <summary>Ends both leases; an engine evicted meanwhile is disposed with its last lease.</summary>
    public void Dispose()
    {
        try
        {
            twoTheta.Dispose();
        }
        finally
        {
            requested?.Dispose();
        }
    }
}

/// <summary>
/// Builds each engine once per (canvas layout, settings) and reuses it for every frame; a settings change
/// (a new <see cref="IntegrationSpec"/> on the work items) builds a new set while frames of the old one finish.
/// Engines live in the library's <see cref="IntegrationEngineCache"/> (least recently used evicted beyond
/// <see cref="MaxEngines"/>, and disposed once no frame leases them), keyed cheaply by layout and settings JSON; what
/// an engine is built from (geometry, mask, hash) is prepared once per key. The mask is Anvil's documented rule: the
/// operator's mask OR the pixels no module covers (gaps between modules); the detector's −1 pixels are excluded per frame.
/// </summary>
public sealed class EngineCache : IDisposable
{
    /// <summary>Engines kept: three settings versions with a 2θ and a requested-unit engine each.</summary>
    public const int MaxEngines = 6;

    private const int MaxPrepared = 16;
    private readonly IntegrationEngineCache engines = new(MaxEngines);
    private readonly ConcurrentDictionary<string, Lazy<Inputs>> prepared = new(StringComparer.Ordinal);

    /// <summary>Leases on the engines for a stitch plan under the given settings; the caller disposes them when its frame is done.</summary>
    public EngineSet Get(StitchPlan plan, IntegrationSpec spec)
    {
        var settingsJson = CanonicalJson(spec);
        var key = string.Join(';', plan.Placements.Select(p => $"{p.RowOffset},{p.ColOffset},{p.Rows},{p.Cols}"))
            + $"|{plan.Rows}x{plan.Cols}|{plan.FlipVertical}|{settingsJson}";
        if (prepared.Count >= MaxPrepared && !prepared.ContainsKey(key))
        {
            // Settings changed many times: forget the old inputs (their engines age out of the engine cache).
            prepared.Clear();
        }

        var lazy = prepared.GetOrAdd(key, _ => new Lazy<Inputs>(() => Prepare(plan, spec, settingsJson)));
        try
        {
            var inputs = lazy.Value;
            var twoTheta = engines.Rent($"{key}|2th", () => IntegrationEngine.Build(inputs.Geometry, plan.Rows, plan.Cols, inputs.Mask, inputs.TwoTheta));
            try
            {
                var requested = inputs.Settings.Unit == RadialUnit.TwoThetaDeg
                    ? null
                    : engines.Rent($"{key}|requested", () => IntegrationEngine.Build(inputs.Geometry, plan.Rows, plan.Cols, inputs.Mask, inputs.Settings));
                return new EngineSet(twoTheta, requested, inputs.Settings, inputs.Hash, settingsJson);
            }
            catch
            {
                twoTheta.Dispose();
                throw;
            }
        }
        catch
        {
            // A bad file must not poison the cache: the next frame tries again.
            prepared.TryRemove(new KeyValuePair<string, Lazy<Inputs>>(key, lazy));
            throw;
        }
    }

    public void Dispose() => engines.Dispose();

    /// <summary>The settings as the result file records them: every field but the version and scope.</summary>
    public static string CanonicalJson(IntegrationSpec spec)
    {
        var plain = spec.Clone();
        plain.Version = 0;
        plain.Scope = string.Empty;
        return IntegrationSpecs.ToJson(plain);
    }

    private static Inputs Prepare(StitchPlan plan, IntegrationSpec spec, string settingsJson)
    {
        var geometry = PoniFile.Load(spec.Poni);
        var mask = MaskLoader.Combine(plan.GapMask(), spec.Mask, plan.Rows, plan.Cols);

        var twoTheta = new IntegrationSettings
        {
            Npt = (int)spec.Npt,
            Unit = RadialUnit.TwoThetaDeg,
            Method = SplitMethods.Parse(spec.Method),
            PolarizationFactor = spec.HasPolarization ? spec.Polarization : null,
            ExcludeNegative = true,
        };
        var effective = twoTheta with { Unit = RadialUnits.Parse(spec.Unit) };
        return new Inputs(geometry, mask, twoTheta, effective, effective.ComputeHash(geometry, mask));
    }

    /// <summary>What a settings version's engines are built from.</summary>
    private sealed record Inputs(Geometry Geometry, byte[] Mask, IntegrationSettings TwoTheta, IntegrationSettings Settings, string Hash);
}
