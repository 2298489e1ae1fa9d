using System.Diagnostics;
using Xunit;

namespace Anvil.Testing;

/// <summary>
/// Runs a script with Debian's /usr/bin/python3 (h5py, numpy), the independent reader our files must satisfy.
/// CI installs python3-h5py with the other apt packages.
/// </summary>
public static class Python
{
    private const string Interpreter = "/usr/bin/python3";

    /// <summary>Runs <paramref name="script"/> with <paramref name="args"/> as sys.argv[1:] and returns its stdout; fails on a non-zero exit.</summary>
    public static string Run(string script, params string[] args)
    {
        using var process = Start(script, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("python3 did not finish within 60 s.");
        }

        Assert.True(process.ExitCode == 0, $"python3 failed ({process.ExitCode}): {stderr.Result}");
        return stdout.Result;
    }

    /// <summary>
    /// Starts <paramref name="script"/> with stdin, stdout and stderr redirected; the caller ends it. HDF5 file locking
    /// is off in the child (as readers of files still being written run it) unless <paramref name="fileLocking"/>.
    /// </summary>
    public static Process Start(string script, string[] args, bool fileLocking = false)
    {
        var start = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HDF5_USE_FILE_LOCKING"] = fileLocking ? "TRUE" : "FALSE";
        return Process.Start(start)!;
    }
}
