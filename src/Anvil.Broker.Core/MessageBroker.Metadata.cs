using System.Text.Json.Nodes;
using Anvil.Broker.Core.Storage;

namespace Anvil.Broker.Core;

/// <summary>Beamtime and stream metadata (docs/broker.md §2.7): put with replace, update or insert; get waits for it.</summary>
public sealed partial class MessageBroker
{
    public Task PutBeamtimeMetaAsync(StreamAddress address, string meta, MetaMode mode, bool upsert = true, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = SourceKeyOf(address);
        var canonical = Validation.CanonicalObject(meta, "meta", 1024 * 1024);
        var state = sources.GetOrAdd(key, _ => new SourceState());
        lock (state.Gate)
        {
            var merged = MergeMeta(state.Meta, canonical, mode, upsert);
            storage?.WriteSourceMeta(key, merged);
            state.Meta = merged;
            state.Signal();
        }

        return Task.CompletedTask;
    }

    public Task PutStreamMetaAsync(StreamAddress address, string meta, MetaMode mode, bool upsert = true, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKeyOf(address);
        var canonical = Validation.CanonicalObject(meta, "meta", 1024 * 1024);
        var state = State(key);
        lock (state.Gate)
        {
            var merged = MergeMeta(state.Meta, canonical, mode, upsert);
            if (storage is not null)
            {
                BrokerStorage.WriteStreamMeta(storage.EnsureStreamDirectory(key), merged);
            }

            state.Meta = merged;
            state.Signal();
        }

        return Task.CompletedTask;
    }

    public Task<string> GetBeamtimeMetaAsync(StreamAddress address, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var key = SourceKeyOf(address);
        var state = sources.GetOrAdd(key, _ => new SourceState());
        return WaitAsync(state, timeout, (_, final) => state.Meta is { } meta
            ? Step<string>.Result(meta)
            : final ? throw NoMeta("beamtime") : Step<string>.Wait(null), cancellationToken);
    }

    public Task<string> GetStreamMetaAsync(StreamAddress address, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var key = StreamKeyOf(address);
        var state = State(key);
        return WaitAsync(state, timeout, (_, final) => state.Meta is { } meta
            ? Step<string>.Result(meta)
            : final ? throw NoMeta("stream") : Step<string>.Wait(null), cancellationToken);
    }

    private static string MergeMeta(string? stored, string given, MetaMode mode, bool upsert)
    {
        switch (mode)
        {
            case MetaMode.Insert:
                return stored is null ? given : throw BrokerException.Invalid("mode", "Metadata already exists; use mode replace or update.", ErrorReasons.MetaExists);
            case MetaMode.Replace when stored is null && !upsert:
            case MetaMode.Update when stored is null && !upsert:
                throw BrokerException.Invalid("upsert", "No metadata is stored yet; set upsert = true or use mode insert.", ErrorReasons.MetaNotFound);
            case MetaMode.Update when stored is not null:
                var merged = JsonNode.Parse(stored)!.AsObject();
                foreach (var (k, v) in JsonNode.Parse(given)!.AsObject())
                {
                    merged[k] = v?.DeepClone();
                }

                return Validation.CanonicalObject(merged.ToJsonString(), "meta", 1024 * 1024);
            default:
                return given;
        }
    }

    private static BrokerException NoMeta(string what) =>
        new(BrokerErrorCode.NotFound, ErrorReasons.NoData, $"No {what} metadata is stored; a producer sets it with Put{(what == "stream" ? "Stream" : "Beamtime")}Meta.");
}
