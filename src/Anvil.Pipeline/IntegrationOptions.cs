using Anvil.Integration;
using Anvil.Pressure;

namespace Anvil.Pipeline;

/// <summary>
/// The integration keys of the pipeline configuration, as the pipeline itself (<see cref="PipelineOptions"/>) and each of
/// its detectors (<see cref="DetectorOptions"/>) give them: the same names in both places, read into the one settings
/// model (<see cref="IntegrationSettings"/>) by <see cref="ToSettings"/>. Keys left out take the model's defaults.
/// </summary>
public abstract record IntegrationOptions
{
    /// <summary>pyFAI PONI calibration file (absolute, or relative to the data root).</summary>
    public string? Poni { get; init; }

    /// <summary>Optional mask: DIOPTAS .mask (TIFF), .npy, .edf or <c>file.h5::/path</c>; 1 = masked.</summary>
    public string? Mask { get; init; }

    /// <summary>Optional dark image subtracted from each frame.</summary>
    public string? Dark { get; init; }

    /// <summary>Optional flat image each frame is divided by.</summary>
    public string? Flat { get; init; }

    /// <summary>Number of radial bins.</summary>
    public int? Npt { get; init; }

    /// <summary>Radial unit: 2th_deg, 2th_rad, q_nm^-1, q_A^-1 or d_A.</summary>
    public string? Unit { get; init; }

    /// <summary>Pixel splitting: no, bbox or full.</summary>
    public string? Method { get; init; }

    /// <summary>Polarization factor (−1..1); left out = no polarization correction.</summary>
    public double? Polarization { get; init; }

    /// <summary>
    /// The online pressure stage (section <c>Pressure</c>: <c>Marker</c>, <c>Reflection</c>, <c>WindowLo</c>/<c>WindowHi</c>,
    /// <c>Eos</c>, … as <see cref="PressureSettings"/>; <c>Enabled: false</c> or no section = off).
    /// </summary>
    public PressureSettings? Pressure { get; init; }

    /// <summary>
    /// These keys in the settings model, paths resolved from <paramref name="dataRoot"/>. The numbers left out (npt, unit,
    /// method, polarization, pressure) are taken from <paramref name="numbersFrom"/> when given (a detector takes the
    /// pipeline's), then from the model's defaults; the files (PONI, mask, dark, flat) are never inherited. Not validated
    /// here; <see cref="FormatException"/> for a unit or method that is no name of one.
    /// </summary>
    public IntegrationSettings ToSettings(string dataRoot, IntegrationOptions? numbersFrom = null)
    {
        var d = IntegrationSettings.Default;
        var unit = Unit ?? numbersFrom?.Unit;
        var method = Method ?? numbersFrom?.Method;
        return new IntegrationSettings
        {
            Poni = Poni ?? d.Poni,
            Mask = Mask ?? d.Mask,
            Dark = Dark ?? d.Dark,
            Flat = Flat ?? d.Flat,
            Npt = Npt ?? numbersFrom?.Npt ?? d.Npt,
            Unit = unit is null ? d.Unit : RadialUnits.Parse(unit),
            Method = method is null ? d.Method : SplitMethods.Parse(method),
            PolarizationFactor = Polarization ?? numbersFrom?.Polarization,
            Pressure = (Pressure ?? numbersFrom?.Pressure) is { Enabled: true } pressure ? pressure : null,
        }.Resolve(dataRoot);
    }
}
