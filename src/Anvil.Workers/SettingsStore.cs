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
/// <para>
/// With detectors configured (<see cref="DetectorSet"/>) each detector has its own: <c>detector-settings/&lt;detector&gt;</c>
/// for every acquisition of the detector, and <c>settings/&lt;A_D&gt;</c> for its stream of acquisition A. The settings of
/// a stream are its own newest version, else its detector's, else the detector's configured ones (version 0); the
/// configuration-wide <c>control/settings</c> is then not read (a change for every detector is stored per detector).
/// </para>
/// </summary>
public sealed class SettingsStore(BrokerClient broker, PipelineOptions options, DetectorSet detectors)
{
    /// <summary>Data source of per-acquisition settings streams.</summary>
    public const string PerAcquisitionSource = "settings";

    /// <summary>Data source of per-detector settings streams (stream = detector name).</summary>
    public const string PerDetectorSource = "detector-settings";

    /// <summary>The control stream of settings for every acquisition.</summary>
    public const string GlobalStream = "settings";

    private readonly VersionedSettings defaults = new(0, string.Empty, options.IntegrationDefaults());

    /// <summary>The configured defaults (version 0).</summary>
    public VersionedSettings Defaults => defaults;

    /// <summary>The configured detectors.</summary>
    public DetectorSet Detectors => detectors;

    /// <summary>The configured settings (version 0) of <paramref name="acquisition"/>'s stream: its detector's, or the pipeline's.</summary>
    public VersionedSettings DefaultsOf(string acquisition) =>
        detectors.Parse(acquisition) is { } run ? new VersionedSettings(0, string.Empty, run.Detector.Settings, run.Detector.Name) : defaults;

    /// <summary>The settings in force for <paramref name="acquisition"/> ("" = for new acquisitions; with detectors, a detector's stream <c>A_D</c>).</summary>
    public async Task<VersionedSettings> CurrentAsync(string acquisition, CancellationToken cancellationToken)
    {
        var run = acquisition.Length > 0 ? detectors.Parse(acquisition) : null;
        if (acquisition.Length > 0 && await broker.GetLastAsync(broker.Address(PerAcquisitionSource, acquisition), cancellationToken) is { } own)
        {
            return Read(own, acquisition, run?.Detector.Name ?? string.Empty);
        }

        if (run is { } r)
        {
            return await CurrentAsync(r.Detector, cancellationToken);
        }

        return await broker.GetLastAsync(broker.Address(PipelineStreams.Control, GlobalStream), cancellationToken) is { } global
            ? Read(global, string.Empty, string.Empty)
            : defaults;
    }

    /// <summary>The settings in force for new acquisitions of <paramref name="detector"/>.</summary>
    public async Task<VersionedSettings> CurrentAsync(Detector detector, CancellationToken cancellationToken) =>
        await broker.GetLastAsync(broker.Address(PerDetectorSource, detector.Name), cancellationToken) is { } stored
            ? Read(stored, string.Empty, detector.Name)
            : new VersionedSettings(0, string.Empty, detector.Settings, detector.Name);

    /// <summary>
    /// Stores a new version for <paramref name="acquisition"/> ("" = every acquisition; of <paramref name="detector"/> when
    /// one is given) and returns it with its version.
    /// </summary>
    public async Task<VersionedSettings> PublishAsync(IntegrationSettings settings, string acquisition, CancellationToken cancellationToken, Detector? detector = null)
    {
        var address = acquisition.Length > 0 ? broker.Address(PerAcquisitionSource, acquisition)
            : detector is not null ? broker.Address(PerDetectorSource, detector.Name)
            : broker.Address(PipelineStreams.Control, GlobalStream);
        var reply = await broker.SendAsync(new SendRequest
        {
            Address = address,
            SourceType = SourceType.Processed,
            AutoId = true,
            Name = acquisition.Length > 0 ? $"{acquisition}/settings" : detector is not null ? $"{detector.Name}/settings" : "settings",
            Meta = settings.ToJson(),
        }, cancellationToken);
        return new VersionedSettings(reply.Id, acquisition, settings, detector?.Name ?? detectors.Parse(acquisition)?.Detector.Name ?? string.Empty);
    }

    private static VersionedSettings Read(MessageRecord record, string scope, string detector) => new(record.Id, scope, IntegrationSettings.FromJson(record.Meta), detector);
}
