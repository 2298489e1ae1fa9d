using System.Collections.Concurrent;
using Anvil.Integration;
using Anvil.Pipeline;

namespace Anvil.Integrate.Service.Messaging;

/// <summary>The engines for one canvas layout: 2θ (what DIOPTAS plots) and, when asked for, the operator's unit.</summary>
public sealed record EngineSet(IntegrationEngine TwoTheta, IntegrationEngine? Requested, IntegrationSettings Settings, string Hash, string SettingsJson);

/// <summary>
/// Builds each engine once per (canvas layout, settings) and reuses it for every frame. The mask is Anvil's
/// documented rule: the operator's mask OR the pixels no module covers (gaps between modules); the detector's −1
/// pixels are excluded per frame.
/// </summary>
public sealed class EngineCache(PipelineOptions options)
{
    private readonly ConcurrentDictionary<string, Lazy<EngineSet>> engines = new(StringComparer.Ordinal);
    private readonly Lazy<Geometry> geometry = new(() => PoniFile.Load(options.Poni));

    /// <summary>The engines for a stitch plan.</summary>
    public EngineSet Get(StitchPlan plan)
    {
        var key = string.Join(';', plan.Placements.Select(p => $"{p.RowOffset},{p.ColOffset},{p.Rows},{p.Cols}")) + $"|{plan.Rows}x{plan.Cols}|{plan.FlipVertical}";
        return engines.GetOrAdd(key, _ => new Lazy<EngineSet>(() => Build(plan))).Value;
    }

    private EngineSet Build(StitchPlan plan)
    {
        var mask = plan.GapMask();
        if (options.Mask is { Length: > 0 } maskPath)
        {
            var user = MaskLoader.Load(maskPath, plan.Rows, plan.Cols);
            for (var i = 0; i < mask.Length; i++)
            {
                mask[i] |= user[i];
            }
        }

        var requestedUnit = RadialUnits.Parse(options.Unit);
        var settings = new IntegrationSettings
        {
            Npt = options.Npt,
            Unit = RadialUnit.TwoThetaDeg,
            Method = SplitMethods.Parse(options.Method),
            PolarizationFactor = options.Polarization,
            ExcludeNegative = true,
        };
        var twoTheta = IntegrationEngine.Build(geometry.Value, plan.Rows, plan.Cols, mask, settings);
        var requested = requestedUnit == RadialUnit.TwoThetaDeg
            ? null
            : IntegrationEngine.Build(geometry.Value, plan.Rows, plan.Cols, mask, settings with { Unit = requestedUnit });
        var effective = settings with { Unit = requestedUnit };
        return new EngineSet(twoTheta, requested, effective, effective.ComputeHash(geometry.Value, mask), effective.ToJson());
    }
}
