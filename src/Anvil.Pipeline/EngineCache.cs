using System.Collections.Concurrent;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>
/// What a detector's frames look like to the engines: the (stitched) shape, the pixels no module covers, and whether
/// the detector's negative values (Lambda's −1 gap pixels) are excluded per frame.
/// </summary>
/// <param name="Rows">Rows of a (stitched) frame.</param>
/// <param name="Cols">Columns of a (stitched) frame.</param>
/// <param name="Key">A cheap identity of the layout (placements and shape) for engine caching.</param>
/// <param name="GapMask">Makes a fresh copy of the detector's own mask (1 = no module there); empty = none.</param>
/// <param name="ExcludeNegative">Whether negative pixel values are excluded per frame (Lambda: true).</param>
public sealed record DetectorLayout(int Rows, int Cols, string Key, Func<byte[]> GapMask, bool ExcludeNegative)
{
    /// <summary>A Lambda detector's stitched canvas: gaps masked, −1 pixels excluded per frame.</summary>
    public static DetectorLayout Stitched(StitchPlan plan) => new(
        plan.Rows,
        plan.Cols,
        string.Join(';', plan.Placements.Select(p => $"{p.RowOffset},{p.ColOffset},{p.Rows},{p.Cols}")) + $"|{plan.Rows}x{plan.Cols}|{plan.FlipVertical}",
        plan.GapMask,
        ExcludeNegative: true);

    /// <summary>A single image of the given shape, read with pyFAI's rules (no detector mask, no per-frame exclusion).</summary>
    public static DetectorLayout Image(int rows, int cols) => new(rows, cols, $"image|{rows}x{cols}", () => [], ExcludeNegative: false);
}

/// <summary>
/// A frame's leases on the engines for one detector layout and settings: 2θ in degrees (what DIOPTAS plots) and, when
/// the settings ask for another unit, that one; with the dark and flat images they apply. The engines stay usable until
/// this is disposed, even if a settings change evicts them meanwhile.
/// </summary>
public sealed class EngineSet : IDisposable
{
    private readonly EngineLease twoTheta;
    private readonly EngineLease? requested;

    internal EngineSet(EngineLease twoTheta, EngineLease? requested, EngineInputs inputs)
    {
        this.twoTheta = twoTheta;
        this.requested = requested;
        Settings = inputs.Settings;
        Hash = inputs.Hash;
        SettingsJson = inputs.SettingsJson;
        Dark = inputs.Dark;
        Flat = inputs.Flat;
    }

    /// <summary>The 2θ engine (the settings with the unit set to 2θ in degrees).</summary>
    public IntegrationEngine TwoTheta => twoTheta.Engine;

    /// <summary>The engine in the requested unit; null when that unit is 2θ in degrees.</summary>
    public IntegrationEngine? Requested => requested?.Engine;

    /// <summary>The settings in force, in the requested unit, with the layout's detector rule.</summary>
    public IntegrationSettings Settings { get; }

    /// <summary>The settings hash each profile records (<see cref="IntegrationSettings.ComputeHash"/>).</summary>
    public string Hash { get; }

    /// <summary>The settings as the result file records them (<see cref="IntegrationSettings.ToJson"/>).</summary>
    public string SettingsJson { get; }

    /// <summary>The dark image subtracted from each frame; empty = none.</summary>
    public ReadOnlyMemory<float> Dark { get; }

    /// <summary>The flat image each frame is divided by; empty = none.</summary>
    public ReadOnlyMemory<float> Flat { get; }

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

/// <summary>What a settings version's engines are built from, loaded once per (layout, settings).</summary>
internal sealed record EngineInputs(Geometry Geometry, byte[] Mask, float[] Dark, float[] Flat, IntegrationSettings TwoTheta,
    IntegrationSettings Settings, string Hash, string SettingsJson);

/// <summary>
/// The one engine path of Anvil, shared by the integrate service and <c>anvil integrate</c>: builds each engine once per
/// (detector layout, settings) and reuses it for every frame; a settings change builds a new set while frames of the old
/// one finish. Engines live in the library's <see cref="IntegrationEngineCache"/> (least recently used evicted beyond
/// <see cref="MaxEngines"/>, and disposed once no frame leases them), keyed cheaply by layout and settings JSON; what an
/// engine is built from (geometry, mask, dark, flat, hash) is loaded once per key. The mask is Anvil's documented rule:
/// the operator's mask OR the pixels no module covers; the detector's −1 pixels are excluded per frame.
/// </summary>
public sealed class EngineCache : IDisposable
{
    /// <summary>Engines kept: three settings versions with a 2θ and a requested-unit engine each.</summary>
    public const int MaxEngines = 6;

    private const int MaxPrepared = 16;
    private readonly IntegrationEngineCache engines = new(MaxEngines);
    private readonly ConcurrentDictionary<string, Lazy<EngineInputs>> prepared = new(StringComparer.Ordinal);

    /// <summary>
    /// Leases on the engines for a detector layout under the given settings (paths absolute); the caller disposes them
    /// when its frame is done. A file that does not load throws (<see cref="IOException"/>, <see cref="FormatException"/>,
    /// <see cref="InvalidDataException"/>, <see cref="Anvil.Hdf5.Hdf5Exception"/>), and the next call tries again.
    /// </summary>
    public EngineSet Get(DetectorLayout layout, IntegrationSettings settings)
    {
        settings = settings with { ExcludeNegative = layout.ExcludeNegative };
        var key = $"{layout.Key}|t{settings.Threads}|{settings.ToJson()}";
        if (prepared.Count >= MaxPrepared && !prepared.ContainsKey(key))
        {
            // Settings changed many times: forget the old inputs (their engines age out of the engine cache).
            prepared.Clear();
        }

        var lazy = prepared.GetOrAdd(key, _ => new Lazy<EngineInputs>(() => Prepare(layout, settings)));
        try
        {
            var inputs = lazy.Value;
            var twoTheta = engines.Rent($"{key}|2th", () => IntegrationEngine.Build(inputs.Geometry, layout.Rows, layout.Cols, inputs.Mask, inputs.TwoTheta));
            try
            {
                var requested = inputs.Settings.Unit == RadialUnit.TwoThetaDeg
                    ? null
                    : engines.Rent($"{key}|requested", () => IntegrationEngine.Build(inputs.Geometry, layout.Rows, layout.Cols, inputs.Mask, inputs.Settings));
                return new EngineSet(twoTheta, requested, inputs);
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
            prepared.TryRemove(new KeyValuePair<string, Lazy<EngineInputs>>(key, lazy));
            throw;
        }
    }

    public void Dispose() => engines.Dispose();

    private static EngineInputs Prepare(DetectorLayout layout, IntegrationSettings settings)
    {
        var geometry = PoniFile.Load(settings.Poni);
        var mask = MaskFile.Combine(layout.GapMask(), settings.Mask, layout.Rows, layout.Cols);
        var dark = settings.Dark.Length == 0 ? [] : ImageFile.Load(settings.Dark, layout.Rows, layout.Cols);
        var flat = settings.Flat.Length == 0 ? [] : ImageFile.Load(settings.Flat, layout.Rows, layout.Cols);
        var twoTheta = settings with { Unit = RadialUnit.TwoThetaDeg };
        return new EngineInputs(geometry, mask, dark, flat, twoTheta, settings, settings.ComputeHash(geometry, mask, dark, flat), settings.ToJson());
    }
}
