using System.Text.RegularExpressions;

namespace Anvil.Pipeline;

/// <summary>
/// File names of single-image detector sequences as PerkinElmer and Pilatus users write them:
/// <c>&lt;acquisition&gt;_&lt;NNNNN&gt;.tif|.tiff|.cbf|.edf</c> (also with '-' before the number), the number counting the
/// images; and Eiger master files <c>&lt;acquisition&gt;_master.h5</c> (one file for the whole acquisition, number 0).
/// </summary>
public static partial class ImageFileName
{
    /// <summary>Parses a file name; false when it is not an image of a sequence (or its acquisition name is not valid).</summary>
    public static bool TryParse(string fileName, out string acquisition, out long number)
    {
        var match = SequencePattern().Match(fileName);
        if (!match.Success)
        {
            match = MasterPattern().Match(fileName);
        }

        acquisition = match.Success ? match.Groups["acq"].Value : string.Empty;
        number = match.Success && match.Groups["n"].Success ? long.Parse(match.Groups["n"].Value[^Math.Min(18, match.Groups["n"].Value.Length)..]) : 0;
        return match.Success && ChunkFileName.IsValidAcquisition(acquisition);
    }

    [GeneratedRegex(@"^(?<acq>[A-Za-z0-9._-]+?)[_-](?<n>[0-9]+)\.(?:tif|tiff|cbf|edf)$", RegexOptions.IgnoreCase)]
    private static partial Regex SequencePattern();

    [GeneratedRegex(@"^(?<acq>[A-Za-z0-9._-]+)_master\.h5$", RegexOptions.IgnoreCase)]
    private static partial Regex MasterPattern();
}
