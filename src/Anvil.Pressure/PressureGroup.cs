using Anvil.Hdf5;

namespace Anvil.Pressure;

/// <summary>
/// Everything one <c>/processed/pressure</c> group holds: a row per frame (1..n, in order) and what made them.
/// <paramref name="Track"/> is null when the stage could not start (no wavelength, reflection outside the radial range):
/// then every row is flagged with <paramref name="Problem"/> and the marker attributes come from <paramref name="Settings"/>.
/// </summary>
public sealed record PressureTable(
    IReadOnlyList<FramePressure> Frames,
    PressureTrack? Track,
    string SettingsJson,
    string SettingsHash,
    string WavelengthSource,
    string TimeSource,
    string Program,
    PressureSettings? Settings = null,
    string Problem = "");

/// <summary>
/// The writer of a pressure group, used by both <c>anvil pressure</c> (into a copy of a finished result) and merge's
/// online stage (into the result it is writing): the layout is src/Anvil.Pressure/README.md's table. Plain datasets
/// beside DIOPTAS's <c>/processed/result</c> and <c>/processed/process</c>, which it does not touch.
/// </summary>
public static class PressureGroup
{
    /// <summary>Where the group of the frames DIOPTAS shows goes.</summary>
    public const string Path = "/processed/pressure";

    public static void Write(Hdf5File file, string g, PressureTable table)
    {
        var results = table.Frames;
        file.CreateGroup(g);
        file.SetAttribute(g, "NX_class", "NXprocess");
        Column(file, g + "/pressure", results, r => r.Reading?.Pressure, "GPa");
        Column(file, g + "/pressure_error", results, r => r.Reading?.PressureError, "GPa");
        Column(file, g + "/d_spacing", results, r => r.Reading?.DSpacing, "angstrom");
        Column(file, g + "/d_error", results, r => r.Reading?.DSpacingError, "angstrom");
        Column(file, g + "/volume", results, r => r.Reading?.Volume, "angstrom^3");
        Column(file, g + "/position", results, r => r.Ok ? r.Fit.Position : null, "deg");
        Column(file, g + "/position_error", results, r => r.Ok ? r.Fit.PositionError : null, "deg");
        Column(file, g + "/fwhm", results, r => r.Ok ? r.Fit.Fwhm : null, "deg");
        Column(file, g + "/amplitude", results, r => r.Ok ? r.Fit.Amplitude : null, "intensity");
        Column(file, g + "/reduced_chi2", results, r => double.IsFinite(r.Fit.ReducedChiSquare) ? r.Fit.ReducedChiSquare : null, "1");
        Column(file, g + "/frame_time", results, r => r.Time, "s");
        file.WriteDataset(g + "/frame", results.Select(r => r.Frame).ToArray());
        file.WriteDataset(g + "/ok", results.Select(r => r.Ok ? (byte)1 : (byte)0).ToArray());
        file.WriteDataset(g + "/peaks_fitted", results.Select(r => r.Ok ? r.Fit.Peaks : 0).ToArray());
        file.WriteStrings(g + "/reason", results.Select(r => r.Fit.Reason).ToArray());
        file.WriteString(g + "/settings", table.SettingsJson);
        foreach (var name in new[] { "pressure_error", "d_error", "position_error" })
        {
            file.SetAttribute($"{g}/{name}", "meaning", "1 sigma standard error from the fit's covariance (peak position only)");
        }

        file.SetAttribute(g + "/frame_time", "source", table.TimeSource);
        var (marker, hkl, eos) = Names(table);
        file.SetAttribute(g, "marker", marker);
        file.SetAttribute(g, "hkl", hkl);
        file.SetAttribute(g, "eos", eos);
        if (table.Track is { } track)
        {
            var gauge = track.Gauge;
            file.SetAttribute(g, "V0", gauge.Eos.V0);
            file.SetAttribute(g, "K0", gauge.Eos.K0);
            file.SetAttribute(g, "K0prime", gauge.Eos.K0Prime);
            file.SetAttribute(g, "scale", track.Citation);
            file.SetAttribute(g, "wavelength", gauge.Wavelength);
            file.SetAttribute(g, "peak_shape", track.Shape == PeakShape.Gaussian ? "gaussian" : "pseudo-voigt");
            file.SetAttribute(g, "window", new[] { track.WindowLo, track.WindowHi });
        }
        else
        {
            var s = table.Settings ?? new PressureSettings();
            file.SetAttribute(g, "V0", s.V0 ?? double.NaN);
            file.SetAttribute(g, "K0", s.K0 ?? double.NaN);
            file.SetAttribute(g, "K0prime", s.K0Prime ?? double.NaN);
            file.SetAttribute(g, "wavelength", double.NaN);
            file.SetAttribute(g, "error", table.Problem);
        }

        file.SetAttribute(g, "V0_units", "angstrom^3 per unit cell");
        file.SetAttribute(g, "K0_units", "GPa");
        file.SetAttribute(g, "wavelength_units", "angstrom");
        file.SetAttribute(g, "wavelength_source", table.WavelengthSource);
        file.SetAttribute(g, "settings_hash", table.SettingsHash);
        file.SetAttribute(g, "program", table.Program);
    }

    /// <summary>
    /// What a group written from <paramref name="table"/> reads back as, without a file: the console's P–t plot of an
    /// acquisition merge is still tracking (<see cref="Read"/> gives the same for the finished result).
    /// </summary>
    public static PressureSeries Series(PressureTable table)
    {
        var rows = table.Frames;
        double[] Of(Func<FramePressure, double?> value) => rows.Select(r => value(r) ?? double.NaN).ToArray();
        var (marker, hkl, eos) = Names(table);
        return new PressureSeries(
            rows.Select(r => r.Frame).ToArray(),
            Of(r => r.Time),
            Of(r => r.Reading?.Pressure),
            Of(r => r.Reading?.PressureError),
            Of(r => r.Ok ? r.Fit.Position : null),
            Of(r => r.Ok ? r.Fit.Fwhm : null),
            Of(r => r.Reading?.DSpacing),
            rows.Select(r => r.Ok ? (byte)1 : (byte)0).ToArray(),
            rows.Select(r => r.Fit.Reason).ToArray(),
            marker, hkl, eos, table.TimeSource, table.SettingsHash, table.Program);
    }

    // The marker, reflection and EOS form as the group's attributes name them: the gauge's, else the settings asked for.
    private static (string Marker, string Hkl, string Eos) Names(PressureTable table)
    {
        if (table.Track is { } track)
        {
            var gauge = track.Gauge;
            return (gauge.Marker.Name, gauge.Reflection.ToString(), gauge.Eos.Form == EosForm.Vinet ? "Vinet" : "Birch-Murnaghan 3rd order");
        }

        var s = table.Settings ?? new PressureSettings();
        return (s.Jcpds.Length > 0 ? s.Jcpds : s.Marker, s.Reflection, s.Eos);
    }

    /// <summary>Reads a pressure group back (for the console's P–t plot); null when the file has none.</summary>
    public static PressureSeries? Read(Hdf5File file, string g = Path)
    {
        if (!file.Exists(g + "/pressure"))
        {
            return null;
        }

        string Attribute(string name) => file.HasAttribute(g, name) ? file.TryGetAttributeString(g, name) ?? string.Empty : string.Empty;
        return new PressureSeries(
            file.ReadDataset<long>(g + "/frame"),
            file.ReadDataset<double>(g + "/frame_time"),
            file.ReadDataset<double>(g + "/pressure"),
            file.ReadDataset<double>(g + "/pressure_error"),
            file.ReadDataset<double>(g + "/position"),
            file.ReadDataset<double>(g + "/fwhm"),
            file.ReadDataset<double>(g + "/d_spacing"),
            file.ReadDataset<byte>(g + "/ok"),
            file.ReadStrings(g + "/reason"),
            Attribute("marker"),
            Attribute("hkl"),
            Attribute("eos"),
            file.TryGetAttributeString(g + "/frame_time", "source") ?? string.Empty,
            Attribute("settings_hash"),
            Attribute("program"));
    }

    private static void Column(Hdf5File file, string path, IReadOnlyList<FramePressure> results, Func<FramePressure, double?> value, string unit)
    {
        file.WriteDataset(path, results.Select(r => value(r) ?? double.NaN).ToArray());
        file.SetAttribute(path, "units", unit);
    }
}

/// <summary>A pressure group as read back: one entry per frame (position and FWHM in 2θ degrees, NaN when flagged).</summary>
public sealed record PressureSeries(
    long[] Frame,
    double[] Time,
    double[] Pressure,
    double[] PressureError,
    double[] Position,
    double[] Fwhm,
    double[] DSpacing,
    byte[] Ok,
    string[] Reason,
    string Marker,
    string Hkl,
    string Eos,
    string TimeSource,
    string SettingsHash,
    string Program);
