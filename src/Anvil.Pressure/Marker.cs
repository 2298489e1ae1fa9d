using System.Globalization;

namespace Anvil.Pressure;

/// <summary>Published 300 K parameters of one equation-of-state form for a marker, with where they come from.</summary>
public sealed record EosParameters(EosForm Form, double V0, double K0, double K0Prime, string Citation)
{
    public EquationOfState Create() => new(Form, V0, K0, K0Prime);
}

/// <summary>
/// A pressure marker: its lattice, the equation-of-state forms it has published parameters for (the first is its
/// default), and its name. Built-in markers are in <see cref="Markers"/>; users define their own with
/// <see cref="Custom"/> or a DIOPTAS .jcpds file (<see cref="JcpdsFile"/>).
/// </summary>
public sealed record Marker(string Name, Lattice Lattice, IReadOnlyList<EosParameters> Scales)
{
    public EosParameters DefaultScale => Scales[0];

    /// <summary>The marker's published parameters for <paramref name="form"/> (its default form when null); a clear error when none were published.</summary>
    public EosParameters Scale(EosForm? form)
    {
        if (form is null)
        {
            return DefaultScale;
        }

        return Scales.FirstOrDefault(s => s.Form == form)
            ?? throw new ArgumentException(
                $"{Name} has no published {(form == EosForm.Vinet ? "Vinet" : "BM3")} parameters here (only {string.Join(", ", Scales.Select(s => s.Form == EosForm.Vinet ? "vinet" : "bm3"))}); " +
                "parameters of one form do not carry over to another: give --v0 --k0 --k0p for that form");
    }

    /// <summary>A user marker: lattice plus V0 (Å³ per cell), K0 (GPa), K0′ for <paramref name="form"/>. Validated at once.</summary>
    public static Marker Custom(string name, Lattice lattice, EosForm form, double v0, double k0, double k0Prime)
    {
        _ = new EquationOfState(form, v0, k0, k0Prime);
        return new Marker(name, lattice, [new EosParameters(form, v0, k0, k0Prime, "user")]);
    }
}

/// <summary>
/// The built-in cubic markers, 300 K isotherms (room-temperature reference state; no thermal pressure is added).
/// V0 is per conventional unit cell in Å³; where a paper gives a molar volume it is converted with
/// V_cell = V_mol · Z / N_A (Z = 4 fcc, 2 bcc), N_A = 0.602214076 Å³·mol/cm³.
/// </summary>
public static class Markers
{
    private const string Fei2007 = "Fei et al. 2007, PNAS 104, 9182 (Table 1)";
    private const string DorogokupetsDewaele2007 = "Dorogokupets & Dewaele 2007, High Press. Res. 27, 431 (reference isotherm at 298 K)";
    private const string DorogokupetsOganov2007 = "Dorogokupets & Oganov 2007, PRB 75, 024115 (reference isotherm at 298 K)";
    private const string Dewaele2004 = "Dewaele, Loubeyre & Mezouar 2004, PRB 70, 094112 (Table II, 15.862 Å³/atom)";
    private const string Litasov2013 = "Litasov et al. 2013, J. Appl. Phys. 113, 093507 (300 K)";
    private const string Speziale2001 = "Speziale et al. 2001, J. Geophys. Res. 106, 515";
    private const double Avogadro = 0.602214076; // Å³·mol/cm³ per 10²⁴

    private static readonly Lattice FccLattice = new(Structure.Fcc);
    private static readonly Lattice BccLattice = new(Structure.Bcc);

    /// <summary>Every built-in marker by name (case-insensitive).</summary>
    public static IReadOnlyDictionary<string, Marker> BuiltIn { get; } = new Dictionary<string, Marker>(StringComparer.OrdinalIgnoreCase)
    {
        ["Au"] = new("Au", FccLattice,
        [
            new(EosForm.Vinet, 67.850, 167.0, 6.00, Fei2007),
            new(EosForm.BirchMurnaghan3, 67.850, 167.0, 5.77, Fei2007),
        ]),
        ["Pt"] = new("Pt", FccLattice,
        [
            new(EosForm.Vinet, 60.38, 277.0, 5.08, Fei2007),
            new(EosForm.BirchMurnaghan3, 60.38, 277.0, 4.95, Fei2007),
        ]),
        ["Cu"] = new("Cu", FccLattice, [new(EosForm.Vinet, Molar(7.113, 4), 133.41, 5.37, DorogokupetsOganov2007)]),
        ["Ag"] = new("Ag", FccLattice, [new(EosForm.Vinet, Molar(10.272, 4), 99.65, 6.11, DorogokupetsOganov2007)]),
        ["Mo"] = new("Mo", BccLattice, [new(EosForm.Vinet, Molar(9.37647, 2), 260.0, 4.21, Litasov2013)]),
        ["W"] = new("W", BccLattice, [new(EosForm.Vinet, 31.724, 295.2, 4.32, Dewaele2004)]),
        ["NaCl-B1"] = new("NaCl-B1", FccLattice, [new(EosForm.Vinet, 179.44, 23.83, 5.09, DorogokupetsDewaele2007)]),
        ["NaCl-B2"] = new("NaCl-B2", new Lattice(Structure.SimpleCubic),
        [
            new(EosForm.Vinet, 41.35, 26.86, 5.25, Fei2007),
            new(EosForm.BirchMurnaghan3, 41.35, 30.69, 4.33, Fei2007),
        ]),
        ["MgO"] = new("MgO", FccLattice,
        [
            new(EosForm.Vinet, 74.698, 160.3, 4.18, DorogokupetsDewaele2007),
            new(EosForm.BirchMurnaghan3, 74.71, 160.2, 3.99, Speziale2001),
        ]),
    };

    /// <summary>A built-in marker, or a clear error listing them.</summary>
    public static Marker Get(string name) =>
        BuiltIn.TryGetValue(name, out var marker)
            ? marker
            : throw new ArgumentException($"unknown marker '{name}': built in are {string.Join(", ", BuiltIn.Keys)}; or give --lattice with --v0 --k0 --k0p, or --jcpds FILE");

    /// <summary>Parses a lattice for a user marker: fcc, bcc, sc (or b2), b1 (= fcc), hex:C/A.</summary>
    public static Lattice ParseLattice(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t.StartsWith("hex", StringComparison.Ordinal))
        {
            var colon = t.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !double.TryParse(t[(colon + 1)..], CultureInfo.InvariantCulture, out var ratio) || !(ratio > 0))
            {
                throw new FormatException("a hexagonal lattice needs its c/a ratio: hex:1.633");
            }

            return new Lattice(Structure.Hexagonal, ratio);
        }

        return t switch
        {
            "fcc" or "b1" => new Lattice(Structure.Fcc),
            "bcc" => new Lattice(Structure.Bcc),
            "sc" or "b2" or "cubic" => new Lattice(Structure.SimpleCubic),
            _ => throw new FormatException($"unknown lattice '{text}': use fcc, bcc, sc, b1, b2 or hex:C/A"),
        };
    }

    private static double Molar(double cm3PerMol, int z) => cm3PerMol / Avogadro * z;
}
