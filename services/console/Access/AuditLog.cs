using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Anvil.Pipeline;
using Microsoft.Extensions.Options;

namespace Anvil.Console.Service.Access;

/// <summary>One line of the audit log: who did what to which acquisition, what changed, and how it ended.</summary>
public sealed record AuditEntry
{
    public DateTimeOffset Time { get; init; }

    /// <summary>The account, or "(local)" when the console runs without accounts (then the address says who).</summary>
    public string User { get; init; } = string.Empty;

    public string Role { get; init; } = string.Empty;

    public string Remote { get; init; } = string.Empty;

    /// <summary>login, login-failed, logout, pause, resume, stop, settings.</summary>
    public string Action { get; init; } = string.Empty;

    /// <summary>The acquisition acted on; empty for the beamtime / every acquisition.</summary>
    public string? Acquisition { get; init; }

    /// <summary>For settings: each changed field's value before and after ({"npt": {"from": 1500, "to": 1000}}).</summary>
    public JsonObject? Changes { get; init; }

    /// <summary>The HTTP status the request got.</summary>
    public int Status { get; init; }

    /// <summary>The outcome in words (the reply's message or the problem's detail).</summary>
    public string Result { get; init; } = string.Empty;
}

/// <summary>
/// The audit log: JSON lines appended to <see cref="AccessOptions.AuditLog"/> (default <c>console-audit.jsonl</c> in
/// <c>Pipeline:OutputDir</c>), one per operator action, refusal and login, flushed at once. A write that fails (disk full,
/// read-only folder) is logged as an error; it does not undo the action it records.
/// </summary>
public sealed partial class AuditLog(IOptions<AccessOptions> access, IOptions<PipelineOptions> pipeline, TimeProvider time, ILogger<AuditLog> logger)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    private readonly Lock gate = new();

    /// <summary>The file's path.</summary>
    public string Path { get; } = System.IO.Path.GetFullPath(access.Value.AuditLog is { Length: > 0 } p ? p : System.IO.Path.Combine(pipeline.Value.OutputDir, "console-audit.jsonl"));

    /// <summary>Appends one entry (its time is now).</summary>
    public void Write(AuditEntry entry)
    {
        var line = JsonSerializer.Serialize(entry with { Time = time.GetUtcNow() }, Json) + "\n";
        try
        {
            lock (gate)
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
                File.AppendAllText(Path, line, Encoding.UTF8);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WriteFailed(logger, Path, entry.Action, entry.User, ex.Message);
        }
    }

    /// <summary>The newest <paramref name="limit"/> entries, newest first (only the file's last MiB is read).</summary>
    public IReadOnlyList<JsonElement> Newest(int limit)
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        string text;
        lock (gate)
        {
            using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var start = Math.Max(0, stream.Length - (1 << 20));
            stream.Position = start;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            text = reader.ReadToEnd();
            if (start > 0)
            {
                text = text[(text.IndexOf('\n', StringComparison.Ordinal) + 1)..];
            }
        }

        var entries = new List<JsonElement>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse().Take(limit))
        {
            try
            {
                entries.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
            catch (JsonException)
            {
                // A torn last line (a crash mid-write) is skipped, not fatal.
            }
        }

        return entries;
    }

    [LoggerMessage(EventId = 1281, EventName = "AuditWriteFailed", Level = LogLevel.Error, Message = "Could not append to the audit log {Path} ({Action} by {User}): {Reason}")]
    private static partial void WriteFailed(ILogger logger, string path, string action, string user, string reason);
}
