using System.Globalization;
using Anvil.Integration;
using Anvil.Pipeline.V1;
using Anvil.Workers;

namespace Anvil.Cli;

/// <summary>
/// The integration-settings flags every command takes (<c>--poni --mask --dark --flat --npt --unit --method
/// --polarization</c>), read into the wire form of a change (<see cref="UpdateSettingsRequest"/>) that the settings
/// model applies and validates (<see cref="SettingsMessages.Apply"/>). Paths on the command line are the shell's:
/// relative to the working directory, so they are made absolute here.
/// </summary>
public static class SettingsFlags
{
    /// <summary>The flags but <c>--poni</c>, which each command names itself (required or not).</summary>
    public const string Usage = "[--mask F|none] [--dark F|none] [--flat F|none] [--npt N] [--unit 2th_deg|2th_rad|q_nm^-1|q_A^-1|d_A] [--method no|bbox|full] [--polarization P|none]";

    /// <summary>The pressure stage's flag (merge's online stage; not for `anvil integrate`, which has `anvil pressure`).</summary>
    public const string PressureUsage = "[--pressure \"MARKER HKL [LO:HI] [vinet|bm3]\"|off]";

    /// <summary>The changes the flags ask for; a unit or method that is no name of one is a <see cref="UsageException"/>.</summary>
    public static UpdateSettingsRequest Read(CommandLine line)
    {
        var update = new UpdateSettingsRequest();
        if (line.Get("poni") is { } poni)
        {
            update.Poni = FullPath(poni);
        }

        if (line.Get("mask") is { } mask)
        {
            update.Mask = mask == "none" ? string.Empty : FullPath(mask);
        }

        if (line.Get("dark") is { } dark)
        {
            update.Dark = dark == "none" ? string.Empty : FullPath(dark);
        }

        if (line.Get("flat") is { } flat)
        {
            update.Flat = flat == "none" ? string.Empty : FullPath(flat);
        }

        if (line.Get("npt") is { } npt)
        {
            update.Npt = uint.TryParse(npt, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new UsageException($"npt '{npt}' is not a number of radial bins: give {IntegrationSettings.MinNpt} to {IntegrationSettings.MaxNpt}.");
        }

        try
        {
            if (line.Get("unit") is { } unit)
            {
                update.Unit = (Unit)RadialUnits.Parse(unit);
            }

            if (line.Get("method") is { } method)
            {
                update.Method = (Method)SplitMethods.Parse(method);
            }
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }

        if (line.Get("polarization") is { } polarization)
        {
            if (polarization == "none")
            {
                update.Reset.Add("polarization");
            }
            else
            {
                update.Polarization = line.GetDouble("polarization", 0);
            }
        }

        if (line.Get("pressure") is { } pressure)
        {
            // The settings model reads it (SettingsMessages.ParsePressure); a .jcpds card's path is the shell's.
            update.Pressure = pressure.Trim().Split(' ')[0].EndsWith(".jcpds", StringComparison.OrdinalIgnoreCase)
                ? string.Join(' ', pressure.Trim().Split(' ', 2) is [var card, .. var rest] ? [FullPath(card), .. rest] : [])
                : pressure;
        }

        return update;
    }

    /// <summary><paramref name="current"/> with the flags applied, validated; every problem as one <see cref="UsageException"/>.</summary>
    public static IntegrationSettings Apply(IntegrationSettings current, CommandLine line)
    {
        try
        {
            // Local flags name the caller's own files (anvil integrate, demo): no data root to keep them in.
            return current.Apply(Read(line), Environment.CurrentDirectory, confineFiles: false);
        }
        catch (SettingsException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    private static string FullPath(string path) => HdfPath.GetFullPath(path, Environment.CurrentDirectory);
}
