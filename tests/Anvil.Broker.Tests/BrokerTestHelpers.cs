using Anvil.Broker.Core;

namespace Anvil.Broker.Tests;

internal static class BrokerTestHelpers
{
    public const string Beamtime = "11012345";

    public static StreamAddress Address(string stream = "scan1", string source = "detector") => new(Beamtime, source, stream);

    public static OutgoingMessage Message(ulong id, string name = "frame", string meta = "{}", byte[]? payload = null,
        uint substream = 0, uint size = 0) => new()
        {
            Id = id,
            Name = name == "frame" ? $"frame_{id:D5}" : name,
            Meta = meta,
            Payload = payload ?? [(byte)id, 1, 2, 3],
            DatasetSubstream = substream,
            DatasetSize = size,
        };

    public static async Task SendIds(this MessageBroker broker, StreamAddress address, params ulong[] ids)
    {
        foreach (var id in ids)
        {
            await broker.SendAsync(address, Message(id));
        }
    }

    public static async Task<BrokerException> Fails(Func<Task> call, string reason)
    {
        var ex = await Assert.ThrowsAsync<BrokerException>(call);
        Assert.Equal(reason, ex.Reason);
        return ex;
    }
}
