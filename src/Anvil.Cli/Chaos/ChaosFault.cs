namespace Anvil.Cli.Chaos;

/// <summary>What a fault does to a trial's acquisition or to the suite while it runs.</summary>
public enum FaultKind
{
    /// <summary>SIGKILL of a service at a random moment; the supervisor restarts it.</summary>
    Kill,

    /// <summary>SIGSTOP of a service for a few seconds at a random moment, then SIGCONT.</summary>
    Stop,

    /// <summary>SIGKILL of merge just after the acquisition is finished, while it writes the final file.</summary>
    KillMergeAtFinish,

    /// <summary>One module file of chunk part 2 damaged before it is announced (the frames of that part may fail, flagged).</summary>
    BadFile,

    /// <summary>Malformed, oversized and badly authorised requests sent to every service while the acquisition runs.</summary>
    BadRequests,

    /// <summary>The broker's data directory (a tmpfs) filled up for a few seconds at a random moment, then given room again.</summary>
    BrokerDiskFull,
}

/// <summary>One row of the campaign's table: a fault and where it strikes.</summary>
/// <param name="Name">As printed, e.g. "kill stitch", "corrupt-gzip chunk".</param>
/// <param name="Kind">What it does.</param>
/// <param name="Target">The service (Kill, Stop, BrokerDiskFull) or the file damage (BadFile: truncated, corrupt-gzip, missing, non-hdf5).</param>
public sealed record ChaosFault(string Name, FaultKind Kind, string Target)
{
    /// <summary>What <see cref="FaultKind.BadFile"/> does to the file.</summary>
    public static readonly string[] FileDamages = ["truncated", "corrupt-gzip", "missing", "non-hdf5"];

    /// <summary>The name of the broker's full-disk fault (it needs root, to mount the tmpfs the broker then writes to).</summary>
    public const string BrokerDiskFullName = "broker disk full";

    /// <summary>Every fault of the full campaign, in table order.</summary>
    public static IReadOnlyList<ChaosFault> All(IEnumerable<string> services) =>
    [
        .. services.Select(s => new ChaosFault($"kill {s}", FaultKind.Kill, s)),
        .. services.Select(s => new ChaosFault($"stop {s} 5 s", FaultKind.Stop, s)),
        new("kill merge at finish", FaultKind.KillMergeAtFinish, "merge"),
        .. FileDamages.Select(d => new ChaosFault($"{d} chunk file", FaultKind.BadFile, d)),
        new("bad requests", FaultKind.BadRequests, "all"),
        new(BrokerDiskFullName, FaultKind.BrokerDiskFull, "broker"),
    ];
}

/// <summary>The outcome of one trial, frame by frame against the undisturbed run of the same input.</summary>
/// <param name="Identical">Frames whose row equals the undisturbed run's bit for bit.</param>
/// <param name="Lost">Frames with no row and no flag: silently lost.</param>
/// <param name="Wrong">Frames with a row that differs from the undisturbed run's.</param>
/// <param name="Duplicated">Profiles published beyond one per frame.</param>
/// <param name="Flagged">Frames listed as failed or missing in the result (expected only for damaged files).</param>
/// <param name="Unexpected">Flagged frames outside the damaged chunk part, or a bad request that was not refused as it should.</param>
/// <param name="Recovery">From the fault to the result being final.</param>
public sealed record TrialOutcome(int Identical, int Lost, int Wrong, int Duplicated, int Flagged, int Unexpected, TimeSpan Recovery)
{
    /// <summary>Nothing lost, nothing wrong, nothing silent.</summary>
    public bool Passed => Lost == 0 && Wrong == 0 && Duplicated == 0 && Unexpected == 0;
}
