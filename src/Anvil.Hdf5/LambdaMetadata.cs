namespace Anvil.Hdf5;

/// <summary>
/// The metadata a Lambda module file carries about its detector and acquisition (the P02.2 files, see
/// docs/science.md §1): under <c>/entry/instrument/detector</c> the <c>description</c>, <c>type</c>, <c>sensor_material</c>,
/// <c>sensor_thickness</c>, <c>threshold_energy</c>, <c>count_time</c>, <c>acquisition_mode</c>, <c>local_name</c>,
/// <c>layout</c> and <c>sequence_number</c>; under its <c>collection</c> the <c>beam_energy</c>, <c>delay_time</c>,
/// <c>shutter_time</c>, <c>module_id</c> and <c>frame_numbers</c>; the root's <c>file_time</c>. The detector writes each
/// scalar as a (1,) growing dataset (an older writer as a scalar); a value the file lacks is null (or "") here, never
/// guessed. Times are kept in milliseconds and energies in eV, as the file stores them.
/// </summary>
public sealed record LambdaMetadata
{
    private const string Detector = LambdaModuleFile.DetectorPath;
    private const string Collection = Detector + "/collection";

    /// <summary>The file read.</summary>
    public required string Path { get; init; }

    /// <summary>detector/description ("Lambda").</summary>
    public string Description { get; init; } = string.Empty;

    /// <summary>detector/sensor_material ("GaAs").</summary>
    public string SensorMaterial { get; init; } = string.Empty;

    /// <summary>detector/sensor_thickness (the file gives no unit; 300 for the P02.2 GaAs sensor, µm).</summary>
    public double? SensorThickness { get; init; }

    /// <summary>detector/threshold_energy in eV.</summary>
    public double? ThresholdEnergyEv { get; init; }

    /// <summary>detector/collection/beam_energy in eV: the energy the detector was told, not a measurement of the beam.</summary>
    public double? BeamEnergyEv { get; init; }

    /// <summary>detector/count_time in ms: the exposure of one frame.</summary>
    public double? CountTimeMs { get; init; }

    /// <summary>detector/collection/delay_time in ms: the pause between frames.</summary>
    public double? DelayTimeMs { get; init; }

    /// <summary>detector/collection/shutter_time in ms.</summary>
    public double? ShutterTimeMs { get; init; }

    /// <summary>detector/acquisition_mode ("ContinuousReadWrite": read out during the next exposure, no dead time).</summary>
    public string AcquisitionMode { get; init; } = string.Empty;

    /// <summary>detector/type ("photon counting").</summary>
    public string Type { get; init; } = string.Empty;

    /// <summary>detector/local_name (the detector's host, "haspp02lmbd01a").</summary>
    public string LocalName { get; init; } = string.Empty;

    /// <summary>detector/collection/module_id of this module.</summary>
    public string ModuleId { get; init; } = string.Empty;

    /// <summary>detector/layout ("1554X516").</summary>
    public string Layout { get; init; } = string.Empty;

    /// <summary>Root attribute file_time: when the detector created this file (ISO 8601 with offset).</summary>
    public string FileTime { get; init; } = string.Empty;

    /// <summary>detector/sequence_number: the 1-based number of each frame in the file, continuing across parts.</summary>
    public IReadOnlyList<int> SequenceNumbers { get; init; } = [];

    /// <summary>The metadata of one module file, or null when it is missing, unreadable or no Lambda file (no count_time).</summary>
    public static LambdaMetadata? Read(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            using var file = Hdf5File.OpenRead(path);
            if (!file.Exists(Detector + "/count_time"))
            {
                return null;
            }

            return new LambdaMetadata
            {
                Path = path,
                Description = Text(file, Detector + "/description"),
                SensorMaterial = Text(file, Detector + "/sensor_material"),
                SensorThickness = Number(file, Detector + "/sensor_thickness"),
                ThresholdEnergyEv = Number(file, Detector + "/threshold_energy"),
                BeamEnergyEv = Number(file, Collection + "/beam_energy"),
                CountTimeMs = Number(file, Detector + "/count_time"),
                DelayTimeMs = Number(file, Collection + "/delay_time"),
                ShutterTimeMs = Number(file, Collection + "/shutter_time"),
                AcquisitionMode = Text(file, Detector + "/acquisition_mode"),
                Type = Text(file, Detector + "/type"),
                LocalName = Text(file, Detector + "/local_name"),
                ModuleId = Text(file, Collection + "/module_id"),
                Layout = Text(file, Detector + "/layout"),
                FileTime = file.TryGetAttributeString("/", "file_time") ?? string.Empty,
                SequenceNumbers = file.Exists(LambdaModuleFile.SequenceNumberPath) ? file.ReadDataset<int>(LambdaModuleFile.SequenceNumberPath) : [],
            };
        }
        catch (Hdf5Exception)
        {
            return null;
        }
    }

    private static double? Number(Hdf5File file, string path)
    {
        if (!file.Exists(path))
        {
            return null;
        }

        var info = file.GetDatasetInfo(path);
        if (info.ElementType is Hdf5ElementType.String)
        {
            return null;
        }

        var value = info.Shape.Length == 0 ? file.ReadScalar<double>(path) : info.Shape[0] > 0 ? file.ReadDataset<double>(path)[0] : double.NaN;
        return double.IsFinite(value) ? value : null;
    }

    private static string Text(Hdf5File file, string path)
    {
        if (!file.Exists(path))
        {
            return string.Empty;
        }

        return file.GetDatasetInfo(path).ElementType is Hdf5ElementType.String ? file.ReadString(path) : string.Empty;
    }
}
