using System.Text.RegularExpressions;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>
/// A kind of detector: what its files look like to the chain. Open for more kinds: add one here and to
/// <see cref="DetectorKinds.All"/> (a single-image detector, say, with one module and its own file pattern).
/// </summary>
/// <param name="Name">The name the configuration's <c>Kind</c> takes (case-insensitive), e.g. <c>lambda2m</c>.</param>
/// <param name="Description">One line for the operator.</param>
/// <param name="Modules">Module files per chunk part (3 for a Lambda 2M).</param>
/// <param name="ModuleShape">Rows × columns of every module's frame, when the kind fixes it (516 × 1554 for a Lambda 2M module); null = any.</param>
public sealed record DetectorKind(string Name, string Description, int Modules, (int Rows, int Cols)? ModuleShape);

/// <summary>The detector kinds the chain knows.</summary>
public static class DetectorKinds
{
    /// <summary>X-Spectrum Lambda 2M (GaAs at P02.2): three 516 × 1554 module files per chunk part, stitched as DIOPTAS does (<see cref="StitchPlan"/>).</summary>
    public static readonly DetectorKind Lambda2M = new("lambda2m", "X-Spectrum Lambda 2M: 3 module files per chunk part, stitched", 3, (516, 1554));

    /// <summary>
    /// A single-image detector (PerkinElmer, Pilatus, Eiger, …): one image file per chunk part (TIFF, CBF, EDF or an Eiger
    /// master, read by <c>Anvil.Integration.Formats.DetectorImageFile</c>), the image itself the canvas. Its shape is the
    /// PONI's <c>max_shape</c> when the PONI names one, else the acquisition's first image's.
    /// </summary>
    public static readonly DetectorKind Image = new("image", "single-image detector: one TIFF, CBF, EDF or Eiger master file per chunk part", 1, null);

    /// <summary>Every kind, by name.</summary>
    public static readonly IReadOnlyList<DetectorKind> All = [Lambda2M, Image];

    /// <summary>The kind called <paramref name="name"/>; <see cref="FormatException"/> lists the kinds there are.</summary>
    public static DetectorKind Parse(string name) =>
        All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new FormatException($"kind '{name}' is unknown: give {string.Join(" or ", All.Select(k => k.Name))}.");
}

/// <summary>
/// One detector of the pipeline configuration (<c>Pipeline:Detectors:&lt;name&gt;</c>): its kind, its calibration and
/// its own integration settings, the same keys as the pipeline's. <c>Poni</c> is required; <c>Mask</c>, <c>Dark</c> and
/// <c>Flat</c> belong to this detector alone (left out = none); the numbers (<c>Npt</c>, <c>Unit</c>, <c>Method</c>,
/// <c>Polarization</c>, <c>Pressure</c>) left out take the pipeline's.
/// </summary>
public sealed record DetectorOptions : IntegrationOptions
{
    /// <summary>The detector kind (<see cref="DetectorKinds"/>), e.g. <c>lambda2m</c>.</summary>
    public string? Kind { get; init; }

    /// <summary>Watch mode: the detector's files, a pattern of the path below the watched folder (<c>*</c> and <c>?</c>, <c>*</c> also across folders), e.g. <c>lambda1/*.nxs</c>.</summary>
    public string? Pattern { get; init; }
}

/// <summary>A configured detector, checked: its name, kind, watch pattern and integration settings (paths absolute).</summary>
public sealed record Detector(string Name, DetectorKind Kind, string? Pattern, IntegrationSettings Settings);

/// <summary>
/// The detectors of the pipeline configuration and how an acquisition's data of each travels: with detectors
/// configured, detector D's chunks of acquisition A go to the broker stream <c>A_D</c> (<see cref="Stream"/>), so every
/// stage keeps them apart and merge writes <c>A_D.nxs</c>. Detector names are 1–32 characters of A–Z, a–z, 0–9 and '-'
/// (no '_'), so the last '_' of a stream name separates the acquisition from the detector, and two detectors'
/// results never collide. Without detectors the stream is the acquisition, as it always was.
/// </summary>
public sealed partial class DetectorSet
{
    /// <summary>The most characters a detector name may have.</summary>
    public const int MaxNameLength = 32;

    private readonly Dictionary<string, Detector> byName;

    private DetectorSet(IReadOnlyList<Detector> detectors)
    {
        Detectors = detectors;
        byName = detectors.ToDictionary(d => d.Name, StringComparer.Ordinal);
    }

    /// <summary>No detectors configured: one unnamed detector, the pipeline's own settings.</summary>
    public static DetectorSet None { get; } = new([]);

    /// <summary>The configured detectors, by name (ordinal order).</summary>
    public IReadOnlyList<Detector> Detectors { get; }

    /// <summary>Whether a <c>Detectors</c> section is configured.</summary>
    public bool Configured => Detectors.Count > 0;

    /// <summary>The names, for messages.</summary>
    public string Names => string.Join(", ", Detectors.Select(d => d.Name));

    /// <summary>The detector called <paramref name="name"/>, or null.</summary>
    public Detector? Find(string name) => byName.GetValueOrDefault(name);

    /// <summary>
    /// Checks the configuration's <c>Detectors</c> section; every problem in one <see cref="ArgumentException"/>,
    /// each naming the detector and the key. With <paramref name="checkFiles"/> the PONI, mask, dark and flat must load
    /// (the CLI checks before it starts the suite; a service reports a file that went missing per frame). Without
    /// <paramref name="validateSettings"/> the integration settings are not validated here (the console's configuration
    /// loader validates them against the versions in force, to report each problem under its field).
    /// </summary>
    public static DetectorSet From(PipelineOptions options, bool checkFiles = false, bool validateSettings = true)
    {
        if (options.Detectors is not { Count: > 0 } configured)
        {
            return None;
        }

        var errors = new List<string>();
        var detectors = new List<Detector>();
        var dataRoot = Path.GetFullPath(options.DataRoot);
        foreach (var (name, d) in configured.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var before = errors.Count;
            if (!NamePattern().IsMatch(name))
            {
                errors.Add($"detector '{name}': a name is 1–{MaxNameLength} characters of A–Z, a–z, 0–9 or '-' (no '_': it separates acquisition and detector in stream and file names).");
            }

            DetectorKind? kind = null;
            if (string.IsNullOrWhiteSpace(d.Kind))
            {
                errors.Add($"detector '{name}': Kind is missing: give {string.Join(" or ", DetectorKinds.All.Select(k => k.Name))}.");
            }
            else
            {
                try
                {
                    kind = DetectorKinds.Parse(d.Kind);
                }
                catch (FormatException ex)
                {
                    errors.Add($"detector '{name}': {ex.Message}");
                }
            }

            if (string.IsNullOrWhiteSpace(d.Poni))
            {
                errors.Add($"detector '{name}': Poni is missing: every detector needs its own calibration (a pyFAI PONI file).");
            }

            IntegrationSettings? settings = null;
            try
            {
                settings = d.ToSettings(dataRoot, numbersFrom: options);
            }
            catch (FormatException ex)
            {
                errors.Add($"detector '{name}': {ex.Message}");
            }

            if (validateSettings && settings is not null && !string.IsNullOrWhiteSpace(d.Poni))
            {
                errors.AddRange(settings.Validate(checkFiles).Select(e => $"detector '{name}': {e.Message}"));
            }

            if (errors.Count == before)
            {
                detectors.Add(new Detector(name, kind!, string.IsNullOrWhiteSpace(d.Pattern) ? null : d.Pattern, settings!));
            }
        }

        return errors.Count > 0
            ? throw new ArgumentException("the Detectors section of the pipeline configuration is wrong: " + string.Join(" ", errors))
            : new DetectorSet(detectors);
    }

    /// <summary>
    /// The broker stream (and result file name, without <c>.nxs</c>) of <paramref name="acquisition"/>'s data from the
    /// detector the driver named: <c>A_D</c> with detectors configured, <c>A</c> without. "" names the only detector;
    /// with several, a name is needed. <see cref="ArgumentException"/> names the detector and the file
    /// (<paramref name="path"/>, when given) and says what to fix.
    /// </summary>
    public (string Stream, Detector? Detector) Stream(string acquisition, string detector, string? path = null)
    {
        var file = string.IsNullOrEmpty(path) ? string.Empty : $" (file {path})";
        if (!Configured)
        {
            return detector.Length == 0
                ? (acquisition, null)
                : throw new ArgumentException($"detector '{Shown(detector)}'{file} is unknown: the pipeline configuration lists no detectors, so announce with no detector name (or add a Detectors section).");
        }

        Detector found;
        if (detector.Length == 0)
        {
            found = Detectors.Count == 1
                ? Detectors[0]
                : throw new ArgumentException($"no detector named{file}: {Detectors.Count} detectors are configured, so name one of {Names}.");
        }
        else
        {
            found = Find(detector) ?? throw new ArgumentException($"detector '{Shown(detector)}'{file} is unknown: give one of the configured detectors, {Names}.");
        }

        var stream = StreamName(acquisition, found.Name);
        return ChunkFileName.IsValidAcquisition(stream)
            ? (stream, found)
            : throw new ArgumentException($"acquisition '{acquisition}' of detector {found.Name}{file}: the stream {stream} must be 1–128 characters of A–Z, a–z, 0–9, '.', '_' or '-'; give a shorter acquisition name.");
    }

    /// <summary>The stream (and result file name) of detector <paramref name="detector"/>'s data of <paramref name="acquisition"/>: <c>A_D</c>.</summary>
    public static string StreamName(string acquisition, string detector) => $"{acquisition}_{detector}";

    /// <summary>The acquisition and detector of a stream name (<c>A_D</c>, D configured); null when it is no detector's stream.</summary>
    public (string Acquisition, Detector Detector)? Parse(string stream)
    {
        var cut = stream.LastIndexOf('_');
        return cut > 0 && Find(stream[(cut + 1)..]) is { } detector ? (stream[..cut], detector) : null;
    }

    private static string Shown(string name) => name.Length <= 64 ? name : name[..64] + $"… ({name.Length} characters)";

    [GeneratedRegex(@"^[A-Za-z0-9-]{1,32}$")]
    private static partial Regex NamePattern();
}

/// <summary>
/// The detector a result belongs to, as the file records it: <c>/processed/process/detector</c>, a string dataset holding
/// the name, with attributes <c>kind</c>, <c>poni_file</c> and the PONI geometry (<c>distance_m</c>, <c>poni1_m</c>,
/// <c>poni2_m</c>, <c>rot1_rad</c>, <c>rot2_rad</c>, <c>rot3_rad</c>, <c>wavelength_m</c>, <c>pixel1_m</c>,
/// <c>pixel2_m</c>).
/// </summary>
public sealed record ResultDetector(string Name, string Kind, string PoniFile, Geometry? Geometry)
{
    /// <summary>The record of <paramref name="detector"/> with the geometry of the PONI in force (<paramref name="poni"/>), loaded here.</summary>
    public static ResultDetector Of(Detector detector, string poni) => Of(detector, poni, Integration.PoniFile.Load(poni));

    /// <summary>The record with a geometry already known (null: not known; only the name, kind and file are written).</summary>
    public static ResultDetector Of(Detector detector, string poni, Geometry? geometry) => new(detector.Name, detector.Kind.Name, poni, geometry);

    /// <summary>Writes the record at <paramref name="path"/>.</summary>
    public void Write(Hdf5.Hdf5File file, string path)
    {
        file.WriteString(path, Name);
        file.SetAttribute(path, "kind", Kind);
        file.SetAttribute(path, "poni_file", PoniFile);
        if (Geometry is null)
        {
            return;
        }

        file.SetAttribute(path, "distance_m", Geometry.Distance);
        file.SetAttribute(path, "poni1_m", Geometry.Poni1);
        file.SetAttribute(path, "poni2_m", Geometry.Poni2);
        file.SetAttribute(path, "rot1_rad", Geometry.Rot1);
        file.SetAttribute(path, "rot2_rad", Geometry.Rot2);
        file.SetAttribute(path, "rot3_rad", Geometry.Rot3);
        file.SetAttribute(path, "wavelength_m", Geometry.Wavelength);
        file.SetAttribute(path, "pixel1_m", Geometry.Pixel1);
        file.SetAttribute(path, "pixel2_m", Geometry.Pixel2);
    }
}
