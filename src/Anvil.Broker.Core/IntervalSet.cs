namespace Anvil.Broker.Core;

/// <summary>A set of ids kept as disjoint, sorted, non-adjacent ranges, so acks of a long stream stay small (docs/broker.md §7).</summary>
internal sealed class IntervalSet
{
    private readonly List<(ulong Start, ulong End)> ranges = [];

    public ulong Count { get; private set; }

    public ulong Max => ranges.Count == 0 ? 0 : ranges[^1].End;

    public bool Contains(ulong id)
    {
        var i = IndexOfLastStartAtOrBelow(id);
        return i >= 0 && ranges[i].End >= id;
    }

    /// <summary>Adds an id; false if it was present.</summary>
    public bool Add(ulong id)
    {
        var i = IndexOfLastStartAtOrBelow(id);
        if (i >= 0 && ranges[i].End >= id)
        {
            return false;
        }

        var joinsLeft = i >= 0 && ranges[i].End + 1 == id;
        var joinsRight = i + 1 < ranges.Count && ranges[i + 1].Start == id + 1;
        if (joinsLeft && joinsRight)
        {
            ranges[i] = (ranges[i].Start, ranges[i + 1].End);
            ranges.RemoveAt(i + 1);
        }
        else if (joinsLeft)
        {
            ranges[i] = (ranges[i].Start, id);
        }
        else if (joinsRight)
        {
            ranges[i + 1] = (id, ranges[i + 1].End);
        }
        else
        {
            ranges.Insert(i + 1, (id, id));
        }

        Count++;
        return true;
    }

    /// <summary>Ascending ids in [from, to] that are not in the set; callers stop enumerating when they have enough.</summary>
    public IEnumerable<ulong> Missing(ulong from, ulong to)
    {
        var id = from;
        var i = Math.Max(0, IndexOfLastStartAtOrBelow(from));
        while (id <= to)
        {
            while (i < ranges.Count && ranges[i].End < id)
            {
                i++;
            }

            if (i < ranges.Count && ranges[i].Start <= id)
            {
                if (ranges[i].End >= to)
                {
                    yield break;
                }

                id = ranges[i].End + 1;
                continue;
            }

            yield return id;
            if (id == to)
            {
                yield break;
            }

            id++;
        }
    }

    public IReadOnlyList<(ulong Start, ulong End)> Ranges => ranges;

    /// <summary>How many ids of the set are at or below <paramref name="id"/>.</summary>
    public ulong CountUpTo(ulong id)
    {
        ulong count = 0;
        foreach (var (start, end) in ranges)
        {
            if (start > id)
            {
                break;
            }

            count += Math.Min(end, id) - start + 1;
        }

        return count;
    }

    private int IndexOfLastStartAtOrBelow(ulong id)
    {
        int lo = 0, hi = ranges.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (ranges[mid].Start <= id)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found;
    }
}
