using System.Globalization;

namespace Anvil.Pressure;

/// <summary>
/// DIOPTAS's .jcpds marker files, version 4: <c>KEY: value</c> lines (VERSION, COMMENT, K0, K0P, SYMMETRY, A, C,
/// ALPHAT, DIHKL). DIOPTAS evaluates them with a third-order Birch–Murnaghan equation, so that is the form a
/// .jcpds marker gets (another form must be asked for explicitly). ALPHAT (thermal expansion) is read and
/// ignored: Anvil's pressures are 300 K isotherms. Cubic and hexagonal symmetries are supported; others are refused.
/// </summary>
public static class JcpdsFile
{
    public static Marker Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"jcpds file {path} does not exist", path);
        }

        return Parse(File.ReadAllText(path), Path.GetFileNameWithoutExtension(path));
    }

    public static Marker Parse(string text, string name)
    {
        var values = new Dictionary<string, string>(JcpdsCard.Parse(text).Values, StringComparer.OrdinalIgnoreCase);
        if (!values.TryGetValue("VERSION", out var version) || version.Trim() != "4")
        {
            throw new FormatException($"{name}: only version 4 .jcpds files are read (VERSION: 4), this one has {(version is null ? "no VERSION line" : "VERSION " + version)}");
        }

        var k0 = Number(values, "K0", name);
        var k0p = Number(values, "K0P", name);
        var a = Number(values, "A", name);
        var symmetry = values.TryGetValue("SYMMETRY", out var s) ? s.Trim().ToUpperInvariant() : throw new FormatException($"{name}: no SYMMETRY line");
        Lattice lattice;
        switch (symmetry)
        {
            case "CUBIC":
                // A .jcpds file does not say whether the cell is centred; its DIHKL lines do. Allow every reflection.
                lattice = new Lattice(Structure.SimpleCubic);
                break;
            case "HEXAGONAL":
                var c = Number(values, "C", name);
                lattice = new Lattice(Structure.Hexagonal, c / a);
                break;
            default:
                throw new FormatException($"{name}: symmetry {symmetry} is not supported for pressure (cubic or hexagonal only)");
        }

        if (!(a > 0))
        {
            throw new FormatException($"{name}: A must be a positive lattice parameter in Å");
        }

        var comment = values.TryGetValue("COMMENT", out var cm) && cm.Length > 0 ? cm : "jcpds";
        return Marker.Custom(name, lattice, EosForm.BirchMurnaghan3, lattice.Volume(a), k0, k0p) with
        {
            Scales = [new EosParameters(EosForm.BirchMurnaghan3, lattice.Volume(a), k0, k0p, $"jcpds: {comment}")],
        };
    }

    private static double Number(Dictionary<string, string> values, string key, string name)
    {
        if (!values.TryGetValue(key, out var text))
        {
            throw new FormatException($"{name}: no {key} line");
        }

        var first = text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? string.Empty;
        return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw new FormatException($"{name}: {key} is not a number ('{text}')");
    }
}
