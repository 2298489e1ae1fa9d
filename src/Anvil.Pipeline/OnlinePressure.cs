using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pressure;

namespace Anvil.Pipeline;

/// <summary>
/// Merge's online pressure stage: every profile merge receives is also handed here, and the marker reflection is
/// fitted and read as soon as the frames before it have arrived (frames are tracked in order, since each window is
/// seeded from the frames before; a small reorder buffer absorbs the two integrate replicas' interleaving). The settings
/// come with each profile (<see cref="IntegrationSettings.Pressure"/>, versioned with the integration settings); a frame
/// whose pressure settings or radial axis differ from the frame before starts a new track. When the result is completed,
/// <see cref="WriteGroups"/> writes the track of the newest frames as <c>/processed/pressure</c> and earlier ones as
/// <c>/processed/pressure_2</c>, … — the layout and the writer <c>anvil pressure</c> uses (<see cref="PressureGroup"/>).
/// A stage that cannot work (no wavelength in the PONI, reflection outside the radial range, a card that does not load)
/// flags every frame with the reason; it never stops the merge.
/// </summary>
public sealed class OnlinePressure
{
    /// <summary>Frames held while waiting for an earlier one; beyond this the missing frame is flagged and tracking goes on.</summary>
    public const int MaxPending = 512;

    private readonly FrameTimes times;
    private readonly Dictionary<long, FrameResult> pending = [];
    private readonly Dictionary<string, IntegrationSettings?> settingsByJson = new(StringComparer.Ordinal);
    private readonly List<Track> tracks = [];
    private readonly Dictionary<long, string> untracked = [];
    private long next = 1;

    /// <param name="times">The result's frame times (merge shares one with the result's time axis).</param>
    public OnlinePressure(FrameTimes times) => this.times = times;

    /// <param name="dataRoot">Where the raw files the profiles name (<see cref="FrameResult.M1File"/>) are, for the frame period.</param>
    public OnlinePressure(string dataRoot)
        : this(new FrameTimes(dataRoot))
    {
    }

    /// <summary>Frames given a pressure so far (all tracks).</summary>
    public int Good => tracks.Sum(t => t.Rows.Values.Count(r => r.Ok));

    /// <summary>Frames processed so far (in order).</summary>
    public long Processed => next - 1;

    /// <summary>The newest reading, for logs and status: (frame, pressure, error) or null.</summary>
    public FramePressure? Latest { get; private set; }

    /// <summary>
    /// The newest track so far, frames 1..<see cref="Processed"/>, as the group it will be written as reads back (the
    /// console's P–t plot while the acquisition runs); null before any frame asked for a pressure.
    /// </summary>
    public PressureSeries? Snapshot() => tracks.Count == 0 ? null : PressureGroup.Series(tracks[^1].Table((int)(next - 1), untracked, times));

    /// <summary>Takes one frame's result (a redelivered or late frame, already passed, is ignored).</summary>
    public void Add(FrameResult result)
    {
        if (result.Frame < next)
        {
            return;
        }

        pending[result.Frame] = result;
        Drain();
        if (pending.Count > MaxPending)
        {
            // A frame that has not come while MaxPending later ones did: flagged, and the track goes on.
            var first = pending.Keys.Min();
            for (; next < first; next++)
            {
                Missing(next, $"frame had not arrived when {MaxPending} later frames had; tracked without it");
            }

            Drain();
        }
    }

    /// <summary>
    /// Finishes frames 1..<paramref name="frames"/> (those still missing are flagged) and writes one group per track into
    /// <paramref name="file"/>; nothing when no frame asked for a pressure.
    /// </summary>
    public void WriteGroups(Hdf5File file, int frames)
    {
        while (next <= frames || pending.Count > 0)
        {
            if (pending.Remove(next, out var result))
            {
                Process(result);
            }
            else
            {
                Missing(next, "frame never arrived");
            }

            next++;
        }

        if (tracks.Count == 0)
        {
            return;
        }

        var n = (int)(next - 1);
        var name = 2;
        for (var i = tracks.Count - 1; i >= 0; i--)
        {
            var track = tracks[i];
            var group = i == tracks.Count - 1 ? PressureGroup.Path : $"{PressureGroup.Path}_{name++}";
            PressureGroup.Write(file, group, track.Table(n, untracked, times));
        }
    }

    private void Drain()
    {
        while (pending.Remove(next, out var result))
        {
            Process(result);
            next++;
        }
    }

    private void Process(FrameResult result)
    {
        var settings = Settings(result.SettingsJson);
        times.Observe(result);
        var time = times.TimeOf(result.Frame);
        if (result.TwoTheta is not { } curve || result.Error.Length > 0)
        {
            // A failed frame: its track (the current one) counts it, as anvil pressure counts a NaN row.
            Missing(result.Frame, result.Error.Length > 0 ? $"frame failed upstream: {result.Error}" : "frame has no profile");
            return;
        }

        if (settings?.Pressure is not { } pressure)
        {
            untracked[result.Frame] = "no pressure settings for this frame";
            return;
        }

        var radial = curve.Radial.Span;
        var current = tracks.Count > 0 ? tracks[^1] : null;
        if (current is null || !current.Matches(pressure, settings.Poni, radial))
        {
            current = new Track(pressure, settings.Poni, radial.ToArray());
            tracks.Add(current);
        }

        var y = new double[radial.Length];
        var s = new double[radial.Length];
        var intensity = curve.Intensity.Span;
        var sigma = curve.Sigma.Span;
        for (var b = 0; b < y.Length; b++)
        {
            y[b] = intensity[b];
            s[b] = b < sigma.Length ? sigma[b] : 0;
        }

        var row = current.Next(result.Frame, time, y, sigma.Length == y.Length ? s : default);
        if (row.Ok)
        {
            Latest = row;
        }
    }

    private void Missing(long frame, string reason)
    {
        if (tracks.Count > 0)
        {
            tracks[^1].Skip(frame, times.TimeOf(frame), reason);
        }
        else
        {
            untracked[frame] = reason;
        }
    }

    private IntegrationSettings? Settings(string json)
    {
        if (json.Length == 0)
        {
            return null;
        }

        if (!settingsByJson.TryGetValue(json, out var settings))
        {
            try
            {
                settings = IntegrationSettings.FromJson(json);
            }
            catch (FormatException)
            {
                settings = null;
            }

            settingsByJson[json] = settings;
        }

        return settings;
    }

    // The frames tracked under one pressure setting, calibration and radial axis.
    private sealed class Track
    {
        private readonly PressureSettings settings;
        private readonly string poni;
        private readonly double[] radial;
        private readonly PressureTrack? track;
        private readonly string problem = string.Empty;
        private readonly string wavelengthSource = string.Empty;
        private readonly string settingsJson;

        public Track(PressureSettings settings, string poni, double[] radial)
        {
            this.settings = settings;
            this.poni = poni;
            this.radial = radial;
            try
            {
                var setup = settings.Build();
                var (wavelength, source) = PressureResultFile.WavelengthFromCalibration(poni);
                wavelengthSource = source;
                track = new PressureTrack(new PressureGauge(setup.Marker, setup.Reflection, setup.Eos, wavelength), setup.Scale.Citation, setup.Window, 0.5, radial, setup.Tracker);
                settingsJson = track.SettingsJson(wavelength);
            }
            catch (Exception ex) when (ex is PressureInputException or ArgumentException or FormatException or IOException or UnauthorizedAccessException)
            {
                problem = $"pressure not computed: {ex.Message}";
                settingsJson = settings.ToJson();
            }
        }

        public Dictionary<long, FramePressure> Rows { get; } = [];

        public bool Matches(PressureSettings other, string otherPoni, ReadOnlySpan<double> otherRadial) =>
            other == settings && otherPoni == poni && otherRadial.SequenceEqual(radial);

        public FramePressure Next(long frame, double time, double[] y, ReadOnlySpan<double> sigma)
        {
            var row = track is null ? Flagged(frame, time, problem) : track.Next(frame, time, y, sigma);
            Rows[frame] = row;
            return row;
        }

        public void Skip(long frame, double time, string reason) =>
            Rows[frame] = track is null ? Flagged(frame, time, problem) : track.Skip(frame, time, reason);

        public PressureTable Table(int frames, Dictionary<long, string> untracked, FrameTimes times)
        {
            var rows = new FramePressure[frames];
            for (var f = 1; f <= frames; f++)
            {
                var time = times.TimeOf(f);
                rows[f - 1] = Rows.TryGetValue(f, out var row)
                    ? row
                    : Flagged(f, time, untracked.TryGetValue(f, out var reason) ? reason : "tracked under other pressure settings or another radial axis (the other /processed/pressure_k group)");
            }

            var timeSource = times.TimeSource;
            return new PressureTable(rows, track, settingsJson, PressureTrack.Hash(settingsJson), track is null ? "none" : wavelengthSource, timeSource, "anvil merge (online)", settings, problem);
        }

        private static FramePressure Flagged(long frame, double time, string reason) =>
            new(frame, time, MarkerFit.Failed(reason, double.NaN, double.NaN), null);
    }
}
