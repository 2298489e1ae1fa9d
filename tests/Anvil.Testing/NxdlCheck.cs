using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;

namespace Anvil.Testing;

/// <summary>
/// Checks one NXentry of a file against a NeXus application definition (an .nxdl.xml, NXDL 3.1), for want of an
/// installable validator (tests/fixtures/nexus/README.md). The file is read by h5py (an independent reader, not
/// Anvil.Hdf5) into a JSON tree; the definition is walked element by element. Required is what the definition does
/// not mark <c>optional</c>, <c>recommended</c> or <c>minOccurs="0"</c>: the NeXus manual's rule for application
/// definitions, applied to attributes too (stricter than nxdl.xsd's attribute default). Checked: presence, NX_class,
/// field types (NX_CHAR, NX_BOOLEAN, NX_NUMBER, NX_FLOAT, NX_INT, NX_DATE_TIME), enumerations (fields and attributes,
/// list attributes as Python writes them: <c>['.', 'radial_axis']</c>), ranks and the definition's dimension symbols
/// (one length per symbol across the entry), and units (a literal, or one of an NX unit category's units).
/// </summary>
public static class NxdlCheck
{
    private static readonly XNamespace Nx = "http://definition.nexusformat.org/nxdl/3.1";

    private static readonly Dictionary<string, string[]> UnitCategories = new(StringComparer.Ordinal)
    {
        ["NX_ANGLE"] = ["deg", "degree", "degrees", "rad", "radian", "radians"],
        ["NX_PER_LENGTH"] = ["1/m", "1/nm", "1/angstrom", "1/Å", "m^-1", "nm^-1", "angstrom^-1", "A^-1"],
        ["NX_WAVENUMBER"] = ["1/m", "1/nm", "1/angstrom", "1/Å", "m^-1", "nm^-1", "angstrom^-1", "A^-1"],
        ["NX_TIME"] = ["s", "second", "seconds", "ms", "us", "ns"],
        ["NX_LENGTH"] = ["m", "mm", "um", "nm", "angstrom", "Å"],
        ["NX_ENERGY"] = ["eV", "keV", "J"],
    };

    // Dumps every object under the entry: kind, NX_class, attributes, dtype kind and size, shape, and small values.
    private const string DumpScript = """
        import h5py, json, sys, numpy as np
        def plain(v):
            if isinstance(v, bytes): return v.decode()
            if isinstance(v, np.ndarray): return [plain(x) for x in v.tolist()]
            if isinstance(v, (list, tuple)): return [plain(x) for x in v]
            if isinstance(v, np.generic): return plain(v.item())
            if isinstance(v, float) and v != v: return "NaN"
            return v
        out = {}
        def describe(obj):
            item = {"attrs": {k: plain(obj.attrs[k]) for k in obj.attrs}}
            if isinstance(obj, h5py.Group):
                item["kind"] = "group"
            else:
                item["kind"] = "dataset"
                item["shape"] = list(obj.shape)
                item["dtype"] = obj.dtype.kind if h5py.check_string_dtype(obj.dtype) is None else "S"
                item["itemsize"] = obj.dtype.itemsize
                if obj.size <= 4:
                    item["value"] = plain(obj.asstr()[()] if item["dtype"] == "S" else obj[()])
            return item
        def walk(path, obj):
            # Every name, hard links included (visititems would show a linked object once).
            out[path] = describe(obj)
            if isinstance(obj, h5py.Group):
                for name, child in obj.items():
                    walk(path + "/" + name, child)
        f = h5py.File(sys.argv[1], "r")
        walk(sys.argv[2], f[sys.argv[2]])
        print(json.dumps(out))
        """;

    /// <summary>Every way the entry at <paramref name="entry"/> of <paramref name="path"/> falls short of the definition; empty when it conforms.</summary>
    public static IReadOnlyList<string> Check(string path, string entry, string nxdlPath)
    {
        using var dump = JsonDocument.Parse(Python.Run(DumpScript, path, entry));
        var objects = dump.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
        var definition = XDocument.Load(nxdlPath).Root!;
        var problems = new List<string>();
        var symbols = new Dictionary<string, long>(StringComparer.Ordinal);
        var entrySpec = definition.Elements(Nx + "group").Single(g => (string?)g.Attribute("type") == "NXentry");
        if (Class(objects, entry) != "NXentry")
        {
            problems.Add($"{entry} is not an NXentry");
        }

        CheckGroup(entrySpec, entry, objects, problems, symbols);
        return problems;
    }

    private static void CheckGroup(XElement spec, string path, Dictionary<string, JsonElement> objects, List<string> problems, Dictionary<string, long> symbols)
    {
        CheckAttributes(spec, path, objects[path], problems);
        foreach (var field in spec.Elements(Nx + "field"))
        {
            var name = (string)field.Attribute("name")!;
            var fieldPath = $"{path}/{name}";
            if (!objects.TryGetValue(fieldPath, out var found) || found.GetProperty("kind").GetString() != "dataset")
            {
                if (Required(field))
                {
                    problems.Add($"{fieldPath}: required field missing");
                }

                continue;
            }

            CheckField(field, fieldPath, found, problems, symbols);
        }

        foreach (var group in spec.Elements(Nx + "group"))
        {
            var type = (string)group.Attribute("type")!;
            var name = (string?)group.Attribute("name");
            var matches = name is not null
                ? objects.ContainsKey($"{path}/{name}") ? [$"{path}/{name}"] : Array.Empty<string>()
                : Children(objects, path).Where(c => Class(objects, c) == type).ToArray();
            if (matches.Length == 0)
            {
                if (Required(group))
                {
                    problems.Add($"{path}: required {type} group{(name is null ? string.Empty : $" '{name}'")} missing");
                }

                continue;
            }

            foreach (var match in matches)
            {
                if (Class(objects, match) != type)
                {
                    problems.Add($"{match}: NX_class is '{Class(objects, match)}', the definition wants {type}");
                }

                CheckGroup(group, match, objects, problems, symbols);
            }
        }
    }

    private static void CheckField(XElement spec, string path, JsonElement found, List<string> problems, Dictionary<string, long> symbols)
    {
        var dtype = found.GetProperty("dtype").GetString();
        var type = (string?)spec.Attribute("type") ?? "NX_CHAR";
        var typeOk = type switch
        {
            "NX_CHAR" or "NX_DATE_TIME" => dtype == "S",
            "NX_BOOLEAN" => dtype == "b" || (dtype is "i" or "u" && found.GetProperty("itemsize").GetInt32() == 1),
            "NX_NUMBER" => dtype is "i" or "u" or "f",
            "NX_FLOAT" => dtype == "f",
            "NX_INT" => dtype is "i" or "u",
            _ => true,
        };
        if (!typeOk)
        {
            problems.Add($"{path}: dtype '{dtype}' is no {type}");
        }

        if (type == "NX_DATE_TIME" && found.TryGetProperty("value", out var date)
            && !DateTimeOffset.TryParse(date.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            problems.Add($"{path}: '{date}' is no ISO 8601 date and time");
        }

        var items = spec.Element(Nx + "enumeration")?.Elements(Nx + "item").Select(i => (string)i.Attribute("value")!).ToArray();
        if (items is not null && (!found.TryGetProperty("value", out var value) || !items.Contains(Text(value))))
        {
            problems.Add($"{path}: value {(found.TryGetProperty("value", out var v) ? Text(v) : "(not read)")} is none of {string.Join(", ", items)}");
        }

        if (spec.Element(Nx + "dimensions") is { } dimensions)
        {
            var shape = found.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var rank = (int?)dimensions.Attribute("rank");
            if (rank is { } r && shape.Length != r)
            {
                problems.Add($"{path}: rank {shape.Length}, the definition wants {r}");
            }

            foreach (var dim in dimensions.Elements(Nx + "dim"))
            {
                var index = (int)dim.Attribute("index")! - 1;
                var symbol = (string)dim.Attribute("value")!;
                if (index >= shape.Length)
                {
                    continue;
                }

                if (symbols.TryGetValue(symbol, out var length) && length != shape[index])
                {
                    problems.Add($"{path}: dimension {index + 1} is {shape[index]}, but {symbol} is {length} elsewhere in the entry");
                }

                symbols.TryAdd(symbol, shape[index]);
            }
        }

        if ((string?)spec.Attribute("units") is { } units)
        {
            var given = found.GetProperty("attrs").TryGetProperty("units", out var u) ? Text(u) : null;
            if (given is null || !UnitMatches(units, given))
            {
                problems.Add($"{path}: units '{given ?? "(none)"}', the definition wants {units}");
            }
        }

        CheckAttributes(spec, path, found, problems);
    }

    private static void CheckAttributes(XElement spec, string path, JsonElement found, List<string> problems)
    {
        var attrs = found.GetProperty("attrs");
        foreach (var attribute in spec.Elements(Nx + "attribute"))
        {
            var name = (string)attribute.Attribute("name")!;
            if (!attrs.TryGetProperty(name, out var value))
            {
                if (Required(attribute))
                {
                    problems.Add($"{path}@{name}: required attribute missing");
                }

                continue;
            }

            var items = attribute.Element(Nx + "enumeration")?.Elements(Nx + "item").Select(i => (string)i.Attribute("value")!).ToArray();
            if (items is null)
            {
                continue;
            }

            var text = Text(value);
            var ok = name == "units" ? items.Any(i => UnitMatches(i, text)) : items.Contains(text);
            if (!ok)
            {
                problems.Add($"{path}@{name}: '{text}' is none of {string.Join(", ", items)}");
            }
        }
    }

    private static bool UnitMatches(string wanted, string given) =>
        UnitCategories.TryGetValue(wanted, out var units) ? units.Contains(given) : wanted == given || wanted == "NX_ANY";

    private static bool Required(XElement spec) =>
        (string?)spec.Attribute("optional") != "true" && (string?)spec.Attribute("recommended") != "true" && (string?)spec.Attribute("minOccurs") != "0";

    private static string? Class(Dictionary<string, JsonElement> objects, string path) =>
        objects.TryGetValue(path, out var o) && o.GetProperty("attrs").TryGetProperty("NX_class", out var c) ? c.GetString() : null;

    private static IEnumerable<string> Children(Dictionary<string, JsonElement> objects, string path) =>
        objects.Keys.Where(k => k.StartsWith(path + "/", StringComparison.Ordinal) && !k[(path.Length + 1)..].Contains('/'));

    // A value as the definition's enumerations spell it: strings as they are, lists as Python prints them.
    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Array => "[" + string.Join(", ", value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? $"'{v.GetString()}'" : v.GetRawText())) + "]",
        _ => value.GetRawText(),
    };
}
