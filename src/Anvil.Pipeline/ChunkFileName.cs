using System.Text.RegularExpressions;

namespace Anvil.Pipeline;

/// <summary>Lambda chunk file names: <c>&lt;scan&gt;_&lt;NNNNN&gt;_m{k}_part{PPPPP}.nxs</c>, the acquisition being <c>&lt;scan&gt;_&lt;NNNNN&gt;</c>.</summary>
public static partial class ChunkFileName
{
    /// <summary>Parses a file name; false when it is not a Lambda module chunk.</summary>
    public static bool TryParse(string fileName, out string acquisition, out int module, out int part)
    {
        var match = Pattern().Match(fileName);
        acquisition = match.Success ? match.Groups["acq"].Value : string.Empty;
        module = match.Success ? int.Parse(match.Groups["m"].Value) : 0;
        part = match.Success ? int.Parse(match.Groups["p"].Value) : 0;
        return match.Success;
    }

    /// <summary>The file name of module <paramref name="module"/> of chunk <paramref name="part"/>.</summary>
    public static string Format(string acquisition, int module, int part) => $"{acquisition}_m{module}_part{part:D5}.nxs";

    /// <summary>True when the name can be a broker stream and a file name prefix.</summary>
    public static bool IsValidAcquisition(string name) => AcquisitionPattern().IsMatch(name);

    /// <summary>Throws an <see cref="ArgumentException"/> saying what to fix unless the name is a valid acquisition.</summary>
    public static void CheckAcquisition(string name)
    {
        if (!IsValidAcquisition(name))
        {
            var shown = name.Length <= 160 ? name : name[..160] + $"… ({name.Length} characters)";
            throw new ArgumentException($"acquisition '{shown}' must be 1–128 characters of A–Z, a–z, 0–9, '.', '_' or '-'.");
        }
    }

    [GeneratedRegex(@"^(?<acq>[A-Za-z0-9._-]+)_m(?<m>[0-9]+)_part(?<p>[0-9]+)\.nxs$")]
    private static partial Regex Pattern();

    [GeneratedRegex(@"^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex AcquisitionPattern();
}
