using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Google.Protobuf;

namespace Anvil.Workers;

/// <summary>
/// The operator's integration settings (<see cref="IntegrationSpec"/>): the configured defaults, an update applied
/// to a current version, validation that says what to fix, and the canonical JSON that the result file records.
/// </summary>
public static class IntegrationSpecs
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    /// <summary>Version 0: the settings of the pipeline configuration, with paths made absolute.</summary>
    public static IntegrationSpec FromOptions(PipelineOptions options)
    {
        var spec = new IntegrationSpec
        {
            Poni = Path.GetFullPath(options.Poni),
            Mask = options.Mask is { Length: > 0 } mask ? FullMaskPath(mask, Environment.CurrentDirectory) : string.Empty,
            Npt = (uint)options.Npt,
            Unit = options.Unit,
            Method = options.Method,
        };
        if (options.Polarization is { } p)
        {
            spec.Polarization = p;
        }

        return spec;
    }

    /// <summary>
    /// <paramref name="current"/> with the update's set fields applied, relative paths taken from the data root.
    /// Throws <see cref="ArgumentException"/> saying what to fix when a value is out of range or a file does not load.
    /// </summary>
    public static IntegrationSpec Apply(IntegrationSpec current, UpdateSettingsRequest update, DataRoot dataRoot)
    {
        var next = current.Clone();
        next.Version = 0;
        if (update.HasPoni)
        {
            // Relative paths are taken from the data root, the folder every service shares.
            next.Poni = update.Poni.Length == 0 ? string.Empty : Path.GetFullPath(update.Poni, dataRoot.FullPath);
        }

        if (update.HasMask)
        {
            next.Mask = update.Mask.Length == 0 ? string.Empty : FullMaskPath(update.Mask, dataRoot.FullPath);
        }

        if (update.HasNpt)
        {
            next.Npt = update.Npt;
        }

        if (update.HasUnit)
        {
            next.Unit = update.Unit;
        }

        if (update.HasMethod)
        {
            next.Method = update.Method;
        }

        if (update.NoPolarization)
        {
            next.ClearPolarization();
        }
        else if (update.HasPolarization)
        {
            next.Polarization = update.Polarization;
        }

        Validate(next);
        return next;
    }

    /// <summary>Checks every field; the PONI and the mask must load. <see cref="ArgumentException"/> says what to fix.</summary>
    public static void Validate(IntegrationSpec spec)
    {
        if (spec.Npt is < 2 or > 100_000)
        {
            throw new ArgumentException($"npt {spec.Npt} is out of range: give 2 to 100000 radial bins.");
        }

        try
        {
            _ = RadialUnits.Parse(spec.Unit);
        }
        catch (FormatException)
        {
            throw new ArgumentException($"unit '{spec.Unit}' is unknown: give 2th_deg, 2th_rad, q_nm^-1 or q_A^-1.");
        }

        try
        {
            _ = SplitMethods.Parse(spec.Method);
        }
        catch (FormatException)
        {
            throw new ArgumentException($"method '{spec.Method}' is unknown: give no, bbox or full.");
        }

        if (spec.HasPolarization && (double.IsNaN(spec.Polarization) || spec.Polarization is < -1 or > 1))
        {
            throw new ArgumentException($"polarization {spec.Polarization} is out of range: give a factor from -1 to 1, or switch it off.");
        }

        try
        {
            _ = PoniFile.Load(spec.Poni);
        }
        catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"poni '{spec.Poni}' does not load ({ex.Message}); give a readable pyFAI PONI file (absolute, or relative to the data root).");
        }

        if (spec.Mask.Length > 0)
        {
            try
            {
                _ = MaskLoader.Load(spec.Mask);
            }
            catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException or UnauthorizedAccessException or Anvil.Hdf5.Hdf5Exception)
            {
                throw new ArgumentException($"mask '{spec.Mask}' does not load ({ex.Message}); give a readable .mask, .npy, .edf or file.h5::/dataset (absolute, or relative to the data root).");
            }
        }
    }

    /// <summary>Canonical JSON of the settings (every field, fixed order): what the result file records per frame range.</summary>
    public static string ToJson(IntegrationSpec spec) => Json.Format(spec);

    /// <summary>Reads a spec stored as JSON in a broker message's meta.</summary>
    public static IntegrationSpec FromJson(string json) => JsonParser.Default.Parse<IntegrationSpec>(json);

    // A mask path made absolute against a base folder, keeping an HDF5 dataset suffix (file.h5::/path) as it is.
    private static string FullMaskPath(string mask, string baseDirectory)
    {
        var separator = mask.IndexOf("::", StringComparison.Ordinal);
        return separator < 0
            ? Path.GetFullPath(mask, baseDirectory)
            : Path.GetFullPath(mask[..separator], baseDirectory) + mask[separator..];
    }
}
