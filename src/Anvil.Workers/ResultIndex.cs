using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Grpc.Core;

namespace Anvil.Workers;

/// <summary>
/// Which acquisitions merge has finished, kept in the broker so any service can tell without seeing merge's output
/// folder: <c>results/&lt;acquisition&gt;</c> holds one message (id 1) named after the result file. Merge records it
/// after renaming the file into place (and again, harmlessly, when it finds the file already there after a restart:
/// the broker takes an identical resend as a duplicate).
/// </summary>
public sealed class ResultIndex(BrokerClient broker)
{
    /// <summary>Data source of the result records; the stream is the acquisition.</summary>
    public const string Source = "results";

    /// <summary>Records that <paramref name="acquisition"/>'s result is the file <paramref name="fileName"/> in the output folder.</summary>
    public Task RecordAsync(string acquisition, string fileName, CancellationToken cancellationToken) =>
        broker.SendAsync(new SendRequest
        {
            Address = broker.Address(Source, acquisition),
            SourceType = SourceType.Processed,
            Id = 1,
            Name = fileName,
            PayloadKind = PayloadKind.Inline,
            Meta = "{}",
        }, cancellationToken);

    /// <summary>The result file's name, or null while merge has not finished the acquisition.</summary>
    public async Task<string?> GetAsync(string acquisition, CancellationToken cancellationToken)
    {
        try
        {
            return (await broker.GetLastAsync(broker.Address(Source, acquisition), cancellationToken))?.Name;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }
}
