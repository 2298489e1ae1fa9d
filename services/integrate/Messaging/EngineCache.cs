using System.Collections.Concurrent;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Workers;

namespace Anvil.Integrate.Service.Messaging;

/// <summary>The engines for one canvas layout and settings: 2θ (what DIOPTAS plots) and, when asked for, the operator's unit.</summary>
public sealed record EngineSet(IntegrationEngine TwoTheta, IntegrationEngine? Requested, IntegrationSettings Settings, string Hash, string SettingsJson);

/// <summary>
/// Builds each engine once per (canvas layout, settings) and reuses it for every frame; a settings change
/// (a new <see cref="IntegrationSpec"/> on the work items) builds a new set while frames of the old one finish.
/// Engines live in the library's <see cref="IntegrationEngineCache"/> (least recently used disposed beyond
/// <see cref="MaxEngines"/>), keyed cheaply by layout and settings JSON; what an engine is built from (geometry, mask,
/// hash) is prepared once per key. The mask is Anvil's documented rule: the operator's mask OR the pixels no module
/// covers (gaps between modules); the detector's −1 pixels are excluded per frame.
/// </summary>
public sealed class EngineCache : IDisposable
{
    /// <summary>Engines kept: three settings versions with a 2θ and a requested-unit engine each.</summary>
    public const int MaxEngines = 6;

    private const int MaxPrepared = 16;
    private readonly IntegrationEngineCache engines = new(MaxEngines);
    private readonly ConcurrentDictionary<string, Lazy<Inputs>> prepared = new(StringComparer.Ordinal);

    /// <summary>The engines for a stitch plan under the given settings.</summary>
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
            var twoTheta = engines.Get($"{key}|2th", () => IntegrationEngine.Build(inputs.Geometry, plan.Rows, plan.Cols, inputs.Mask, inputs.TwoTheta));
            var requested = inputs.Settings.Unit == RadialUnit.TwoThetaDeg
                ? null
                : engines.Get($"{key}|requested", () => IntegrationEngine.Build(inputs.Geometry, plan.Rows, plan.Cols, inputs.Mask, inputs.Settings));
            return new EngineSet(twoTheta, requested, inputs.Settings, inputs.Hash, settingsJson);
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
