namespace Anvil.Broker.Core;

/// <summary>
/// Stream information and deletion (docs/broker.md §4.8, §5.3): sizes, stream and group listings, gaps and the
/// group gauges of the metrics (§9).
/// </summary>
public sealed partial class MessageBroker
{
    /// <summary>§4.8: removes the stream with its groups, gaps and metadata; false when it did not exist and that is allowed.</summary>
    public Task<bool> DeleteStreamAsync(StreamAddress address, bool errorOnNotExist = true, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var state = State(key);
        lock (state.Gate)
        {
            if (!state.Exists)
            {
                if (errorOnNotExist)
                {
                    throw BrokerException.Invalid("address.stream", $"Stream '{key.Stream}' does not exist; set error_on_not_exist = false to ignore that.", ErrorReasons.StreamNotFound);
                }

                return Task.FromResult(false);
            }

            state.Clear();
            storage?.DeleteStreamDirectory(storage.StreamDirectory(key));
            state.Signal();
        }

        return Task.FromResult(true);
    }

    public Task<ulong> GetCurrentSizeAsync(StreamAddress address, CancellationToken cancellationToken = default) =>
        Inspect(address, s => (ulong)s.Records.Count, cancellationToken);

    public Task<ulong> GetCurrentDatasetCountAsync(StreamAddress address, bool includeIncomplete, CancellationToken cancellationToken = default) =>
        Inspect(address, s => (ulong)s.Records.CountDatasets(includeIncomplete), cancellationToken);

    public Task<IReadOnlyList<StreamInfo>> ListStreamsAsync(StreamAddress address, string from, StreamFilter filter, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var source = SourceKeyOf(address);
        var infos = new List<StreamInfo>();
        foreach (var state in streams.Values.Where(s => s.Key.Source == source))
        {
            lock (state.Gate)
            {
                if (state.Exists)
                {
                    infos.Add(Info(state));
                }
            }
        }

        var ordered = infos.OrderBy(i => i.TimestampCreatedNs).ThenBy(i => i.Name, StringComparer.Ordinal).ToList();
        if (from.Length > 0)
        {
            var start = ordered.FindIndex(i => i.Name == from);
            ordered = start < 0 ? [] : ordered[start..];
        }

        IReadOnlyList<StreamInfo> result = [.. ordered.Where(i => filter switch
        {
            StreamFilter.Finished => i.Finished,
            StreamFilter.Unfinished => !i.Finished,
            _ => true,
        })];
        return Task.FromResult(result);
    }

    public Task<StreamInfo> GetStreamInfoAsync(StreamAddress address, CancellationToken cancellationToken = default) =>
        Inspect(address, s => s.Exists
            ? Info(s)
            : throw new BrokerException(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"Stream '{s.Key.Stream}' does not exist.", Meta(("last_id", 0UL))),
            cancellationToken);

    /// <summary>§5.3: a group's declared gaps, or without a group the ids now missing below the bound (at most 100 000).</summary>
    public Task<IReadOnlyList<GapInfo>> ListGapsAsync(StreamAddress address, string group, CancellationToken cancellationToken = default)
    {
        if (group.Length > 0)
        {
            Validation.Group(group);
        }

        return Inspect<IReadOnlyList<GapInfo>>(address, s =>
        {
            if (group.Length > 0)
            {
                return s.Groups.TryGetValue(group, out var g)
                    ? [.. g.Gaps.Values.Select(x => new GapInfo(x.Id, x.Kind, x.DeclaredAtNs, x.Resolved))]
                    : [];
            }

            return [.. Range(1, s.Bound).Where(id => !s.Records.ContainsKey(id)).Take(100_000)
                .Select(id => new GapInfo(id, ErrorReasons.NoData, 0, false))];
        }, cancellationToken);
    }

    /// <summary>Group positions and backlog per stream; an empty stream name lists every stream of the data source.</summary>
    public Task<IReadOnlyList<GroupInfo>> ListGroupsAsync(StreamAddress address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var source = SourceKeyOf(address);
        var states = address.Stream.Length == 0
            ? streams.Values.Where(s => s.Key.Source == source).ToList()
            : [State(StreamKeyOf(address))];
        var now = time.GetUtcNow().UtcTicks;
        var result = new List<GroupInfo>();
        foreach (var state in states.OrderBy(s => s.Key.Stream, StringComparer.Ordinal))
        {
            lock (state.Gate)
            {
                foreach (var (name, g) in state.Groups.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    var above = (ulong)state.Records.CountAbove(g.Pointer);
                    result.Add(new GroupInfo(state.Key.Stream, name, g.Pointer, g.Acks.Max, g.Acks.Count, (ulong)g.InFlightCount,
                        above + (ulong)g.DueCount(now), (ulong)g.Gaps.Values.Count(x => !x.Resolved)));
                }
            }
        }

        return Task.FromResult<IReadOnlyList<GroupInfo>>(result);
    }

    private List<GroupGauge> GroupGauges()
    {
        var now = time.GetUtcNow().UtcTicks;
        var gauges = new List<GroupGauge>();
        if (!ready)
        {
            // Streams are still being replayed (without their locks): nothing to report yet.
            return gauges;
        }

        foreach (var state in streams.Values)
        {
            lock (state.Gate)
            {
                foreach (var (name, g) in state.Groups)
                {
                    var backlog = state.Records.CountAbove(g.Pointer) + g.DueCount(now);
                    var unacked = (long)(g.Pointer - Math.Min(g.Pointer, g.Acks.CountUpTo(g.Pointer)));
                    gauges.Add(new GroupGauge(state.Key, name, backlog, unacked, g.InFlightCount, g.Gaps.Values.Count(x => !x.Resolved)));
                }
            }
        }

        return gauges;
    }

    private static StreamInfo Info(StreamState s) =>
        new(s.Key.Stream, s.Bound, s.CreatedNs, s.LastNs, s.Finished, s.NextStream);
}
