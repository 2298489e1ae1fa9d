namespace Anvil.Broker.Core;

/// <summary>One group's backlog on one stream, for the <c>anvil.broker.backlog</c> gauge.</summary>
public sealed record BacklogEntry(string Beamtime, string DataSource, string Stream, string Group, ulong Backlog, ulong InFlight);

public sealed partial class MessageBroker
{
    /// <summary>
    /// Backlog (stored above the group's pointer, plus deliveries due again) and in-flight count of every group on
    /// every stream, computed as <see cref="ListGroupsAsync"/> does; read by the metrics gauge at each collection.
    /// </summary>
    public IReadOnlyList<BacklogEntry> SnapshotBacklog()
    {
        var now = _time.GetUtcNow().UtcTicks;
        var result = new List<BacklogEntry>();
        foreach (var state in _streams.Values)
        {
            lock (state.Gate)
            {
                foreach (var (name, g) in state.Groups)
                {
                    var above = (ulong)state.Records.CountAbove(g.Pointer);
                    result.Add(new BacklogEntry(state.Key.Beamtime, state.Key.DataSource, state.Key.Stream, name,
                        above + (ulong)g.DueCount(now), (ulong)g.InFlightCount));
                }
            }
        }

        return result;
    }
}
