using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Anvil.Broker.Core.Storage;

/// <summary>
/// The data directory layout: <c>streams/&lt;beamtime&gt;/&lt;source&gt;/&lt;stream&gt;/</c> with segments, a
/// <c>key</c> file holding the real names, <c>meta.json</c> and <c>groups/*.journal</c>; <c>sources/…/meta.json</c>
/// for beamtime metadata. Directory names derive from the names by an escaping that keeps them harmless
/// (<c>../x</c> stays one directory) plus a hash, so any name fits the file system's limits.
/// </summary>
internal sealed class BrokerStorage(string root)
{
    public const string KeyFile = "key";

    public string Root { get; } = Path.GetFullPath(root);

    public string StreamsRoot => Path.Combine(Root, "streams");

    public string StreamDirectory(StreamKey key) =>
        Path.Combine(StreamsRoot, DirName(key.Beamtime), DirName(key.DataSource), DirName(key.Stream));

    public string SourceMetaPath(SourceKey key) => Path.Combine(Root, "sources", DirName(key.Beamtime), DirName(key.DataSource), "meta.json");

    public static string GroupJournalPath(string streamDirectory, string group) => Path.Combine(streamDirectory, "groups", DirName(group) + ".journal");

    /// <summary>Creates the stream directory with its key file (durably) if it does not exist.</summary>
    public string EnsureStreamDirectory(StreamKey key)
    {
        var dir = StreamDirectory(key);
        if (!File.Exists(Path.Combine(dir, KeyFile)))
        {
            Directory.CreateDirectory(Path.Combine(dir, "groups"));
            WriteAtomically(Path.Combine(dir, KeyFile), JsonSerializer.Serialize(new[] { key.Beamtime, key.DataSource, key.Stream }));
            SyncDirectory(Path.GetDirectoryName(dir)!);
        }

        return dir;
    }

    public static StreamKey ReadKey(string streamDirectory)
    {
        var names = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(streamDirectory, KeyFile)))!;
        return new StreamKey(names[0], names[1], names[2]);
    }

    public IEnumerable<string> StreamDirectories() =>
        Directory.Exists(StreamsRoot)
            ? Directory.EnumerateDirectories(StreamsRoot).SelectMany(Directory.EnumerateDirectories).SelectMany(Directory.EnumerateDirectories)
                .Where(d => File.Exists(Path.Combine(d, KeyFile)))
            : [];

    public IEnumerable<(SourceKey Key, string Meta)> SourceMetas()
    {
        var sources = Path.Combine(Root, "sources");
        if (!Directory.Exists(sources))
        {
            yield break;
        }

        foreach (var file in Directory.EnumerateFiles(sources, "meta.json", SearchOption.AllDirectories))
        {
            var stored = JsonSerializer.Deserialize<string[]>(File.ReadAllText(file))!;
            yield return (new SourceKey(stored[0], stored[1]), stored[2]);
        }
    }

    public void WriteSourceMeta(SourceKey key, string meta)
    {
        var path = SourceMetaPath(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        WriteAtomically(path, JsonSerializer.Serialize(new[] { key.Beamtime, key.DataSource, meta }));
    }

    public static void WriteStreamMeta(string streamDirectory, string meta) => WriteAtomically(Path.Combine(streamDirectory, "meta.json"), meta);

    public static string? ReadStreamMeta(string streamDirectory)
    {
        var path = Path.Combine(streamDirectory, "meta.json");
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    /// <summary>docs/broker.md §4.8: renames the directory away (atomic, durable) and then removes it, reclaiming the space.</summary>
    public void DeleteStreamDirectory(string streamDirectory)
    {
        if (!Directory.Exists(streamDirectory))
        {
            return;
        }

        var trash = Path.Combine(Root, "trash");
        Directory.CreateDirectory(trash);
        var target = Path.Combine(trash, Guid.NewGuid().ToString("N"));
        Directory.Move(streamDirectory, target);
        SyncDirectory(Path.GetDirectoryName(streamDirectory)!);
        Directory.Delete(target, recursive: true);
    }

    /// <summary>Removes leftovers of deletions interrupted by a crash.</summary>
    public void EmptyTrash()
    {
        var trash = Path.Combine(Root, "trash");
        if (Directory.Exists(trash))
        {
            Directory.Delete(trash, recursive: true);
        }
    }

    public static void SyncDirectory(string directory) => Posix.SyncDirectory(directory);

    private static void WriteAtomically(string path, string content)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            stream.Write(Encoding.UTF8.GetBytes(content));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(path)!);
    }

    private static string DirName(string name)
    {
        var safe = new StringBuilder();
        foreach (var c in name)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '~');
            if (safe.Length == 48)
            {
                break;
            }
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..16];
        return $"{safe}.{hash}";
    }
}
