using System.Text;
using Microsoft.Extensions.Logging;

namespace Anvil.ServiceDefaults;

/// <summary>
/// The process's newest log lines, kept in memory for <c>ProcessStatus/GetLog</c>, so the console shows every service's
/// log where no supervisor keeps its output (Compose, Kubernetes). Lines have the console logger's shape with the UTC
/// time ServiceDefaults gives it: a header <c>2026-12-06T10:31:02.123Z info: Category[event id]</c>, then indented
/// lines, the scopes first (<c>=&gt; SpanId:…, TraceId:…, ParentId:…</c> while a traced frame is handled), then the
/// message and any exception. The oldest lines go once <see cref="Capacity"/> is reached.
/// </summary>
public sealed class RecentLog
{
    /// <summary>Lines kept.</summary>
    public const int Capacity = 20_000;

    private readonly Queue<string> lines = new(1024);
    private readonly Lock gate = new();
    private ulong dropped;

    /// <summary>Lines logged since start that no longer fit.</summary>
    public ulong Dropped
    {
        get
        {
            lock (gate)
            {
                return dropped;
            }
        }
    }

    /// <summary>The newest <paramref name="count"/> lines, oldest first, each ending in a newline.</summary>
    public string Tail(int count)
    {
        lock (gate)
        {
            var text = new StringBuilder();
            foreach (var line in lines.Skip(Math.Max(0, lines.Count - count)))
            {
                text.Append(line).Append('\n');
            }

            return text.ToString();
        }
    }

    /// <summary>Adds one entry (its header and body lines).</summary>
    public void Add(IReadOnlyList<string> entry)
    {
        lock (gate)
        {
            foreach (var line in entry)
            {
                if (lines.Count == Capacity)
                {
                    lines.Dequeue();
                    dropped++;
                }

                lines.Enqueue(line);
            }
        }
    }
}

/// <summary>Writes every log entry into a <see cref="RecentLog"/>, in the console logger's text shape.</summary>
public sealed class RecentLogProvider(RecentLog log) : ILoggerProvider, ISupportExternalScope
{
    private readonly RecentLog recent = log;
    private IExternalScopeProvider scopes = new LoggerExternalScopeProvider();

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Writer(this, categoryName);

    /// <inheritdoc />
    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => scopes = scopeProvider;

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static string Abbreviation(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };

    private sealed class Writer(RecentLogProvider provider, string category) : ILogger
    {
        private const string Indent = "      ";

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider.scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var entry = new List<string>(3) { $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fff}Z {Abbreviation(logLevel)}: {category}[{eventId.Id}]" };
            var scope = new StringBuilder();
            provider.scopes.ForEachScope((s, text) => text.Append(" => ").Append(s), scope);
            if (scope.Length > 0)
            {
                entry.Add(Indent + scope.ToString(1, scope.Length - 1));
            }

            var message = formatter(state, exception);
            if (exception is not null)
            {
                message = message.Length > 0 ? message + "\n" + exception : exception.ToString();
            }

            entry.AddRange(message.Split('\n').Select(line => Indent + line.TrimEnd('\r')));
            provider.recent.Add(entry);
        }
    }
}
