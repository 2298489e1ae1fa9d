using System.Diagnostics;
using Anvil.Testing;

namespace Anvil.EndToEnd.Tests;

/// <summary>Every failure of the `anvil` command ends with one line saying what to fix and a non-zero exit, never a stack trace.</summary>
public sealed class CliErrorTests : IDisposable
{
    private readonly DirectoryInfo work = Directory.CreateTempSubdirectory("anvil-cli-");

    public static TheoryData<string[], int, string> Failures => new()
    {
        // A file that is no HDF5 file (issue 15: "Unhandled exception" and a stack trace before).
        { ["integrate", "{tiff}", "--poni", "{poni}", "--out", "{out}"], 1, "TIFF truncated: an entry at byte 8 lies beyond the file's 8 bytes" },
        { ["integrate", "{missing}", "--poni", "{poni}", "--out", "{out}"], 2, "does not exist" },
        // Settings the model refuses, all at once.
        { ["integrate", "{tiff}", "--poni", "{poni}", "--npt", "1", "--polarization", "3", "--out", "{out}"], 2, "npt 1 is out of range: give 2 to 100000 radial bins. polarization 3 is out of range" },
        { ["demo", "--unit", "q"], 2, "unit 'q' is unknown: give 2th_deg, 2th_rad, q_nm^-1, q_A^-1 or d_A." },
        { ["demo", "--poni", "{missing}"], 2, "does not load" },
        { ["settings", "--ingest", "http://127.0.0.1:1", "--npt", "500"], 1, "Unavailable" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Anvil_FailingCommand_OneLineSayingWhatToFix_NonZeroExit_NoStackTrace(string[] args, int exitCode, string message)
    {
        var tiff = Path.Combine(work.FullName, "image.tif");
        await File.WriteAllBytesAsync(tiff, [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0]).DefaultTimeout();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = work.FullName };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "anvil.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg
                .Replace("{tiff}", tiff, StringComparison.Ordinal)
                .Replace("{poni}", Path.Combine(TestPaths.LambdaFixtures, "L2.poni"), StringComparison.Ordinal)
                .Replace("{missing}", Path.Combine(work.FullName, "missing.nxs"), StringComparison.Ordinal)
                .Replace("{out}", Path.Combine(work.FullName, "out.nxs"), StringComparison.Ordinal));
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().DefaultTimeout(TimeSpan.FromMinutes(2));
        var error = await stderr;
        await stdout;

        Assert.Equal(exitCode, process.ExitCode);
        var first = error.Split('\n')[0];
        Assert.StartsWith($"anvil {args[0]}: ", first, StringComparison.Ordinal);
        Assert.Contains(message, first, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(work.FullName, "out.nxs")), "a failed run leaves no result");
    }

    public void Dispose() => work.Delete(recursive: true);
}
