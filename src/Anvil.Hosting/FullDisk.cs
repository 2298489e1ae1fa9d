using System.Diagnostics;

namespace Anvil.Hosting;

/// <summary>
/// A real, small file system that can be filled up: a tmpfs mounted on a fresh folder (root only: the tests and CI run
/// as root), with a filler file that leaves only <see cref="Fill"/>'s margin free. <see cref="MakeRoom"/> gives the space
/// back; disposing unmounts it. The full-disk tests and `anvil chaos`'s "broker disk full" fault use it.
/// </summary>
public sealed class FullDisk : IDisposable
{
    private FullDisk(string path) => Path = path;

    /// <summary>The mounted folder.</summary>
    public string Path { get; }

    private string Filler => System.IO.Path.Combine(Path, ".filler");

    /// <summary>Mounts a tmpfs of <paramref name="megabytes"/> MB on a new folder below the temp folder.</summary>
    public static FullDisk Mount(int megabytes)
    {
        var path = Directory.CreateTempSubdirectory("anvil-fulldisk-").FullName;
        Run("mount", $"-t tmpfs -o size={megabytes}m anvil-fulldisk {path}");
        return new FullDisk(path);
    }

    /// <summary>
    /// Fills the file system until only <paramref name="bytesLeft"/> remain free; if something else writes meanwhile (a
    /// running broker), until it is full.
    /// </summary>
    public void Fill(long bytesLeft)
    {
        var free = new DriveInfo(Path).AvailableFreeSpace;
        using var filler = new FileStream(Filler, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        var block = new byte[64 * 1024];
        Random.Shared.NextBytes(block);
        for (var left = free - bytesLeft; left > 0; left -= block.Length)
        {
            try
            {
                filler.Write(block, 0, (int)Math.Min(block.Length, left));
            }
            catch (IOException ex) when (ex.HResult == 28)
            {
                return; // ENOSPC: full already
            }
        }
    }

    /// <summary>Deletes the filler: the space is back.</summary>
    public void MakeRoom() => File.Delete(Filler);

    public void Dispose()
    {
        Run("umount", $"-l {Path}");
        Directory.Delete(Path);
    }

    private static void Run(string command, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {arguments} failed ({process.ExitCode}): {error.Trim()}. The full-disk tests mount a tmpfs and must run as root, as CI does.");
        }
    }
}
