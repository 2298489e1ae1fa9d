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
/// The mask is Anvil's documented rule: the operator's mask OR the pixels no module covers (gaps between
/// modules); the detector's −1 pixels are excluded per frame.
/// </summary>
public sealed class EngineCache
{
    private const int MaxSets = 8;
    private readonly ConcurrentDictionary<string, Lazy<EngineSet>> engines = new(StringComparer.Ordinal);

    /// <summary>The engines for a stitch plan under the given settings.</summary>
    public EngineSet Get(StitchPlan plan, IntegrationSpec spec)
    {
        var settingsJson = CanonicalJson(spec);
        var key = string.Join(';', plan.Placements.Select(p => $"{p.RowOffset},{p.ColOffset},{p.Rows},{p.Cols}"))
            + $"|{plan.Rows}x{plan.Cols}|{plan.FlipVertical}|{settingsJson}";
        if (engines.Count >= MaxSets && !engines.ContainsKey(key))
        {
            // Settings changed many times: drop the old sets (frames in flight keep their references).
            engines.Clear();
        }

        var lazy = engines.GetOrAdd(key, _ => new Lazy<EngineSet>(() => Build(plan, spec, settingsJson)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A bad file must not poison the cache: the next frame tries again.
            engines.TryRemove(new KeyValuePair<string, Lazy<EngineSet>>(key, lazy));
            throw;
        }
    }

    /// <summary>The settings as the result file records them: every field but the version and scope.</summary>
    public static string CanonicalJson(IntegrationSpec spec)
    {
        var plain = spec.Clone();
        plain.Version = 0;
        plain.Scope = string.Empty;
        return IntegrationSpecs.ToJson(plain);
    }

    private static EngineSet Build(StitchPlan plan, IntegrationSpec spec, string settingsJson)
    {
        var geometry = PoniFile.Load(spec.Poni);
        var mask = plan.GapMask();
        if (spec.Mask.Length > 0)
        {
            var user = MaskLoader.Load(spec.Mask, plan.Rows, plan.Cols);
            for (var i = 0; i < mask.Length; i++)
            {
                mask[i] |= user[i];
            }
        }

        var requestedUnit = RadialUnits.Parse(spec.Unit);
        var settings = new IntegrationSettings
        {
            Npt = (int)spec.Npt,
            Unit = RadialUnit.TwoThetaDeg,
            Method = SplitMethods.Parse(spec.Method),
            PolarizationFactor = spec.HasPolarization ? spec.Polarization : null,
            ExcludeNegative = true,
        };
        var twoTheta = IntegrationEngine.Build(geometry, plan.Rows, plan.Cols, mask, settings);
        var requested = requestedUnit == RadialUnit.TwoThetaDeg
            ? null
            : IntegrationEngine.Build(geometry, plan.Rows, plan.Cols, mask, settings with { Unit = requestedUnit });
        var effective = settings with { Unit = requestedUnit };
        return new EngineSet(twoTheta, requested, effective, effective.ComputeHash(geometry, mask), settingsJson);
    }
}
