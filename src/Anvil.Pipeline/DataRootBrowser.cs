using System.IO.Enumeration;

namespace Anvil.Pipeline;

/// <summary>What a folder entry is.</summary>
public enum DataRootEntryKind
{
    Directory,
    File,
}

/// <summary>One entry of a folder below the data root.</summary>
/// <param name="Name">The entry's name in its folder.</param>
/// <param name="Kind">Folder or file (a symbolic link counts as what it points to).</param>
/// <param name="Size">Bytes; 0 for folders.</param>
/// <param name="ModifiedUtc">Last write time.</param>
/// <param name="Path">Relative to the data root, '/' separated: what settings and chunk announcements take.</param>
public sealed record DataRootEntry(string Name, DataRootEntryKind Kind, long Size, DateTime ModifiedUtc, string Path);

/// <summary>A folder's entries: folders first, then files, each by name.</summary>
/// <param name="Path">The folder, relative to the data root ("" = the root).</param>
/// <param name="Entries">At most the asked number of entries.</param>
/// <param name="Truncated">The folder holds more.</param>
public sealed record DataRootListing(string Path, IReadOnlyList<DataRootEntry> Entries, bool Truncated);

/// <summary>
/// Lists folders below the data root for the operator's file pickers, confined to it: a path with a <c>..</c>
/// segment, an absolute path elsewhere, or one that leads out of the root through a symbolic link is refused with an
/// <see cref="ArgumentException"/> saying what to give instead. Entries that are symbolic links out of the root (or
/// dangling) are left out of a listing; links inside it are listed as what they point to.
/// </summary>
public static class DataRootBrowser
{
    /// <summary>Entries one listing returns at most.</summary>
    public const int MaxEntries = 10_000;

    private const int MaxLinkDepth = 40;

    /// <summary>Lists <paramref name="path"/> (relative to the root, "" = the root, or absolute inside it).</summary>
    /// <param name="root">The data root.</param>
    /// <param name="path">The folder.</param>
    /// <param name="pattern">Optional file name filter such as <c>*.poni</c> (<c>*</c> and <c>?</c>); folders are always listed.</param>
    /// <param name="maxEntries">Entries returned at most.</param>
    public static DataRootListing List(DataRoot root, string? path, string? pattern = null, int maxEntries = MaxEntries)
    {
        ArgumentNullException.ThrowIfNull(root);
        path ??= string.Empty;
        if (path.Contains('\0', StringComparison.Ordinal) || path.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"path '{path}' contains NUL or a backslash; use '/' separators.", nameof(path));
        }

        if (path.Split('/').Any(segment => segment == ".."))
        {
            throw new ArgumentException($"path '{path}' contains a '..' segment; give a folder below the data root {root.FullPath}.", nameof(path));
        }

        if (pattern is { Length: > 0 } && (pattern.Contains('/', StringComparison.Ordinal) || pattern.Contains('\\', StringComparison.Ordinal) || pattern.Contains('\0', StringComparison.Ordinal)))
        {
            throw new ArgumentException($"pattern '{pattern}' must be a file name pattern such as *.poni, without '/'.", nameof(pattern));
        }

        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(root.FullPath, path)));
        if (!IsInside(full, root.FullPath))
        {
            throw new ArgumentException($"path '{path}' lies outside the data root {root.FullPath}; give a folder below it.", nameof(path));
        }

        var realRoot = RealPath(root.FullPath);
        var real = RealPath(full);
        if (!IsInside(real, realRoot))
        {
            throw new ArgumentException($"path '{path}' leads outside the data root {root.FullPath} through a symbolic link; give a folder below the root.", nameof(path));
        }

        var relative = Path.GetRelativePath(root.FullPath, full).Replace(Path.DirectorySeparatorChar, '/');
        relative = relative == "." ? string.Empty : relative;
        if (File.Exists(real))
        {
            throw new ArgumentException($"path '{path}' is a file, not a folder; give the folder that holds it.", nameof(path));
        }

        if (!Directory.Exists(real))
        {
            throw new ArgumentException($"folder '{path}' does not exist below the data root {root.FullPath}.", nameof(path));
        }

        var entries = new List<DataRootEntry>();
        try
        {
            foreach (var info in new DirectoryInfo(full).EnumerateFileSystemInfos())
            {
                if (Describe(info, realRoot, relative, pattern) is { } entry)
                {
                    entries.Add(entry);
                }
            }
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw new ArgumentException($"folder '{path}' cannot be read: {ex.Message}", nameof(path), ex);
        }

        var ordered = entries.OrderBy(e => e.Kind).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        return new DataRootListing(relative, ordered.Take(Math.Max(0, maxEntries)).ToArray(), ordered.Count > maxEntries);
    }

    private static DataRootEntry? Describe(FileSystemInfo info, string realRoot, string folder, string? pattern)
    {
        FileSystemInfo target = info;
        if (info.LinkTarget is not null)
        {
            string real;
            try
            {
                real = RealPath(info.FullName);
            }
            catch (ArgumentException)
            {
                return null; // a link loop
            }

            if (!IsInside(real, realRoot))
            {
                return null; // leads out of the root: not offered
            }

            target = Directory.Exists(real) ? new DirectoryInfo(real) : new FileInfo(real);
            if (!target.Exists)
            {
                return null; // dangling
            }
        }

        var kind = target is DirectoryInfo ? DataRootEntryKind.Directory : DataRootEntryKind.File;
        if (kind == DataRootEntryKind.File && pattern is { Length: > 0 } && !FileSystemName.MatchesSimpleExpression(pattern, info.Name, ignoreCase: false))
        {
            return null;
        }

        var size = target is FileInfo file ? file.Length : 0;
        var path = folder.Length == 0 ? info.Name : $"{folder}/{info.Name}";
        return new DataRootEntry(info.Name, kind, size, target.LastWriteTimeUtc, path);
    }

    private static bool IsInside(string full, string root) =>
        full == root || full.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    // The path with every symbolic link along it resolved (the parts that do not exist are kept as they are).
    private static string RealPath(string full, int depth = 0)
    {
        if (depth > MaxLinkDepth)
        {
            throw new ArgumentException($"path '{full}' has more than {MaxLinkDepth} symbolic links in a row (a loop?).");
        }

        var current = Path.GetPathRoot(full) ?? "/";
        foreach (var segment in full[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, segment);
            current = new FileInfo(next).LinkTarget is { } target
                ? RealPath(Path.GetFullPath(target, current), depth + 1)
                : next;
        }

        return Path.TrimEndingDirectorySeparator(current) is { Length: > 0 } trimmed ? trimmed : current;
    }
}
