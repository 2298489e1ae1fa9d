using System.Text.Json;
using Anvil.Integration;

namespace Anvil.Pipeline;

/// <summary>
/// The acquisition's metadata and the standard NXazint1d entry (nexusformat/definitions, applications/NXazint1d.nxdl.xml;
/// the fields it requires are checked by tests/Anvil.Pipeline.Tests/NexusDefinitionTests.cs against that file). Nothing
/// here moves DIOPTAS's datasets: <c>/azint1d</c> names the same data through HDF5 hard links (each linked object carries
/// NeXus's <c>target</c> attribute, its path in <c>/processed</c>), so the file grows by a few kilobytes.
/// </summary>
public sealed partial class ResultFileWriter
{
    /// <summary>The NXazint1d entry's path.</summary>
    public const string Azint1dEntry = "/azint1d";

    private const string Instrument = "/processed/instrument";

    // ħc in keV·Å (CODATA 2018): E = hc/λ.
    private const double HcKeVAngstrom = 12.398419843320026;

    private FrameTimes TimesOf(ResultMetadata metadata)
    {
        if (metadata.Times is { } given)
        {
            return given;
        }

        // No shared clock (anvil integrate, tests): the first raw file the frames name, from the result's folder, and
        // every frame's own timestamp where its file gave one.
        var times = new FrameTimes(Path.GetDirectoryName(finalPath)!);
        foreach (var (frame, record) in frames.OrderBy(f => f.Key))
        {
            times.Observe(new FrameResult(frame, record.FileIndex, record.IndexInFile, record.M1File, record.SettingsHash,
                settingsByHash.GetValueOrDefault(record.SettingsHash, string.Empty), null, null, record.Error, record.Timestamp));
        }

        return times;
    }

    private void WriteAcquisition(ResultMetadata metadata, FrameTimes times, bool hasRequested)
    {
        var settings = LatestSettings();
        var geometry = LoadGeometry(settings?.Poni ?? metadata.CalibrationFile);
        var acquisition = metadata.Acquisition.Length > 0 ? metadata.Acquisition : Path.GetFileNameWithoutExtension(finalPath);
        WriteEntryNames("/processed", metadata, acquisition);
        WriteInstrument(metadata, times, geometry);

        // The NXazint1d entry: its own NXentry, linking /processed's datasets under the definition's names.
        const string entry = Azint1dEntry;
        file.CreateGroup(entry);
        file.SetAttribute(entry, "NX_class", "NXentry");
        file.SetAttribute(entry, "default", "data");
        file.WriteString(entry + "/definition", "NXazint1d");
        WriteEntryNames(entry, metadata, acquisition);
        WriteFlag(entry + "/solid_angle_applied", settings?.CorrectSolidAngle ?? true);
        WriteFlag(entry + "/polarization_applied", settings?.PolarizationFactor is not null);
        WriteFlag(entry + "/normalization_applied", true);
        WriteFlag(entry + "/monitor_applied", false);
        LinkAs(Instrument, entry + "/instrument");
        WriteReduction(entry + "/reduction", metadata, settings, geometry);
        var unit = !hasRequested ? RadialUnit.TwoThetaDeg
            : settings?.Unit ?? (RadialUnits.TryParse(metadata.Unit, out var named) ? named : RadialUnit.QA);
        WriteAzintData(entry + "/data", unit, hasRequested);
    }

    private void WriteEntryNames(string entry, ResultMetadata metadata, string acquisition)
    {
        file.WriteString(entry + "/title", acquisition);
        file.WriteString(entry + "/entry_identifier", acquisition);
        if (metadata.Beamtime.Length > 0)
        {
            file.WriteString(entry + "/experiment_identifier", metadata.Beamtime);
        }
    }

    // /processed/instrument: the beamline, the source, the monochromator (the calibration's wavelength) and the detector
    // with the metadata its own files carry (docs/science.md "Time axis and metadata" lists each value's source).
    private void WriteInstrument(ResultMetadata metadata, FrameTimes times, Geometry? geometry)
    {
        file.CreateGroup(Instrument);
        file.SetAttribute(Instrument, "NX_class", "NXinstrument");
        file.WriteString(Instrument + "/name", metadata.Beamline.Length > 0 ? metadata.Beamline : "unknown (set Pipeline:Beamline)");

        const string source = Instrument + "/source";
        file.CreateGroup(source);
        file.SetAttribute(source, "NX_class", "NXsource");
        file.WriteString(source + "/name", metadata.Facility.Length > 0 ? metadata.Facility : "unknown (set Pipeline:Facility)");
        file.WriteString(source + "/type", "Synchrotron X-ray Source");
        file.WriteString(source + "/probe", "x-ray");

        const string monochromator = Instrument + "/monochromator";
        file.CreateGroup(monochromator);
        file.SetAttribute(monochromator, "NX_class", "NXmonochromator");
        var wavelength = geometry is { Wavelength: > 0 } g ? g.Wavelength * 1e10 : double.NaN;
        WriteNumber(monochromator + "/wavelength", wavelength, "angstrom", "the calibration (PONI Wavelength)");
        WriteNumber(monochromator + "/energy", HcKeVAngstrom / wavelength, "keV", "hc / wavelength of the calibration");

        const string detector = Instrument + "/detector";
        file.CreateGroup(detector);
        file.SetAttribute(detector, "NX_class", "NXdetector");
        var lambda = times.Detector;
        var exposure = lambda?.CountTimeMs is { } countMs ? countMs / 1000 : double.NaN;
        WriteNumber(detector + "/count_time", exposure, "s", lambda is null ? "no readable detector file" : "detector/count_time of " + lambda.Path);
        WriteNumber(detector + "/frame_time", times.Period, "s", times.Source);
        if (lambda is null)
        {
            return;
        }

        WriteKnown(detector + "/description", lambda.Description);
        WriteKnown(detector + "/sensor_material", lambda.SensorMaterial);
        WriteKnown(detector + "/type", lambda.Type);
        WriteKnown(detector + "/local_name", lambda.LocalName);
        WriteKnown(detector + "/acquisition_mode", lambda.AcquisitionMode);
        WriteKnown(detector + "/layout", lambda.Layout);
        WriteKnown(detector + "/sensor_thickness", lambda.SensorThickness, "micrometer", "detector/sensor_thickness (the file states no unit)");
        WriteKnown(detector + "/threshold_energy", lambda.ThresholdEnergyEv, "eV", "detector/threshold_energy");

        // What NXdetector has no field for stays in its collection, named as the Lambda names it.
        const string collection = detector + "/collection";
        file.CreateGroup(collection);
        file.SetAttribute(collection, "NX_class", "NXcollection");
        WriteKnown(collection + "/beam_energy", lambda.BeamEnergyEv, "eV", "detector/collection/beam_energy: the energy the detector was set to, not the calibration's");
        WriteKnown(collection + "/exposure_time", lambda.CountTimeMs / 1000, "s", "detector/count_time (the Lambda exposes for its whole count time)");
        WriteKnown(collection + "/delay_time", lambda.DelayTimeMs / 1000, "s", "detector/collection/delay_time");
        WriteKnown(collection + "/shutter_time", lambda.ShutterTimeMs / 1000, "s", "detector/collection/shutter_time");
        WriteKnown(collection + "/module_id", lambda.ModuleId);
        WriteKnown(collection + "/file_time", lambda.FileTime);
        file.WriteString(collection + "/source_file", lambda.Path);
    }

    private void WriteReduction(string process, ResultMetadata metadata, IntegrationSettings? settings, Geometry? geometry)
    {
        file.CreateGroup(process);
        file.SetAttribute(process, "NX_class", "NXprocess");
        file.WriteString(process + "/program", metadata.Program);
        file.WriteString(process + "/version", typeof(ResultFileWriter).Assembly.GetName().Version?.ToString() ?? "0");
        file.WriteString(process + "/date", DateTimeOffset.UtcNow.ToString("O"));
        file.WriteString(process + "/reference",
            "pyFAI 0.21 integrate1d semantics (CSR engine, Poisson error model): G. Ashiotis et al., J. Appl. Cryst. 48, 510-519 (2015), doi:10.1107/S1600576715004306");
        file.WriteString(process + "/note",
            "Rows are frames (the detector's sequence numbers, data/frame) at data/time seconds from the first. radial_axis is the operator's unit; "
            + "/processed/result holds the same frames binned in 2θ (deg) for DIOPTAS. A d-spacing run is binned in q and also gives d = 2π/q (data/d_spacing).");

        // The parameters of pyFAI's integrate1d, under its names, as the frames shown were integrated.
        var input = process + "/input";
        file.CreateGroup(input);
        file.SetAttribute(input, "NX_class", "NXparameters");
        var s = settings ?? IntegrationSettings.Default with { Npt = metadata.Npt };
        file.WriteString(input + "/poni", settings?.Poni ?? metadata.CalibrationFile);
        file.WriteString(input + "/mask", s.Mask);
        file.WriteString(input + "/dark", s.Dark);
        file.WriteString(input + "/flat", s.Flat);
        file.WriteDataset(input + "/npt", [(long)s.Npt], []);
        file.WriteString(input + "/unit", settings?.Unit.Format() ?? metadata.Unit);
        file.WriteString(input + "/method", $"{(settings?.Method.Format() ?? metadata.Method)}, csr");
        file.WriteString(input + "/error_model", "poisson");
        WriteFlag(input + "/correctSolidAngle", s.CorrectSolidAngle);
        WriteNumber(input + "/polarization_factor", s.PolarizationFactor ?? double.NaN, string.Empty, s.PolarizationFactor is null ? "none: no polarization correction" : "the settings");
        if (s.RadialRange is { } radial)
        {
            file.WriteDataset(input + "/radial_range", [radial.Lo, radial.Hi]);
            file.SetAttribute(input + "/radial_range", "units", s.Unit.NexusUnits());
        }

        if (s.AzimuthRange is { } azimuth)
        {
            file.WriteDataset(input + "/azimuth_range", [azimuth.Lo, azimuth.Hi]);
            file.SetAttribute(input + "/azimuth_range", "units", "deg");
        }

        if (s.Dummy is { } dummy)
        {
            WriteNumber(input + "/dummy", dummy, string.Empty, "the settings");
            WriteNumber(input + "/delta_dummy", s.DeltaDummy ?? 0, string.Empty, "the settings");
        }

        if (geometry is not null)
        {
            // The calibration itself, so the file stands without the PONI file.
            WriteNumber(input + "/dist", geometry.Distance, "m", "PONI Distance");
            WriteNumber(input + "/poni1", geometry.Poni1, "m", "PONI Poni1");
            WriteNumber(input + "/poni2", geometry.Poni2, "m", "PONI Poni2");
            WriteNumber(input + "/rot1", geometry.Rot1, "rad", "PONI Rot1");
            WriteNumber(input + "/rot2", geometry.Rot2, "rad", "PONI Rot2");
            WriteNumber(input + "/rot3", geometry.Rot3, "rad", "PONI Rot3");
            WriteNumber(input + "/wavelength", geometry.Wavelength, "m", "PONI Wavelength");
            WriteNumber(input + "/pixel1", geometry.Pixel1, "m", "PONI Detector_config pixel1");
            WriteNumber(input + "/pixel2", geometry.Pixel2, "m", "PONI Detector_config pixel2");
        }

        file.WriteString(input + "/settings_json", settings?.ToJson() ?? string.Empty);
    }

    // NXazint1d's NXdata: I, I_errors and radial_axis linked from the segment DIOPTAS shows (its operator-unit twin when the
    // unit is not 2θ in degrees), the frame and time axes along the frames.
    private void WriteAzintData(string data, RadialUnit unit, bool hasRequested)
    {
        var from = hasRequested ? "/processed/result_requested" : "/processed/result";
        file.CreateGroup(data);
        file.SetAttribute(data, "NX_class", "NXdata");
        file.SetAttribute(data, "signal", "I");
        file.SetAttribute(data, "axes", [".", "radial_axis"]);
        file.SetAttribute(data, "interpretation", "spectrum");
        file.SetAttribute(data, "radial_axis_indices", 1L);
        file.SetAttribute(data, "frame_indices", 0L);
        file.SetAttribute(data, "time_indices", 0L);

        LinkAs(from + "/data", data + "/I");
        file.SetAttribute(data + "/I", "long_name", "intensity");
        file.SetAttribute(data + "/I", "units", "arbitrary units");
        LinkAs(from + "/errors", data + "/I_errors");
        file.SetAttribute(data + "/I_errors", "long_name", "estimated intensity error");
        file.SetAttribute(data + "/I_errors", "units", "arbitrary units");
        LinkAs("/processed/result/frame", data + "/frame");
        LinkAs("/processed/result/time", data + "/time");

        // The radial axis is a copy (a few kB), not a link: its attributes are NXazint1d's, and binning's stay DIOPTAS's.
        var radial = file.ReadDataset<double>(from + (hasRequested ? "/radial" : "/binning"));
        if (unit == RadialUnit.DA)
        {
            // NXazint1d's radial axis is q or 2θ: a d run gives the q it was binned in, and d beside it.
            file.WriteDataset(data + "/d_spacing", radial);
            file.SetAttribute(data + "/d_spacing", "units", unit.NexusUnits());
            file.SetAttribute(data + "/d_spacing", "unit", unit.Format());
            file.SetAttribute(data + "/d_spacing", "long_name", "d-spacing = 2π/q");
            file.SetAttribute(data, "d_spacing_indices", 1L);
            radial = radial.Select(d => 2 * Math.PI / d).ToArray();
            unit = RadialUnit.QA;
        }

        file.WriteDataset(data + "/radial_axis", radial);
        file.SetAttribute(data + "/radial_axis", "long_name", unit.IsQ() ? "q" : "2theta");
        file.SetAttribute(data + "/radial_axis", "units", unit.NexusUnits());
    }

    private void LinkAs(string target, string linkPath)
    {
        file.Link(target, linkPath);
        file.SetAttribute(linkPath, "target", target);
    }

    // A value the detector's file lacks is left out, never written empty or guessed (docs/science.md §6).
    private void WriteKnown(string path, string value)
    {
        if (value.Length > 0)
        {
            file.WriteString(path, value);
        }
    }

    private void WriteKnown(string path, double? value, string units, string source)
    {
        if (value is { } known)
        {
            WriteNumber(path, known, units, source);
        }
    }

    private void WriteFlag(string path, bool value) => file.WriteDataset(path, [value ? (byte)1 : (byte)0], []);

    private void WriteNumber(string path, double value, string units, string source)
    {
        file.WriteDataset(path, [value], []);
        if (units.Length > 0)
        {
            file.SetAttribute(path, "units", units);
        }

        file.SetAttribute(path, "source", source);
    }

    private IntegrationSettings? LatestSettings()
    {
        if (LatestSettingsJson is not { } json)
        {
            return null;
        }

        try
        {
            return IntegrationSettings.FromJson(json);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }

    private static Geometry? LoadGeometry(string poni)
    {
        try
        {
            return poni.Length > 0 && File.Exists(poni) ? PoniFile.Load(poni) : null;
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
