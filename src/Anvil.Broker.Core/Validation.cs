using System.Text;
using System.Text.Json;

namespace Anvil.Broker.Core;

/// <summary>Normalised address: defaults applied, auto beamtime resolved.</summary>
internal readonly record struct StreamKey(string Beamtime, string DataSource, string Stream)
{
    public SourceKey Source => new(Beamtime, DataSource);
}

internal readonly record struct SourceKey(string Beamtime, string DataSource);

/// <summary>Request-shape checks of docs/broker.md §2 and §6: every failure is INVALID_ARGUMENT naming the field.</summary>
internal static class Validation
{
    public const int MaxMetaBytes = 64 * 1024;
    public const int MaxHeaders = 32;
    public const int MaxHeaderBytes = 8 * 1024;
    public const ulong MaxId = long.MaxValue;

    public static SourceKey Source(StreamAddress address, BrokerOptions options)
    {
        var beamtime = address.Beamtime;
        if (beamtime == "auto")
        {
            if (string.IsNullOrEmpty(address.Beamline))
            {
                throw BrokerException.Invalid("address.beamline", "Beamtime 'auto' needs a beamline; set address.beamline or name the beamtime.");
            }

            if (!options.Beamlines.TryGetValue(address.Beamline, out var resolved))
            {
                throw BrokerException.Invalid("address.beamline", $"Beamline '{address.Beamline}' has no current beamtime in the broker configuration (Broker:Beamlines); name the beamtime instead.");
            }

            beamtime = resolved;
        }

        if (beamtime.Length is < 1 or > 128 || !beamtime.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            throw BrokerException.Invalid("address.beamtime", "Beamtime must be 1–128 characters of [A-Za-z0-9._-] (or 'auto' with a beamline).");
        }

        var source = address.DataSource.Length == 0 ? "detector" : address.DataSource;
        CheckLabel(source, "address.data_source", 1024);
        return new SourceKey(beamtime, source);
    }

    public static StreamKey Stream(StreamAddress address, BrokerOptions options)
    {
        var source = Source(address, options);
        var stream = address.Stream.Length == 0 ? "default" : address.Stream;
        CheckLabel(stream, "address.stream", 1024);
        return new StreamKey(source.Beamtime, source.DataSource, stream);
    }

    public static void Group(string group)
    {
        if (group.Length == 0)
        {
            throw BrokerException.Invalid("group", "A consumer group is required; use any name or NewGroupId.");
        }

        CheckLabel(group, "group", 256);
    }

    public static void StreamName(string stream, string field) => CheckLabel(stream, field, 1024);

    public static void Id(ulong id, string field = "id")
    {
        if (id == 0)
        {
            throw BrokerException.Invalid(field, "Id 0 is not valid: ids start at 1.");
        }

        if (id > MaxId)
        {
            throw BrokerException.Invalid(field, $"Id {id} exceeds the maximum 2^63-1.");
        }
    }

    public static TimeSpan Timeout(uint timeoutMs, BrokerOptions options)
    {
        var timeout = TimeSpan.FromMilliseconds(timeoutMs);
        if (timeout > options.MaxWait)
        {
            throw BrokerException.Invalid("timeout_ms", $"timeout_ms {timeoutMs} exceeds the broker's max wait of {options.MaxWait.TotalMilliseconds:0} ms; poll again instead.");
        }

        return timeout;
    }

    public static void Policy(ResendPolicy? policy)
    {
        if (policy is { DelayMs: 0 })
        {
            throw BrokerException.Invalid("resend.delay_ms", "A resend policy needs delay_ms >= 1.");
        }
    }

    public static void MessageName(string name)
    {
        if (name.Length == 0)
        {
            throw BrokerException.Invalid("name", "Message name must not be empty; give a file path or a label.");
        }

        if (Encoding.UTF8.GetByteCount(name) > 1024)
        {
            throw BrokerException.Invalid("name", "Message name exceeds 1024 bytes of UTF-8; use a shorter name or path.");
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw BrokerException.Invalid("name", "Message name must not contain NUL; remove it.");
        }

        if (name.Split('/').Contains(".."))
        {
            throw BrokerException.Invalid("name", "Message name must not contain a '..' segment; give the path without it.");
        }
    }

    /// <summary>Parses a JSON object and returns its canonical form (keys sorted, no whitespace) used for storage and duplicate identity.</summary>
    public static string CanonicalObject(string json, string field, int maxBytes)
    {
        if (json.Length == 0)
        {
            return "{}";
        }

        if (Encoding.UTF8.GetByteCount(json) > maxBytes)
        {
            throw BrokerException.Invalid(field, $"{field} exceeds {maxBytes} bytes; keep bulk data in the payload or a file.");
        }

        // JsonDocument (pooled, no node objects) and a direct writer: the per-message cost of a send (issue 3).
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw BrokerException.Invalid(field, $"{field} is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                var kind = document.RootElement.ValueKind == JsonValueKind.Null ? "null" : document.RootElement.ValueKind.ToString();
                throw BrokerException.Invalid(field, $"{field} must be a JSON object such as {{\"a\": 1}}, not {kind}.");
            }

            var buffer = new System.Buffers.ArrayBufferWriter<byte>(json.Length + 16);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                WriteCanonical(writer, document.RootElement, field);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
    }

    /// <summary>
    /// <see cref="CanonicalObject"/> as UTF-8 bytes, the form a record stores. Metadata that is already canonical (the
    /// common case: producers serialise compactly, and a resend repeats what was stored) is only checked, with one
    /// pass of <see cref="Utf8JsonReader"/> over its UTF-8 bytes; anything else goes through the full canonicaliser,
    /// which also produces every error message (issue 3: per-message cost of a send).
    /// </summary>
    public static byte[] CanonicalObjectUtf8(string json, string field, int maxBytes)
    {
        if (json.Length == 0)
        {
            return [(byte)'{', (byte)'}'];
        }

        var count = Encoding.UTF8.GetByteCount(json);
        if (count > maxBytes)
        {
            throw BrokerException.Invalid(field, $"{field} exceeds {maxBytes} bytes; keep bulk data in the payload or a file.");
        }

        var utf8 = new byte[count];
        Encoding.UTF8.GetBytes(json, utf8);
        return IsCanonical(utf8) ? utf8 : Encoding.UTF8.GetBytes(CanonicalObject(json, field, maxBytes));
    }

    /// <summary>
    /// Whether <paramref name="utf8"/> is a JSON object exactly as <see cref="WriteCanonical"/> would write it: no
    /// whitespace, keys strictly ascending (ordinal) in every object, strings and keys of plain ASCII the writer does
    /// not escape, numbers and literals as written. False also for invalid JSON (the full path reports why).
    /// </summary>
    internal static bool IsCanonical(ReadOnlySpan<byte> utf8)
    {
        // Position of the previous key per object depth (start, length), to check the order without copying names.
        Span<int> keyStart = stackalloc int[MaxJsonDepth + 2];
        Span<int> keyLength = stackalloc int[MaxJsonDepth + 2];
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = MaxJsonDepth });
        long expected = 0;
        try
        {
            while (reader.Read())
            {
                var start = reader.TokenStartIndex;
                if (start != expected && !(start == expected + 1 && utf8[(int)expected] is (byte)',' or (byte)':'))
                {
                    return false;
                }

                if (start == 0 && reader.TokenType != JsonTokenType.StartObject)
                {
                    return false;
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        keyLength[reader.CurrentDepth + 1] = -1;
                        expected = start + 1;
                        break;
                    case JsonTokenType.StartArray:
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        expected = start + 1;
                        break;
                    case JsonTokenType.PropertyName:
                    case JsonTokenType.String:
                        var value = reader.ValueSpan;
                        if (reader.ValueIsEscaped || value.IndexOfAnyExcept(PlainStringBytes) >= 0)
                        {
                            return false;
                        }

                        if (reader.TokenType == JsonTokenType.PropertyName)
                        {
                            var depth = reader.CurrentDepth;
                            var valueStart = (int)start + 1;
                            if (keyLength[depth] >= 0 && utf8.Slice(keyStart[depth], keyLength[depth]).SequenceCompareTo(value) >= 0)
                            {
                                return false;
                            }

                            keyStart[depth] = valueStart;
                            keyLength[depth] = value.Length;
                        }

                        expected = start + value.Length + 2;
                        break;
                    default:
                        expected = start + reader.ValueSpan.Length;
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }

        return expected == utf8.Length;
    }

    // JsonDocument's default depth limit, which the full path applies.
    private const int MaxJsonDepth = 64;

    // Printable ASCII that Utf8JsonWriter's default encoder writes unescaped (it escapes '"', '\\' and the
    // HTML-sensitive characters): asked of the writer itself, so the check and the full path cannot disagree.
    private static readonly System.Buffers.SearchValues<byte> PlainStringBytes = System.Buffers.SearchValues.Create(PlainBytes());

    private static byte[] PlainBytes()
    {
        var plain = new List<byte>();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(16);
        for (var c = 0x20; c < 0x7F; c++)
        {
            buffer.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStringValue(((char)c).ToString());
            }

            if (buffer.WrittenCount == 3)
            {
                plain.Add((byte)c);
            }
        }

        return [.. plain];
    }

    public static void Headers(IReadOnlyDictionary<string, string> headers)
    {
        if (headers.Count > MaxHeaders)
        {
            throw BrokerException.Invalid("headers", $"At most {MaxHeaders} headers are allowed ({headers.Count} given); drop some.");
        }

        var bytes = headers.Sum(h => Encoding.UTF8.GetByteCount(h.Key) + Encoding.UTF8.GetByteCount(h.Value));
        if (bytes > MaxHeaderBytes)
        {
            throw BrokerException.Invalid("headers", $"Headers exceed {MaxHeaderBytes} bytes in total; shorten them (they carry trace context, not data).");
        }
    }

    /// <summary>§2.6: a FILE name must resolve inside the beamtime's data root, symlinks followed.</summary>
    public static void FilePath(string name, string beamtime, SourceType source, BrokerOptions options)
    {
        if (options.DataRoot is not { Length: > 0 } template)
        {
            throw BrokerException.Invalid("payload_kind", "FILE references need a data root, and the broker has none configured (Broker:DataRoot).", ErrorReasons.NoDataRoot);
        }

        static BrokerException Outside(string why) =>
            BrokerException.Invalid("name", $"FILE name {why}; give a path relative to the beamtime data root.", ErrorReasons.PathOutsideRoot);

        if (name.StartsWith('/') || name.Contains('\\', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            throw Outside("must not be absolute or contain backslashes or NUL");
        }

        var segments = name.Split('/');
        if (segments.Contains(".."))
        {
            throw Outside("must not contain a '..' segment");
        }

        if (options.RequireSourceSubfolder)
        {
            var prefix = source == SourceType.Raw ? "raw" : "processed";
            if (segments[0] != prefix)
            {
                throw Outside($"must lie below '{prefix}/' for a {prefix} source");
            }
        }

        var root = Path.GetFullPath(template.Replace("{beamtime}", beamtime, StringComparison.Ordinal));
        var realRoot = Resolve(root);
        var candidate = Path.GetFullPath(Path.Combine(root, name));
        if (!IsBelow(candidate, root))
        {
            throw Outside("resolves outside the data root");
        }

        // The deepest existing ancestor decides: a symlink on the way may point anywhere.
        var probe = candidate;
        while (!Path.Exists(probe) && Path.GetDirectoryName(probe) is { } parent)
        {
            probe = parent;
        }

        if (!IsBelow(Resolve(probe), realRoot))
        {
            throw Outside("resolves (through a symbolic link) outside the data root");
        }
    }

    private static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var parts = new List<string>();
        var current = full;
        while (!Path.Exists(current) && Path.GetDirectoryName(current) is { } parent)
        {
            parts.Insert(0, Path.GetFileName(current));
            current = parent;
        }

        var info = Directory.Exists(current) ? (FileSystemInfo)new DirectoryInfo(current) : new FileInfo(current);
        var resolved = ResolveAll(info.FullName);
        return parts.Count == 0 ? resolved : Path.Combine([resolved, .. parts]);
    }

    // Resolves every symlink along an existing path, component by component.
    private static string ResolveAll(string existing)
    {
        var root = Path.GetPathRoot(existing) ?? "/";
        var result = root;
        foreach (var part in existing[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(result, part);
            var info = new FileInfo(next);
            var target = info.Exists || Directory.Exists(next)
                ? (info.LinkTarget is not null ? info.ResolveLinkTarget(true)?.FullName : null)
                : null;
            result = target ?? next;
        }

        return result;
    }

    private static bool IsBelow(string path, string root) =>
        path == root || path.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal);

    // Keys sorted ordinally at every level, strings re-escaped by the writer, numbers as written: one form for every
    // spelling of the same object. A key given twice in one object is refused (its value would be ambiguous).
    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement element, string field)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = new List<JsonProperty>();
                foreach (var property in element.EnumerateObject())
                {
                    properties.Add(property);
                }

                properties.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                writer.WriteStartObject();
                for (var i = 0; i < properties.Count; i++)
                {
                    if (i + 1 < properties.Count && properties[i + 1].Name == properties[i].Name)
                    {
                        throw BrokerException.Invalid(field, $"{field} has the key '{properties[i].Name}' twice in one object; give each key once.");
                    }

                    writer.WritePropertyName(properties[i].Name);
                    WriteCanonical(writer, properties[i].Value, field);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(writer, item, field);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(element.GetString());
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    private static void CheckLabel(string value, string field, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(value) > maxBytes)
        {
            throw BrokerException.Invalid(field, $"{field} exceeds {maxBytes} bytes of UTF-8; use a shorter name.");
        }

        if (value.Any(char.IsControl))
        {
            throw BrokerException.Invalid(field, $"{field} must not contain control characters; use printable UTF-8.");
        }
    }
}
