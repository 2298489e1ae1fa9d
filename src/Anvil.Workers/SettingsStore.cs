using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;

namespace Anvil.Workers;

/// <summary>
/// Integration settings versions kept in the broker, so every replica of every stage sees the same ones and they
/// survive restarts: <c>control/settings</c> holds the versions for every acquisition, <c>settings/&lt;acquisition&gt;</c>
/// those for one acquisition (a reprocessing, or an operator's change to one run). Each version is a message
/// (id = version) whose meta is the full <see cref="IntegrationSpec"/> as JSON. The newest version wins; with none
/// stored, version 0 is the pipeline configuration's.
/// </summary>
public sealed class SettingsStore(BrokerClient broker, PipelineOptions options)
{
    /// <summary>Data source of per-acquisition settings streams.</summary>
    public const string PerAcquisitionSource = "settings";

    /// <summary>The control stream of settings for every acquisition.</summary>
    public const string GlobalStream = "settings";

    private readonly IntegrationSpec defaults = IntegrationSpecs.FromOptions(options);

    /// <summary>The configured defaults (version 0).</summary>
    public IntegrationSpec Defaults => defaults;

    /// <summary>The settings in force for <paramref name="acquisition"/> ("" = for new acquisitions).</summary>
    public async Task<IntegrationSpec> CurrentAsync(string acquisition, CancellationToken cancellationToken)
    {
        if (acquisition.Length > 0 && await broker.GetLastAsync(broker.Address(PerAcquisitionSource, acquisition), cancellationToken) is { } own)
        {
            return Read(own);
        }

        return await broker.GetLastAsync(broker.Address(PipelineStreams.Control, GlobalStream), cancellationToken) is { } global
            ? Read(global)
            : defaults.Clone();
    }

    /// <summary>Stores a new version for <paramref name="acquisition"/> ("" = every acquisition) and returns it with its version.</summary>
    public async Task<IntegrationSpec> PublishAsync(IntegrationSpec spec, string acquisition, CancellationToken cancellationToken)
    {
        var stored = spec.Clone();
        stored.Scope = acquisition;
        stored.Version = 0;
        var address = acquisition.Length == 0
            ? broker.Address(PipelineStreams.Control, GlobalStream)
            : broker.Address(PerAcquisitionSource, acquisition);
        var reply = await broker.SendAsync(new SendRequest
        {
            Address = address,
            SourceType = SourceType.Processed,
            AutoId = true,
            Name = acquisition.Length == 0 ? "settings" : $"{acquisition}/settings",
            Meta = IntegrationSpecs.ToJson(stored),
        }, cancellationToken);
        stored.Version = reply.Id;
        return stored;
    }

    private static IntegrationSpec Read(MessageRecord record)
    {
        var spec = IntegrationSpecs.FromJson(record.Meta);
        spec.Version = record.Id;
        return spec;
    }
}
