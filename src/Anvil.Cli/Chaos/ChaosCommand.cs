using System.Globalization;

namespace Anvil.Cli.Chaos;

/// <summary>`anvil chaos`: the fault campaign (<see cref="ChaosCampaign"/>) and its table.</summary>
public static class ChaosCommand
{
    public const string Usage = "anvil chaos [--trials N] [--seed S] [--quick] [--faults NAME,NAME] [--keep]";

    /// <summary>The faults of <c>--quick</c> (one trial each; CI runs it): one of each kind.</summary>
    public static readonly string[] QuickFaults = ["kill integrate", "kill merge", "stop stitch 5 s", "corrupt-gzip chunk file", "missing chunk file", "bad requests"];

    public static async Task<int> RunAsync(CommandLine args, TextWriter log, CancellationToken cancellationToken)
    {
        var quick = args.Has("quick");
        var trials = args.GetInt("trials", quick ? 1 : 3);
        var seed = args.GetInt("seed", 1);
        var only = args.Get("faults")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var keep = args.Has("keep");
        args.RejectUnknown();
        if (trials < 1)
        {
            throw new UsageException($"--trials {trials}: give 1 or more trials per fault");
        }

        // --quick redelivers a killed worker's frames after 5 s instead of the configured delay, to stay short in CI.
        var resendDelay = quick ? TimeSpan.FromSeconds(5) : PipelineConfig.Load(null).Options.ResendDelay;
        log.WriteLine($"starting a suite on 127.0.0.1 (resend delay {resendDelay.TotalSeconds:0} s, seed {seed}, {trials} trial(s) per fault)");
        var names = only ?? (quick ? QuickFaults : null);
        var brokerDiskFull = names is null || names.Contains(ChaosFault.BrokerDiskFullName);
        await using var campaign = await ChaosCampaign.StartAsync(resendDelay, log, keep, brokerDiskFull, cancellationToken);
        if (only?.Contains(ChaosFault.BrokerDiskFullName) == true && !campaign.BrokerDiskFull)
        {
            throw new UsageException($"'{ChaosFault.BrokerDiskFullName}' mounts a tmpfs for the broker's data: run as root, or leave that fault out");
        }

        var all = ChaosFault.All(campaign.Services).Where(f => f.Kind != FaultKind.BrokerDiskFull || campaign.BrokerDiskFull).ToList();
        var faults = names is null ? all : [.. names.Select(n => all.FirstOrDefault(f => f.Name == n)
            ?? throw new UsageException($"no fault '{n}': give some of {string.Join(", ", all.Select(f => f.Name))}"))];

        var undisturbed = await campaign.RunBaselineAsync(cancellationToken);
        log.WriteLine($"undisturbed run: 50 frames in {undisturbed.TotalSeconds:0.0} s");
        var random = new Random(seed);
        var rows = new List<(ChaosFault Fault, List<TrialOutcome> Trials)>();
        foreach (var fault in faults)
        {
            var outcomes = new List<TrialOutcome>();
            for (var trial = 0; trial < trials; trial++)
            {
                var outcome = await campaign.RunTrialAsync(fault, random, cancellationToken);
                outcomes.Add(outcome);
                log.WriteLine($"  {fault.Name} #{trial + 1}: {(outcome.Passed ? "ok" : "FAILED")} ({outcome.Identical} identical, {outcome.Flagged} flagged, {outcome.Lost} lost, {outcome.Wrong} wrong, {outcome.Duplicated} duplicated, {outcome.Unexpected} unexpected; {outcome.Recovery.TotalSeconds:0.0} s)");
            }

            rows.Add((fault, outcomes));
        }

        log.WriteLine();
        log.WriteLine(Table(rows));
        var failed = rows.Sum(r => r.Trials.Count(t => !t.Passed));
        log.WriteLine(failed == 0
            ? $"chaos: {rows.Sum(r => r.Trials.Count)} trials, nothing lost, nothing wrong, nothing silent"
            : $"chaos: {failed} of {rows.Sum(r => r.Trials.Count)} trials lost, changed, duplicated or left unflagged frames");
        return failed == 0 ? 0 : 1;
    }

    private static string Table(IEnumerable<(ChaosFault Fault, List<TrialOutcome> Trials)> rows)
    {
        var lines = new List<string>
        {
            "| fault | trials | identical | lost | duplicated | flagged | wrong or unexpected | recovery, median (max) |",
            "|---|---|---|---|---|---|---|---|",
        };
        foreach (var (fault, trials) in rows)
        {
            var recoveries = trials.Select(t => t.Recovery.TotalSeconds).Order().ToArray();
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {fault.Name} | {trials.Count} | {trials.Sum(t => t.Identical)} | {trials.Sum(t => t.Lost)} | {trials.Sum(t => t.Duplicated)} | {trials.Sum(t => t.Flagged)} | {trials.Sum(t => t.Wrong + t.Unexpected)} | {recoveries[recoveries.Length / 2]:0.0} s ({recoveries[^1]:0.0} s) |"));
        }

        return string.Join(Environment.NewLine, lines);
    }
}
