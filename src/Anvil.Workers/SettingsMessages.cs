using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Anvil.Pressure;

namespace Anvil.Workers;

/// <summary>A settings version as the broker keeps it: the settings model, its version (broker id) and scope.</summary>
/// <param name="Version">Broker id of this version; 0 = the configured defaults.</param>
/// <param name="Scope">"" = every acquisition, else the acquisition it applies to.</param>
/// <param name="Settings">The settings, paths absolute.</param>
/// <param name="Detector">The detector they belong to ("" = no detectors configured).</param>
public sealed record VersionedSettings(ulong Version, string Scope, IntegrationSettings Settings, string Detector = "")
{
    /// <summary>The wire form.</summary>
    public SettingsVersion ToMessage()
    {
        var message = Settings.ToMessage(Version, Scope);
        message.Detector = Detector;
        return message;
    }
}

/// <summary>
/// The one translation between the settings model (<see cref="IntegrationSettings"/>) and its wire forms in the pipeline
/// contract: <see cref="SettingsVersion"/> and the changes of an <see cref="UpdateSettingsRequest"/>. The contract's
/// <c>Unit</c> and <c>Method</c> enums are numbered as the model's, so they convert by value.
/// </summary>
public static class SettingsMessages
{
    /// <summary>Names <see cref="UpdateSettingsRequest.Reset"/> takes.</summary>
    public static readonly IReadOnlyList<string> Resettable = ["polarization", "radial_range", "azimuth_range_deg", "dummy", "delta_dummy"];

    public static SettingsVersion ToMessage(this IntegrationSettings s, ulong version = 0, string scope = "")
    {
        var m = new SettingsVersion
        {
            Version = version,
            Scope = scope,
            Poni = s.Poni,
            Mask = s.Mask,
            Dark = s.Dark,
            Flat = s.Flat,
            Npt = (uint)s.Npt,
            Unit = (Unit)s.Unit,
            Method = (Method)s.Method,
            RadialRange = ToRange(s.RadialRange),
            AzimuthRangeDeg = ToRange(s.AzimuthRange),
            Pressure = s.Pressure?.ToJson() ?? string.Empty,
        };
        if (s.PolarizationFactor is { } p)
        {
            m.Polarization = p;
        }

        if (s.Dummy is { } d)
        {
            m.Dummy = d;
        }

        if (s.DeltaDummy is { } dd)
        {
            m.DeltaDummy = dd;
        }

        return m;
    }

    /// <summary>
    /// The settings of a version (the model's detector rule and threads are left at their defaults: those are the
    /// integrating worker's to set). Not validated here.
    /// </summary>
    public static IntegrationSettings ToSettings(this SettingsVersion m) => new()
    {
        Poni = m.Poni,
        Mask = m.Mask,
        Dark = m.Dark,
        Flat = m.Flat,
        Npt = (int)Math.Min(m.Npt, int.MaxValue),
        Unit = (RadialUnit)m.Unit,
        Method = (SplitMethod)m.Method,
        PolarizationFactor = m.HasPolarization ? m.Polarization : null,
        RadialRange = FromRange(m.RadialRange),
        AzimuthRange = FromRange(m.AzimuthRangeDeg),
        Dummy = m.HasDummy ? m.Dummy : null,
        DeltaDummy = m.HasDeltaDummy ? m.DeltaDummy : null,
        Pressure = m.Pressure.Length == 0 ? null : PressureSettings.FromJson(m.Pressure),
    };

    /// <summary>
    /// A change that replaces the settings in force by <paramref name="s"/> as a whole: every field set, the optional
    /// ones <paramref name="s"/> leaves out reset (polarization, ranges, dummies off; pressure "off"). How a pipeline
    /// configuration file's settings are applied to a running suite (the console's configuration loader).
    /// A non-positive npt cannot travel (the wire's npt is unsigned): it is left out, so give the model's message for it.
    /// </summary>
    public static UpdateSettingsRequest ToReplacement(this IntegrationSettings s, string detector = "")
    {
        var u = new UpdateSettingsRequest
        {
            Detector = detector,
            Poni = s.Poni,
            Mask = s.Mask,
            Dark = s.Dark,
            Flat = s.Flat,
            Unit = (Unit)s.Unit,
            Method = (Method)s.Method,
            Pressure = s.Pressure?.ToJson() ?? "off",
        };
        if (s.Npt > 0)
        {
            u.Npt = (uint)s.Npt;
        }

        if (s.PolarizationFactor is { } p)
        {
            u.Polarization = p;
        }
        else
        {
            u.Reset.Add("polarization");
        }

        _ = s.RadialRange is { } radial ? u.RadialRange = ToRange(radial) : Reset(u, "radial_range");
        _ = s.AzimuthRange is { } azimuth ? u.AzimuthRangeDeg = ToRange(azimuth) : Reset(u, "azimuth_range_deg");
        if (s.Dummy is { } d)
        {
            u.Dummy = d;
        }
        else
        {
            u.Reset.Add("dummy");
        }

        if (s.DeltaDummy is { } dd)
        {
            u.DeltaDummy = dd;
        }
        else
        {
            u.Reset.Add("delta_dummy");
        }

        return u;
    }

    /// <summary>True when the request changes anything.</summary>
    public static bool HasChanges(this UpdateSettingsRequest u) =>
        u.HasPoni || u.HasMask || u.HasDark || u.HasFlat || u.HasNpt || u.HasUnit || u.HasMethod || u.HasPolarization
        || u.RadialRange is not null || u.AzimuthRangeDeg is not null || u.HasDummy || u.HasDeltaDummy || u.Reset.Count > 0 || u.HasPressure;

    /// <summary>
    /// <paramref name="current"/> with the request's set fields applied, paths resolved by the model's rule (relative to
    /// <paramref name="dataRoot"/>), validated. With <paramref name="confineFiles"/> (a change that reaches a service) a
    /// file the request changes must lie below the data root, by the rule announced chunks follow (<see cref="DataRoot"/>:
    /// no <c>..</c>, no symlink out of it, no absolute path elsewhere); files already in force (from the operator's
    /// configuration) are kept as they are. Throws <see cref="SettingsException"/> listing every problem; nothing is
    /// applied unless all is valid.
    /// </summary>
    public static IntegrationSettings Apply(this IntegrationSettings current, UpdateSettingsRequest u, string dataRoot, bool confineFiles = true)
    {
        var errors = u.Reset.Where(r => !Resettable.Contains(r))
            .Select(r => new SettingsError(r, $"'{r}' cannot be reset: give one of {string.Join(", ", Resettable)}.")).ToList();
        if (confineFiles)
        {
            var root = new DataRoot(dataRoot);
            CheckConfined(errors, root, "poni", u.HasPoni ? u.Poni : null, current.Poni);
            CheckConfined(errors, root, "mask", u.HasMask ? u.Mask : null, current.Mask);
            CheckConfined(errors, root, "dark", u.HasDark ? u.Dark : null, current.Dark);
            CheckConfined(errors, root, "flat", u.HasFlat ? u.Flat : null, current.Flat);
        }

        if (errors.Count > 0)
        {
            throw new SettingsException(errors);
        }

        PressureSettings? pressure;
        try
        {
            pressure = !u.HasPressure ? current.Pressure : ParsePressure(u.Pressure);
        }
        catch (FormatException ex)
        {
            throw new SettingsException([new SettingsError("pressure", $"pressure: {ex.Message}")]);
        }

        var next = current with
        {
            Poni = u.HasPoni ? u.Poni : current.Poni,
            Mask = u.HasMask ? u.Mask : current.Mask,
            Dark = u.HasDark ? u.Dark : current.Dark,
            Flat = u.HasFlat ? u.Flat : current.Flat,
            Npt = u.HasNpt ? (int)Math.Min(u.Npt, int.MaxValue) : current.Npt,
            Unit = u.HasUnit ? (RadialUnit)u.Unit : current.Unit,
            Method = u.HasMethod ? (SplitMethod)u.Method : current.Method,
            PolarizationFactor = u.Reset.Contains("polarization") ? null : u.HasPolarization ? u.Polarization : current.PolarizationFactor,
            RadialRange = u.Reset.Contains("radial_range") ? null : FromRange(u.RadialRange) ?? current.RadialRange,
            AzimuthRange = u.Reset.Contains("azimuth_range_deg") ? null : FromRange(u.AzimuthRangeDeg) ?? current.AzimuthRange,
            Dummy = u.Reset.Contains("dummy") ? null : u.HasDummy ? u.Dummy : current.Dummy,
            DeltaDummy = u.Reset.Contains("delta_dummy") ? null : u.HasDeltaDummy ? u.DeltaDummy : current.DeltaDummy,
            Pressure = pressure,
        };
        return next.Resolve(dataRoot).ThrowIfInvalid();
    }

    // A changed file must lie below the data root; "" (none) and the file already in force pass.
    private static void CheckConfined(List<SettingsError> errors, DataRoot root, string field, string? requested, string inForce)
    {
        // Too long a path is the model's to report (IntegrationSettings.Validate), without echoing it here.
        if (string.IsNullOrEmpty(requested) || requested.Length > IntegrationSettings.MaxPathLength
            || HdfPath.GetFullPath(requested, root.FullPath) == inForce)
        {
            return;
        }

        try
        {
            root.ToRelative(HdfPath.Split(requested)?.File ?? requested);
        }
        catch (ArgumentException ex)
        {
            errors.Add(new SettingsError(field, $"{field} {ex.Message.Split(" (Parameter", 2)[0]}"));
        }
    }

    /// <summary>The request's pressure field: "" or "off" = off, JSON, or the one-line form MARKER HKL [LO:HI] [vinet|bm3].</summary>
    public static PressureSettings? ParsePressure(string text)
    {
        var t = text.Trim();
        return t.Length == 0 || t == "off" ? null : t.StartsWith('{') ? PressureSettings.FromJson(t) : PressureSettings.ParseSpec(t);
    }

    private static Pipeline.V1.Range? Reset(UpdateSettingsRequest u, string field)
    {
        u.Reset.Add(field);
        return null;
    }

    private static Pipeline.V1.Range? ToRange((double Lo, double Hi)? range) => range is { } r ? new Pipeline.V1.Range { Lo = r.Lo, Hi = r.Hi } : null;

    private static (double Lo, double Hi)? FromRange(Pipeline.V1.Range? range) => range is null ? null : (range.Lo, range.Hi);
}
