using System.Text.Json;
using Anvil.Broker.Core.Query;

namespace Anvil.Broker.Core;

/// <summary>The metadata query subset (docs/broker.md §4.9).</summary>
public sealed partial class MessageBroker
{
    /// <summary>
    /// Records of a stream matching <paramref name="expression"/>, without payloads, by ascending id unless ordered;
    /// dataset parts match one by one. At most <paramref name="maxResults"/> (0 = 1000, at most 10 000).
    /// </summary>
    public Task<QueryResult> QueryAsync(StreamAddress address, string expression, uint maxResults, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        if (maxResults > 10_000)
        {
            throw BrokerException.Invalid("max_results", $"max_results {maxResults} exceeds 10 000; narrow the query or page by _id.");
        }

        var limit = maxResults == 0 ? 1000 : (int)maxResults;
        var query = QueryParser.Parse(expression);
        var state = State(key);
        lock (state.Gate)
        {
            return Task.FromResult(query.OrderBy is null ? Scan(state, query, limit, cancellationToken) : Ordered(state, query, limit, cancellationToken));
        }
    }

    private static IEnumerable<MessageRecord> Candidates(StreamState state, CancellationToken ct)
    {
        for (ulong id = 1; id <= state.Highest; id++)
        {
            if ((id & 0x3FF) == 0)
            {
                ct.ThrowIfCancellationRequested();
            }

            if (state.Records.TryGetValue(id, out var rec))
            {
                foreach (var part in rec.Parts)
                {
                    yield return ToMessage(state, id, part, includePayload: false, 0, RedeliveryReason.None);
                }
            }
        }
    }

    private static bool Matches(ParsedQuery query, MessageRecord record)
    {
        JsonDocument? meta = null;
        try
        {
            return QueryEvaluator.Matches(query.Condition, record, ref meta);
        }
        finally
        {
            meta?.Dispose();
        }
    }

    private static QueryResult Scan(StreamState state, ParsedQuery query, int limit, CancellationToken ct)
    {
        var found = new List<MessageRecord>();
        foreach (var record in Candidates(state, ct))
        {
            if (Matches(query, record))
            {
                if (found.Count == limit)
                {
                    return new QueryResult(found, Truncated: true);
                }

                found.Add(record);
            }
        }

        return new QueryResult(found, Truncated: false);
    }

    /// <summary>ORDER BY keeps a bounded heap of <paramref name="limit"/> records (§7 bounded memory); records without the field sort last.</summary>
    private static QueryResult Ordered(StreamState state, ParsedQuery query, int limit, CancellationToken ct)
    {
        var comparer = Comparer<(QueryValue Key, ulong Id, uint Sub)>.Create((a, b) => Compare(a, b, query.Descending));
        var heap = new PriorityQueue<MessageRecord, (QueryValue, ulong, uint)>(Comparer<(QueryValue, ulong, uint)>.Create((a, b) => comparer.Compare(b, a)));
        var truncated = false;
        foreach (var record in Candidates(state, ct))
        {
            if (!Matches(query, record))
            {
                continue;
            }

            JsonDocument? meta = null;
            var sortKey = QueryEvaluator.Value(query.OrderBy!, record, ref meta);
            meta?.Dispose();
            var entry = (sortKey, record.Id, record.DatasetSubstream);
            if (heap.Count < limit)
            {
                heap.Enqueue(record, entry);
            }
            else
            {
                truncated = true;
                heap.TryPeek(out _, out var worst);
                if (comparer.Compare(entry, worst) < 0)
                {
                    heap.DequeueEnqueue(record, entry);
                }
            }
        }

        var result = new List<(MessageRecord Record, (QueryValue, ulong, uint) Key)>(heap.Count);
        while (heap.TryDequeue(out var record, out var k))
        {
            result.Add((record, k));
        }

        result.Reverse();
        return new QueryResult([.. result.Select(r => r.Record)], truncated);
    }

    private static int Compare((QueryValue Key, ulong Id, uint Sub) a, (QueryValue Key, ulong Id, uint Sub) b, bool descending)
    {
        var rank = Rank(a.Key).CompareTo(Rank(b.Key));
        if (rank != 0)
        {
            return rank;
        }

        var order = a.Key.CompareTo(b.Key, ordering: false) ?? 0;
        if (order != 0)
        {
            return descending ? -order : order;
        }

        var id = a.Id.CompareTo(b.Id);
        return id != 0 ? id : a.Sub.CompareTo(b.Sub);
    }

    // Numbers, then strings, then booleans; a missing field sorts last in either direction.
    private static int Rank(QueryValue value) => value.Kind switch
    {
        QueryValueKind.Number => 0,
        QueryValueKind.Text => 1,
        QueryValueKind.Bool => 2,
        _ => 3,
    };
}
