using System.Text.RegularExpressions;

namespace Anvil.Console.Service.Status;

/// <summary>
/// A service's log as entries, from the .NET console logger's text (what every service writes to its log under
/// `anvil up`): a header line <c>2026-12-06T10:31:02.123Z info: Category[event id]</c> (ServiceDefaults adds the UTC
/// time), then indented lines — the scope
/// (<c>=&gt; SpanId:…, TraceId:…, ParentId:…</c> while a traced frame or chunk is handled, ServiceDefaults turns that on)
/// and the message, exception lines included. Lines outside that shape (e.g. the runtime's "Unhandled exception.")
/// are entries of level <c>out</c>.
/// </summary>
public static partial class ServiceLogs
{
    /// <summary>Levels from least to most severe, as the console logger abbreviates them; <c>out</c> ranks with info.</summary>
    public static readonly string[] Levels = ["trce", "dbug", "info", "warn", "fail", "crit"];

    /// <summary>Parses log text into entries, numbered from 1 in the order given; a cut first entry (continuation lines) is dropped.</summary>
    public static List<LogEntry> Parse(string text)
    {
        var entries = new List<LogEntry>();
        string? time = null, level = null, category = null, traceId = null;
        var lines = new List<string>();
        void Flush()
        {
            if (level is not null)
            {
                entries.Add(new LogEntry(entries.Count + 1, time, level, category, traceId, string.Join('\n', lines)));
            }

            (time, level, category, traceId) = (null, null, null, null);
            lines.Clear();
        }

        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (Header().Match(line) is { Success: true } header)
            {
                Flush();
                (time, level, category) = (header.Groups[1].Success ? header.Groups[1].Value : null, header.Groups[2].Value, header.Groups[3].Value);
            }
            else if (line.StartsWith(' ') || line.StartsWith('\t'))
            {
                if (level is null)
                {
                    continue;
                }

                var body = line.Trim();
                if (body.StartsWith("=>", StringComparison.Ordinal))
                {
                    traceId ??= TraceScope().Match(body) is { Success: true } m ? m.Groups[1].Value : null;
                }
                else
                {
                    lines.Add(body);
                }
            }
            else if (line.Length > 0)
            {
                Flush();
                (level, category) = ("out", null);
                lines.Add(line);
            }
        }

        Flush();
        return entries;
    }

    /// <summary>Whether <paramref name="entry"/> is at least <paramref name="minimum"/> (one of <see cref="Levels"/>; empty = all).</summary>
    public static bool AtLeast(LogEntry entry, string minimum) =>
        minimum.Length == 0 || Rank(entry.Level) >= Rank(minimum);

    /// <summary>Whether the entry's text, category or trace id contains <paramref name="text"/> (case-insensitive; empty = all).</summary>
    public static bool Contains(LogEntry entry, string text) =>
        text.Length == 0
        || entry.Text.Contains(text, StringComparison.OrdinalIgnoreCase)
        || (entry.Category?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false)
        || (entry.TraceId?.Contains(text, StringComparison.OrdinalIgnoreCase) ?? false);

    /// <summary>Whether <paramref name="level"/> names a level (or is "" for all).</summary>
    public static bool IsLevel(string level) => level.Length == 0 || Levels.Contains(level);

    /// <summary>Whether <paramref name="traceId"/> is a W3C trace id (32 lowercase hex digits).</summary>
    public static bool IsTraceId(string traceId) => TraceIdPattern().IsMatch(traceId);

    private static int Rank(string level) => level == "out" ? 2 : Array.IndexOf(Levels, level);

    [GeneratedRegex(@"^(?:(\d{4}-\d\d-\d\dT[\d:.]+Z) )?(trce|dbug|info|warn|fail|crit): (\S+)$")]
    private static partial Regex Header();

    [GeneratedRegex(@"TraceId:([0-9a-f]{32})")]
    private static partial Regex TraceScope();

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex TraceIdPattern();
}

/// <summary>One log entry.</summary>
/// <param name="Line">Its number in the tail read (1 = oldest), to tell entries apart while following.</param>
/// <param name="Time">When it was written (UTC, ISO 8601), when the line says.</param>
/// <param name="Level">trce, dbug, info, warn, fail, crit, or out (a line outside the logger's format).</param>
/// <param name="Category">The logger's category, e.g. Anvil.Integrate.Service.Integrating.IntegrateWorker[4001].</param>
/// <param name="TraceId">The trace id in its scope, when it was written while a traced frame or chunk was handled.</param>
/// <param name="Text">The message and any exception, lines joined by newlines.</param>
public sealed record LogEntry(int Line, string? Time, string Level, string? Category, string? TraceId, string Text);
