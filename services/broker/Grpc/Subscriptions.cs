using System.Collections.Concurrent;

namespace Anvil.Broker.Service.Grpc;

/// <summary>
/// Credit of the live Subscribe calls (docs/broker.md §4.10): each holds at most <c>prefetch</c> deliveries that are neither acked nor
/// nacked. Acknowledge, AcknowledgeMany and NegativeAcknowledge of the same (address, group) return credit, whichever
/// connection sends them.
/// </summary>
public sealed class Subscriptions
{
    private readonly ConcurrentDictionary<Key, ConcurrentDictionary<Subscription, byte>> live = new();

    /// <summary>Registers a subscription; dispose it when the call ends.</summary>
    public Subscription Add(Key key, int prefetch)
    {
        var subscription = new Subscription(this, key, prefetch);
        live.GetOrAdd(key, _ => new()).TryAdd(subscription, 0);
        return subscription;
    }

    /// <summary>Returns the credit of settled ids (acked or nacked) to the subscriptions that delivered them.</summary>
    public void Settle(Key key, IEnumerable<ulong> ids)
    {
        if (!live.TryGetValue(key, out var subscriptions) || subscriptions.IsEmpty)
        {
            return;
        }

        foreach (var id in ids)
        {
            foreach (var subscription in subscriptions.Keys)
            {
                if (subscription.Settle(id))
                {
                    break;
                }
            }
        }
    }

    /// <summary>Number of live subscriptions (for tests and operators).</summary>
    public int Count => live.Values.Sum(s => s.Count);

    private void Remove(Subscription subscription)
    {
        if (live.TryGetValue(subscription.Target, out var subscriptions))
        {
            subscriptions.TryRemove(subscription, out _);
        }
    }

    /// <summary>A normalised (beamtime, data source, stream, group).</summary>
    public readonly record struct Key(string Beamtime, string DataSource, string Stream, string Group);

    /// <summary>One Subscribe call's credit and outstanding ids.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly Subscriptions owner;
        private readonly ConcurrentDictionary<ulong, byte> outstanding = new();
        private readonly SemaphoreSlim credit;

        internal Subscription(Subscriptions owner, Key target, int prefetch)
        {
            this.owner = owner;
            Target = target;
            credit = new SemaphoreSlim(prefetch, prefetch);
        }

        public Key Target { get; }

        /// <summary>Ids delivered and not yet settled.</summary>
        public ICollection<ulong> Outstanding => outstanding.Keys;

        /// <summary>Waits for one unit of credit.</summary>
        public Task AcquireAsync(CancellationToken cancellationToken) => credit.WaitAsync(cancellationToken);

        /// <summary>Takes one unit of credit if one is free at once.</summary>
        public bool TryAcquire() => credit.Wait(0);

        /// <summary>Gives back a unit that produced no delivery (a gap, an empty wait).</summary>
        public void Return() => credit.Release();

        public void Return(int count)
        {
            if (count > 0)
            {
                credit.Release(count);
            }
        }

        /// <summary>Records a delivery that holds its unit until the id is settled.</summary>
        public void Delivered(ulong id)
        {
            if (!outstanding.TryAdd(id, 0))
            {
                // Delivered again while still outstanding (a redelivery): it holds one unit only.
                credit.Release();
            }
        }

        internal bool Settle(ulong id)
        {
            if (!outstanding.TryRemove(id, out _))
            {
                return false;
            }

            credit.Release();
            return true;
        }

        // The semaphore is not disposed: an ack racing the end of the call may still release into it (harmless).
        public void Dispose() => owner.Remove(this);
    }
}
