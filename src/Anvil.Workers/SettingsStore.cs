using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Integration;
using Anvil.Pipeline;

namespace Anvil.Workers;

/// <summary>
/// Integration settings versions kept in the broker, so every replica of every stage sees the same ones and they
/// survive restarts: <c>control/settings</c> holds the versions for every acquisition, <c>settings/&lt;acquisition&gt;</c>
/// those for one acquisition (a reprocessing, or an operator's change to one run). Each version is a message
/// (id = version) whose meta is the settings' canonical JSON (<see cref="IntegrationSettings.ToJson"/>). The newest
/// version wins; with none stored, version 0 is the pipeline configuration's.
/// </summary>
public sealed class SettingsStore(BrokerClient broker, PipelineOptions options)
{
    /// <summary>Data source of per-acquisition settings streams.</summary>
    public const string PerAcquisitionSource = "settings";

    /// <summary>The control stream of settings for every acquisition.</summary>
    public const string GlobalStream = "settings";

    private readonly VersionedSettings defaults = new(0, string.Empty, options.IntegrationDefaults());

    /// <summary>The configured defaults (version 0).</summary>
    public VersionedSettings Defaults => defaults;

    /// <summary>The settings in force for <paramref name="acquisition"/> ("" = for new acquisitions).</summary>
    public async Task<VersionedSettings> CurrentAsync(string acquisition, CancellationToken cancellationToken)
    {
        if (acquisition.Length > 0 && await broker.GetLastAsync(broker.Address(PerAcquisitionSource, acquisition), cancellationToken) is { } own)
        {
            return Read(own, acquisition);
        }

        return await broker.GetLastAsync(broker.Address(PipelineStreams.Control, GlobalStream), cancellationToken) is { } global
            ? Read(global, string.Empty)
            : defaults;
    }

    /// <summary>Stores a new version for <paramref name="acquisition"/> ("" = every acquisition) and returns it with its version.</summary>
    public async Task<VersionedSettings> PublishAsync(IntegrationSettings settings, string acquisition, CancellationToken cancellationToken)
    {
        var address = acquisition.Length == 0
            ? broker.Address(PipelineStreams.Control, GlobalStream)
            : broker.Address(PerAcquisitionSource, acquisition);
        var reply = await broker.SendAsync(new SendRequest
        {
            Address = address,
            SourceType = SourceType.Processed,
            AutoId = true,
            Name = acquisition.Length == 0 ? "settings" : $"{acquisition}/settings",
            Meta = settings.ToJson(),
        }, cancellationToken);
        return new VersionedSettings(reply.Id, acquisition, settings);
    }

    private static VersionedSettings Read(MessageRecord record, string scope) => new(record.Id, scope, IntegrationSettings.FromJson(record.Meta));
}
