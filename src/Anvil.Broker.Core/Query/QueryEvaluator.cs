using System.Text.Json;

namespace Anvil.Broker.Core.Query;

/// <summary>Evaluates a parsed query against one record (docs/broker.md §4.9): a comparison across kinds or on a missing field is false.</summary>
internal static class QueryEvaluator
{
    public static bool Matches(QueryNode node, MessageRecord record, ref JsonDocument? meta)
    {
        switch (node)
        {
            case AndNode and:
                return Matches(and.Left, record, ref meta) && Matches(and.Right, record, ref meta);
            case OrNode or:
                return Matches(or.Left, record, ref meta) || Matches(or.Right, record, ref meta);
            case CompareNode c:
                var value = Value(c.Field, record, ref meta);
                var order = value.CompareTo(c.Value, c.Op is not (CompareOp.Eq or CompareOp.Ne));
                return order is { } o && c.Op switch
                {
                    CompareOp.Eq => o == 0,
                    CompareOp.Ne => o != 0,
                    CompareOp.Lt => o < 0,
                    CompareOp.Le => o <= 0,
                    CompareOp.Gt => o > 0,
                    _ => o >= 0,
                };
            case InNode inNode:
                var v = Value(inNode.Field, record, ref meta);
                if (v.Kind == QueryValueKind.Missing)
                {
                    return false;
                }

                var comparable = false;
                foreach (var item in inNode.Values)
                {
                    if (v.CompareTo(item, ordering: false) is { } cmp)
                    {
                        comparable = true;
                        if (cmp == 0)
                        {
                            return !inNode.Negated;
                        }
                    }
                }

                return inNode.Negated && comparable;
            case BetweenNode between:
                var x = Value(between.Field, record, ref meta);
                var low = x.CompareTo(between.Low, ordering: true);
                var high = x.CompareTo(between.High, ordering: true);
                if (low is null || high is null)
                {
                    return false;
                }

                var inside = low >= 0 && high <= 0;
                return inside != between.Negated;
            default:
                return false;
        }
    }

    /// <summary>The value of a field of a record; meta is parsed once per record, on first use.</summary>
    public static QueryValue Value(string[] field, MessageRecord record, ref JsonDocument? meta)
    {
        switch (field[0])
        {
            case "_id" or "id":
                return QueryValue.Of(record.Id);
            case "name":
                return QueryValue.Of(record.Name);
            case "timestamp":
                return QueryValue.Of(record.TimestampNs);
            case "size":
                return QueryValue.Of(record.Size);
        }

        meta ??= JsonDocument.Parse(record.Meta);
        var element = meta.RootElement;
        for (var i = 1; i < field.Length; i++)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(field[i], out element))
            {
                return default;
            }
        }

        return element.ValueKind switch
        {
            JsonValueKind.Number when element.TryGetDecimal(out var d) => QueryValue.Of(d),
            JsonValueKind.Number => QueryValue.Of((decimal)element.GetDouble()),
            JsonValueKind.String => QueryValue.Of(element.GetString()!),
            JsonValueKind.True => QueryValue.Of(true),
            JsonValueKind.False => QueryValue.Of(false),
            _ => default,
        };
    }
}
