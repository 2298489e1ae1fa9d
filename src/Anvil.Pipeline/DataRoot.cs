namespace Anvil.Pipeline;

/// <summary>
/// Keeps announced files inside the beamtime's data root (docs/broker.md §2.6): absolute paths must lie
/// below the root, relative ones are taken from it; <c>..</c> segments, backslashes, NUL and paths whose deepest
/// existing ancestor resolves (symlinks followed) outside the root are refused.
/// </summary>
public sealed class DataRoot
{
    /// <summary>Longest path taken (Linux's PATH_MAX).</summary>
    public const int MaxPathLength = 4096;

    private readonly string root;

    public DataRoot(string path)
    {
        root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
    }

    /// <summary>The absolute root directory.</summary>
    public string FullPath => root;

    /// <summary>The path relative to the root ('/' separated), or an <see cref="ArgumentException"/> saying what to fix.</summary>
    public string ToRelative(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException("path is empty: give the chunk file's path below the data root.", nameof(path));
        }

        if (path.Length > MaxPathLength)
        {
            throw new ArgumentException($"path of {path.Length} characters is too long: give a path of at most {MaxPathLength}.", nameof(path));
        }

        if (path.Contains('\0', StringComparison.Ordinal) || path.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"path '{path}' contains NUL or a backslash; use '/' separators.", nameof(path));
        }

        if (path.Split('/').Any(segment => segment == ".."))
        {
            throw new ArgumentException($"path '{path}' contains a '..' segment; give a path below the data root {root}.", nameof(path));
        }

        var full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(root, path));
        if (!IsInside(full) || !IsInside(ResolveDeepestExisting(full)))
        {
            throw new ArgumentException($"path '{path}' lies outside the data root {root}.", nameof(path));
        }

        return Path.GetRelativePath(root, full).Replace(Path.DirectorySeparatorChar, '/');
    }

    /// <summary>The absolute path of a path relative to the root.</summary>
    public string ToFull(string relative) => Path.Combine(root, relative);

    private bool IsInside(string full) =>
        full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || full == root;

    // Follows symlinks of the deepest part of the path that exists (the file itself need not exist yet).
    private static string ResolveDeepestExisting(string full)
    {
        var suffix = new Stack<string>();
        var current = full;
        while (!File.Exists(current) && !Directory.Exists(current))
        {
            var parent = Path.GetDirectoryName(current);
            if (parent is null)
            {
                return full;
            }

            suffix.Push(Path.GetFileName(current));
            current = parent;
        }

        FileSystemInfo info = File.Exists(current) ? new FileInfo(current) : new DirectoryInfo(current);
        var resolved = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? ResolveParents(current);
        return suffix.Aggregate(resolved, Path.Combine);
    }

    private static string ResolveParents(string path)
    {
        var parent = Path.GetDirectoryName(path);
        if (parent is null)
        {
            return path;
        }

        var resolvedParent = new DirectoryInfo(parent).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? ResolveParents(parent);
        return Path.Combine(resolvedParent, Path.GetFileName(path));
    }
}
