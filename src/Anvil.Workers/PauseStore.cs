using System.Text.Json;
using Anvil.Broker.Client;
using Anvil.Broker.V1;
using Anvil.Pipeline;
using Anvil.Pipeline.V1;
using Grpc.Core;

namespace Anvil.Workers;

/// <summary>
/// Whether automatic processing is paused, kept in the broker as <see cref="SettingsStore"/> keeps settings, so every
/// replica agrees and it survives restarts: <c>control/pause</c> holds the beamtime's state, <c>pause/&lt;acquisition&gt;</c>
/// one acquisition's. Each change is a message whose meta is <c>{"paused":true|false}</c>; the newest wins; with none
/// stored, nothing is paused. An acquisition is paused while the beamtime or the acquisition itself is. Stitch checks it
/// before and after each read of an acquisition's raw stream (<see cref="AcquisitionWorker"/>), so paused chunks wait in
/// the broker, unconsumed, and a resume processes them, each once.
/// </summary>
public sealed class PauseStore(BrokerClient broker)
{
    /// <summary>Data source of per-acquisition pause streams.</summary>
    public const string PerAcquisitionSource = "pause";

    /// <summary>The control stream of the beamtime's pause state.</summary>
    public const string BeamtimeStream = "pause";

    /// <summary>The state in force for <paramref name="acquisition"/> ("" = the beamtime).</summary>
    public async Task<PauseState> GetAsync(string acquisition, CancellationToken cancellationToken)
    {
        CheckName(acquisition);
        var beamtime = await ReadAsync(string.Empty, cancellationToken);
        var own = acquisition.Length > 0 && await ReadAsync(acquisition, cancellationToken);
        return State(acquisition, beamtime, own, changed: false);
    }

    /// <summary>True while the acquisition (or the beamtime) is paused.</summary>
    public async Task<bool> IsPausedAsync(string acquisition, CancellationToken cancellationToken) =>
        await ReadAsync(string.Empty, cancellationToken) || (acquisition.Length > 0 && await ReadAsync(acquisition, cancellationToken));

    /// <summary>Pauses (or resumes) an acquisition, or the beamtime for "". Repeating the current state changes nothing.</summary>
    public async Task<PauseState> SetAsync(string acquisition, bool paused, CancellationToken cancellationToken)
    {
        CheckName(acquisition);
        var current = await ReadAsync(acquisition, cancellationToken);
        var changed = current != paused;
        if (changed)
        {
            await broker.SendAsync(new SendRequest
            {
                Address = Address(acquisition),
                SourceType = SourceType.Processed,
                AutoId = true,
                Name = acquisition.Length == 0 ? "pause" : $"{acquisition}/pause",
                Meta = JsonSerializer.Serialize(new { paused }),
            }, cancellationToken);
        }

        var beamtime = acquisition.Length == 0 ? paused : await ReadAsync(string.Empty, cancellationToken);
        return State(acquisition, beamtime, acquisition.Length > 0 && paused, changed);
    }

    /// <summary>Waits while the acquisition is paused, checking every <paramref name="interval"/>.</summary>
    public async Task WaitWhilePausedAsync(string acquisition, TimeSpan interval, CancellationToken cancellationToken)
    {
        while (await IsPausedAsync(acquisition, cancellationToken))
        {
            await Task.Delay(interval, cancellationToken);
        }
    }

    private Address Address(string acquisition) => acquisition.Length == 0
        ? broker.Address(PipelineStreams.Control, BeamtimeStream)
        : broker.Address(PerAcquisitionSource, acquisition);

    private async Task<bool> ReadAsync(string acquisition, CancellationToken cancellationToken)
    {
        MessageRecord? last;
        try
        {
            last = await broker.GetLastAsync(Address(acquisition), cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            return false;
        }

        if (last is null)
        {
            return false;
        }

        using var json = JsonDocument.Parse(last.Meta);
        return json.RootElement.TryGetProperty("paused", out var p) && p.ValueKind == JsonValueKind.True;
    }

    private static void CheckName(string acquisition)
    {
        if (acquisition.Length > 0)
        {
            ChunkFileName.CheckAcquisition(acquisition);
        }
    }

    private static PauseState State(string acquisition, bool beamtime, bool own, bool changed)
    {
        var scope = acquisition.Length == 0 ? "the beamtime" : $"acquisition '{acquisition}'";
        var paused = beamtime || own;
        string message;
        if (acquisition.Length == 0)
        {
            message = beamtime
                ? "automatic processing is paused for every acquisition: new chunks wait in the broker until you resume."
                : "automatic processing runs for the beamtime (acquisitions paused on their own stay paused).";
        }
        else if (paused)
        {
            message = own
                ? $"{scope} is paused: its chunks wait in the broker until you resume it."
                : $"{scope} is paused because the whole beamtime is: resume the beamtime to process it.";
        }
        else
        {
            message = $"{scope} is processed automatically.";
        }

        return new PauseState
        {
            Acquisition = acquisition,
            BeamtimePaused = beamtime,
            AcquisitionPaused = own,
            Paused = paused,
            Changed = changed,
            Message = changed ? message : "no change: " + message,
        };
    }
}
