using System.Text;
using System.Text.RegularExpressions;

namespace Anvil.Pipeline;

/// <summary>
/// A detector's <c>Pattern</c> in watch mode (<see cref="DetectorOptions.Pattern"/>): a path below the watched folder,
/// '/'-separated, where <c>*</c> is any run of characters (across folders too) and <c>?</c> one character, matched
/// whole and case-sensitively, e.g. <c>pe1/*.tif</c> or <c>*_m?_part*.nxs</c>.
/// </summary>
public static class WatchPattern
{
    /// <summary>Whether <paramref name="relativePath"/> ('/'-separated, below the watched folder) matches <paramref name="pattern"/>.</summary>
    public static bool Matches(string pattern, string relativePath)
    {
        var regex = new StringBuilder("^");
        foreach (var c in pattern.Replace('\\', '/'))
        {
            regex.Append(c switch
            {
                '*' => ".*",
                '?' => ".",
                _ => Regex.Escape(c.ToString()),
            });
        }

        return Regex.IsMatch(relativePath, regex.Append('$').ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    /// <summary>
    /// The detector whose pattern <paramref name="relativePath"/> matches (the first, by name); with a single detector
    /// that has no pattern, that one; else null (no detectors configured, or the file belongs to none).
    /// </summary>
    public static Detector? DetectorOf(DetectorSet detectors, string relativePath) =>
        detectors.Detectors.FirstOrDefault(d => d.Pattern is { } p && Matches(p, relativePath))
        ?? (detectors.Detectors is [{ Pattern: null } only] ? only : null);
}
