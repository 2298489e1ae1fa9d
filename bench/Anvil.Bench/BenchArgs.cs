using System.Globalization;

namespace Anvil.Bench;

/// <summary>The benches' command-line options: <c>--name value</c>, read where a bench needs them (invariant culture).</summary>
internal static class BenchArgs
{
    public static string? String(string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    public static int? Int(string[] args, string name) =>
        String(args, name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : null;

    public static double? Double(string[] args, string name) =>
        String(args, name) is { } value ? double.Parse(value, CultureInfo.InvariantCulture) : null;

    /// <summary>A comma-separated list of integers, e.g. <c>--replicas 1,2,4</c>.</summary>
    public static int[]? IntList(string[] args, string name) =>
        String(args, name)?.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
}
