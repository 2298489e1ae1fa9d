namespace Anvil.Broker.Auth;

/// <summary>The access types of a token (docs/broker.md §8); a call needs one of the types it lists, none implies another.</summary>
[Flags]
public enum BrokerAccess
{
    None = 0,
    Read = 1,
    Write = 2,
    WriteRaw = 4,

    /// <summary>
    /// Operator control changes through ingest's Control service (UpdateSettings, Pause, Resume, StopAcquisition,
    /// Reprocess) when ingest listens beyond loopback; no broker call takes it (docs/broker.md §8).
    /// </summary>
    Control = 8,

    /// <summary>Any one of the three broker types suffices (stream listing, metadata reads).</summary>
    Any = Read | Write | WriteRaw,
}

/// <summary>Parsing and printing of access lists such as <c>read,write</c>.</summary>
public static class BrokerAccessNames
{
    /// <summary>Parses a comma-separated list of <c>read</c>, <c>write</c>, <c>writeraw</c>, <c>control</c>.</summary>
    public static BrokerAccess Parse(string text)
    {
        var access = BrokerAccess.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            access |= One(part) ?? throw new FormatException($"unknown access type '{part}'; use read, write, writeraw or control (comma-separated)");
        }

        return access != BrokerAccess.None ? access : throw new FormatException("name at least one access type: read, write, writeraw or control");
    }

    /// <summary>One access name, or null when unknown.</summary>
    public static BrokerAccess? One(string name) => name switch
    {
        "read" => BrokerAccess.Read,
        "write" => BrokerAccess.Write,
        "writeraw" => BrokerAccess.WriteRaw,
        "control" => BrokerAccess.Control,
        _ => null,
    };

    /// <summary>The names of the set flags, in the order read, write, writeraw, control.</summary>
    public static IReadOnlyList<string> Names(BrokerAccess access)
    {
        var names = new List<string>(4);
        if (access.HasFlag(BrokerAccess.Read))
        {
            names.Add("read");
        }

        if (access.HasFlag(BrokerAccess.Write))
        {
            names.Add("write");
        }

        if (access.HasFlag(BrokerAccess.WriteRaw))
        {
            names.Add("writeraw");
        }

        if (access.HasFlag(BrokerAccess.Control))
        {
            names.Add("control");
        }

        return names;
    }

    /// <summary>How the reply names what is required, e.g. <c>write|writeraw</c>.</summary>
    public static string Describe(BrokerAccess required) => string.Join('|', Names(required));
}
