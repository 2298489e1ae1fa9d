using System.Globalization;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;
using Anvil.Workers;

namespace Anvil.Pressure.Tests;

/// <summary>
/// Merge's online stage (<see cref="OnlinePressure"/> fed through the pipeline's own <see cref="ResultFileWriter"/>, as
/// MergeWorker does): profiles arrive out of order with failed frames among them, the pressure settings travel inside the
/// integration settings JSON of each profile, and the file gets <c>/processed/pressure</c> written by the same writer as
/// <c>anvil pressure</c> — checked number for number against the command on the same profiles.
/// </summary>
public sealed class OnlinePressureTests : IDisposable
{
    private const int Frames = 120;
    private static readonly int[] FailedFrames = [10, 11, 57];
    private readonly string dir = Directory.CreateTempSubdirectory("anvil-online-pressure-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static double Truth(long frame) => 5 + (0.25 * (frame - 1));

    [Fact]
    public void Online_OutOfOrderWithFailedFrames_SameNumbersAsTheCommand()
    {
        var poni = Poni();
        var settings = Settings(poni, new PressureSettings { Marker = "Au", Reflection = "111", FramePeriod = 0.05 });
        var online = Merge("online.nxs", _ => settings, withPressure: true);
        var plain = Merge("plain.nxs", _ => settings, withPressure: false);
        var offline = PressureResultFile.Run(new PressureRequest
        {
            Input = plain,
            Marker = Markers.Get("Au"),
            Reflection = new Hkl(1, 1, 1),
            Scale = Markers.Get("Au").DefaultScale,
            FramePeriod = 0.05,
        });

        using var a = Hdf5File.OpenRead(online);
        using var b = Hdf5File.OpenRead(offline.Output);
        const string g = "/processed/pressure";
        foreach (var name in new[] { "pressure", "pressure_error", "d_spacing", "d_error", "position", "fwhm", "amplitude", "volume", "frame_time" })
        {
            Assert.Equal(b.ReadDataset<double>($"{g}/{name}"), a.ReadDataset<double>($"{g}/{name}"));
        }

        Assert.Equal(b.ReadDataset<byte>(g + "/ok"), a.ReadDataset<byte>(g + "/ok"));
        Assert.Equal(b.GetAttributeString(g, "settings_hash"), a.GetAttributeString(g, "settings_hash"));
        Assert.Equal(b.ReadString(g + "/settings"), a.ReadString(g + "/settings"));
        foreach (var attribute in new[] { "marker", "hkl", "eos" })
        {
            Assert.Equal(b.GetAttributeString(g, attribute), a.GetAttributeString(g, attribute));
        }

        Assert.Equal(167.0, a.GetAttributeDouble(g, "K0"));
        Assert.Equal("anvil merge (online)", a.GetAttributeString(g, "program"));

        var p = a.ReadDataset<double>(g + "/pressure");
        var pe = a.ReadDataset<double>(g + "/pressure_error");
        var reason = a.ReadStrings(g + "/reason");
        for (var f = 1; f <= Frames; f++)
        {
            if (FailedFrames.Contains(f))
            {
                Assert.True(double.IsNaN(p[f - 1]));
                Assert.Contains("failed upstream", reason[f - 1]);
            }
            else
            {
                Assert.True(Math.Abs(p[f - 1] - Truth(f)) < 4 * pe[f - 1], $"frame {f}: {p[f - 1]} ± {pe[f - 1]} vs {Truth(f)}");
            }
        }

        // DIOPTAS's objects are what merge writes without the stage.
        using var c = Hdf5File.OpenRead(plain);
        Assert.Equal(c.ReadDataset<float>("/processed/result/data"), a.ReadDataset<float>("/processed/result/data"));
        Assert.Equal(c.ReadDataset<long>("/processed/process/pos_map"), a.ReadDataset<long>("/processed/process/pos_map"));
        Assert.Equal("processed", a.GetAttributeString("/", "default"));
        Assert.Equal("result", a.GetAttributeString("/processed", "default"));
    }

    [Fact]
    public void Online_SnapshotWhileRunning_ReadsAsTheGroupItWillWrite()
    {
        var settings = Settings(Poni(), new PressureSettings { Marker = "Au", Reflection = "111", FramePeriod = 0.05 });
        var sim = new SimpleAuProfiles(7, 1000);
        var stage = new OnlinePressure(dir);
        Assert.Null(stage.Snapshot());

        // Frames 1..40 and 45..60 arrived: the snapshot holds the 40 tracked in order (41..44 not yet).
        foreach (var f in Enumerable.Range(1, 60).Where(f => f is <= 40 or >= 45))
        {
            stage.Add(Frame(sim, f, settings, FailedFrames.Contains(f)));
        }

        var live = stage.Snapshot()!;
        Assert.Equal(Enumerable.Range(1, 40).Select(f => (long)f), live.Frame);

        using (var writer = ResultFileWriter.Create(Path.Combine(dir, "snap.nxs")))
        {
            foreach (var f in Enumerable.Range(1, 60))
            {
                writer.Write(Frame(sim, f, settings, FailedFrames.Contains(f)));
            }

            stage.Add(Frame(sim, 41, settings, false));
            writer.Complete(60, new ResultMetadata(Path.Combine(dir, "sim.poni"), "bbox", "2th_deg", SimpleAuProfiles.Bins), (file, n) =>
            {
                foreach (var f in new[] { 42, 43, 44 })
                {
                    stage.Add(Frame(sim, f, settings, false));
                }

                stage.WriteGroups(file, n);
            });
        }

        using var nxs = Hdf5File.OpenRead(Path.Combine(dir, "snap.nxs"));
        var written = PressureGroup.Read(nxs)!;
        Assert.Equal(written.Pressure.Take(40), live.Pressure);
        Assert.Equal(written.PressureError.Take(40), live.PressureError);
        Assert.Equal(written.Position.Take(40), live.Position);
        Assert.Equal(written.Time.Take(40), live.Time);
        Assert.Equal(written.Ok.Take(40), live.Ok);
        Assert.Equal(written.Reason.Take(40), live.Reason);
        Assert.Equal((written.Marker, written.Hkl, written.Eos, written.SettingsHash, written.Program, written.TimeSource),
            (live.Marker, live.Hkl, live.Eos, live.SettingsHash, live.Program, live.TimeSource));
        Assert.Equal(0, live.Ok[9]); // frame 10 failed upstream: flagged in the snapshot as in the file
        Assert.True(live.Ok.Count(o => o == 1) >= 35);
    }

    [Fact]
    public void Online_FrameTime_FromTheLambdaFilesCountAndDelayTime()
    {
        // The first m1 chunk file, written as the detector does (count_time 50 ms), relative to the data root as profiles name it.
        var raw = Path.Combine(dir, "sim_00001_m1_part00000.nxs");
        using (var lambda = LambdaModuleWriter.Create(raw, 4, 4, 0, 0, new LambdaWriterOptions { CountTimeMilliseconds = 50 }))
        {
            lambda.AppendFrame(new short[16], 1);
        }

        var settings = Settings(Poni(), new PressureSettings { Marker = "Au", Reflection = "111", FramePeriod = 7 });
        var path = Merge("timed.nxs", _ => settings, withPressure: true, frames: 20);
        using var file = Hdf5File.OpenRead(path);
        var t = file.ReadDataset<double>("/processed/pressure/frame_time");
        Assert.Equal(Enumerable.Range(0, 20).Select(i => 0.05 * i), t, (x, y) => Math.Abs(x - y) < 1e-12);
        Assert.Contains("count_time 50 ms + delay_time 0 ms", file.GetAttributeString("/processed/pressure/frame_time", "source"));
    }

    [Fact]
    public void Online_SettingsChangeMidRun_NewTrackAndEarlierOneKept()
    {
        var poni = Poni();
        var first = Settings(poni, new PressureSettings { Marker = "Au", Reflection = "111" });
        var second = Settings(poni, new PressureSettings { Marker = "Au", Reflection = "200" });
        var path = Merge("changed.nxs", f => f <= 60 ? first : second, withPressure: true);
        using var file = Hdf5File.OpenRead(path);
        Assert.Equal("200", file.GetAttributeString("/processed/pressure", "hkl"));
        Assert.Equal("111", file.GetAttributeString("/processed/pressure_2", "hkl"));
        var latest = file.ReadDataset<double>("/processed/pressure/pressure");
        var earlier = file.ReadDataset<double>("/processed/pressure_2/pressure");
        var latestError = file.ReadDataset<double>("/processed/pressure/pressure_error");
        var earlierError = file.ReadDataset<double>("/processed/pressure_2/pressure_error");
        for (var f = 1; f <= Frames; f++)
        {
            var (p, e, other) = f <= 60 ? (earlier[f - 1], earlierError[f - 1], latest[f - 1]) : (latest[f - 1], latestError[f - 1], earlier[f - 1]);
            Assert.True(double.IsNaN(other), $"frame {f} has a number in the other track");
            if (!FailedFrames.Contains(f))
            {
                Assert.True(Math.Abs(p - Truth(f)) < 4 * e, $"frame {f}: {p} ± {e} vs {Truth(f)}");
            }
        }

        Assert.Contains("other pressure settings", file.ReadStrings("/processed/pressure/reason")[0]);
    }

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "no wavelength", "no wavelength" },
        { "reflection outside the radial range", "outside the radial range" },
        { "window with no peak", "" }, // lost for several reasons (too little intensity, centre outside the window): any, never a number
        { "K0 below zero", "K0 must be a positive" },
        { "V0 zero", "V0 must be a positive" },
        { "forbidden reflection", "forbidden" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Online_BadInput_FlagsEveryFrameAndGivesNoNumber(string why, string reasonText)
    {
        var poni = why == "no wavelength" ? Path.Combine(dir, "absent.poni") : Poni();
        var pressure = why switch
        {
            "reflection outside the radial range" => new PressureSettings { Marker = "Au", Reflection = "222" },
            "window with no peak" => new PressureSettings { Marker = "Au", Reflection = "111", WindowLo = 7.80, WindowHi = 7.95 },
            "K0 below zero" => new PressureSettings { Marker = "mine", Lattice = "fcc", V0 = 67.85, K0 = -3, K0Prime = 6, Reflection = "111" },
            "V0 zero" => new PressureSettings { Marker = "mine", Lattice = "fcc", V0 = 0, K0 = 167, K0Prime = 6, Reflection = "111" },
            "forbidden reflection" => new PressureSettings { Marker = "Au", Reflection = "100" },
            _ => new PressureSettings { Marker = "Au", Reflection = "111" },
        };

        // The settings model refuses what it can see without the data (a change through anvil settings never gets this far).
        if (why is "K0 below zero" or "V0 zero" or "forbidden reflection")
        {
            var errors = new IntegrationSettings { Poni = poni, Pressure = pressure }.Validate();
            Assert.Contains(errors, e => e.Field == "pressure" && e.Message.Contains(reasonText, StringComparison.Ordinal));
        }

        var path = Merge("bad.nxs", _ => Settings(poni, pressure), withPressure: true, frames: 30);
        using var file = Hdf5File.OpenRead(path);
        Assert.All(file.ReadDataset<double>("/processed/pressure/pressure"), v => Assert.True(double.IsNaN(v)));
        Assert.All(file.ReadDataset<byte>("/processed/pressure/ok"), v => Assert.Equal(0, v));
        var reasons = file.ReadStrings("/processed/pressure/reason");
        Assert.All(reasons.Where((_, i) => !FailedFrames.Contains(i + 1)), r => Assert.Contains(reasonText, r, StringComparison.Ordinal));
        Assert.All(reasons, r => Assert.NotEmpty(r));

        // The integration result is complete regardless.
        Assert.Equal(30, file.GetDatasetInfo("/processed/result/data").Shape[0]);
    }

    [Fact]
    public void Online_NoPressureSettings_NoGroup()
    {
        var path = Merge("none.nxs", _ => new IntegrationSettings { Poni = Poni() }.ToJson(), withPressure: true, frames: 10);
        using var file = Hdf5File.OpenRead(path);
        Assert.False(file.Exists("/processed/pressure"));
    }

    [Fact]
    public void Online_ProfilesMissingBeyondTheBuffer_AreFlaggedAndTrackingGoesOn()
    {
        var settings = Settings(Poni(), new PressureSettings { Marker = "Au", Reflection = "111" });
        var sim = new SimpleAuProfiles(3, 1000);
        var stage = new OnlinePressure(dir);
        var frames = OnlinePressure.MaxPending + 40;
        using (var writer = ResultFileWriter.Create(Path.Combine(dir, "gap.nxs")))
        {
            for (long f = 1; f <= frames; f++)
            {
                if (f == 5)
                {
                    continue; // never comes
                }

                var result = Frame(sim, f, settings, failed: false);
                writer.Write(result);
                stage.Add(result);
            }

            Assert.True(stage.Processed >= frames - 1, $"only {stage.Processed} frames processed while frame 5 was missing");
            var path = writer.Complete(frames, new ResultMetadata(Poni(), "bbox", "2th_deg", SimpleAuProfiles.Bins), stage.WriteGroups);
            using var file = Hdf5File.OpenRead(path);
            var ok = file.ReadDataset<byte>("/processed/pressure/ok");
            Assert.Equal(0, ok[4]);
            Assert.Contains("had not arrived", file.ReadStrings("/processed/pressure/reason")[4]);
            Assert.Equal(frames - 1, ok.Count(v => v == 1));
        }
    }

    [Fact]
    public void PressureSettings_TravelInTheSettingsModel()
    {
        var pressure = new PressureSettings { Marker = "Pt", Reflection = "200", WindowLo = 8.1, WindowHi = 8.5, Eos = "bm3", FramePeriod = 0.01 };
        var settings = new IntegrationSettings { Poni = Poni(), Pressure = pressure };
        Assert.Equal(settings, IntegrationSettings.FromJson(settings.ToJson()));
        Assert.Equal(pressure, PressureSettings.FromJson(pressure.ToJson()));
        Assert.Equal(pressure with { FramePeriod = null }, PressureSettings.ParseSpec("Pt 200 8.1:8.5 bm3"));
        Assert.Equal("Pt 200 8.1:8.5 bm3", pressure.ToSpec());

        // Without pressure, the JSON and the hash are those of before the stage existed.
        var plain = new IntegrationSettings { Poni = Poni() };
        Assert.DoesNotContain("\"pressure\"", plain.ToJson(), StringComparison.Ordinal);
        var geometry = new Geometry(0.4, 0.05, 0.05, 0, 0, 0, 2.9e-11, 55e-6, 55e-6);
        Assert.NotEqual(plain.ComputeHash(geometry, []), settings.ComputeHash(geometry, []));
        Assert.Equal(plain.ComputeHash(geometry, []), (settings with { Pressure = null }).ComputeHash(geometry, []));

        // The wire form (Control.UpdateSettings) and its messages.
        var changed = plain.Apply(new Anvil.Pipeline.V1.UpdateSettingsRequest { Pressure = "Au 111" }, dir);
        Assert.Equal(new PressureSettings { Marker = "Au", Reflection = "111" }, changed.Pressure);
        Assert.Null(changed.Apply(new Anvil.Pipeline.V1.UpdateSettingsRequest { Pressure = "off" }, dir).Pressure);
        Assert.Equal(changed, changed.ToMessage().ToSettings() with { Poni = changed.Poni });
        var ex = Assert.Throws<SettingsException>(() => plain.Apply(new Anvil.Pipeline.V1.UpdateSettingsRequest { Pressure = "Au 100" }, dir));
        Assert.Contains(ex.Errors, e => e.Field == "pressure" && e.Message.Contains("forbidden", StringComparison.Ordinal));
        ex = Assert.Throws<SettingsException>(() => plain.Apply(new Anvil.Pipeline.V1.UpdateSettingsRequest { Pressure = "Unobtainium 111" }, dir));
        Assert.Contains(ex.Errors, e => e.Field == "pressure" && e.Message.Contains("unknown marker", StringComparison.Ordinal));
    }

    [Fact]
    public void PipelineConfiguration_PressureSectionAndFlag()
    {
        var config = Path.Combine(dir, "pipeline.json");
        File.WriteAllText(config, """
            { "Pipeline": { "DataRoot": ".", "Poni": "x.poni",
              "Pressure": { "Marker": "Au", "Reflection": "111", "WindowLo": 7.0, "WindowHi": 7.4, "Eos": "bm3" } } }
            """);
        var loaded = Anvil.Cli.PipelineConfig.Load(config);
        Assert.Equal("Au", loaded.Values["Pressure:Marker"]);
        Assert.Equal(new PressureSettings { Marker = "Au", Reflection = "111", WindowLo = 7.0, WindowHi = 7.4, Eos = "bm3" }, loaded.Options.IntegrationDefaults().Pressure);

        loaded.OverridePressure("off");
        Assert.Null(loaded.Options.IntegrationDefaults().Pressure);
        loaded.OverridePressure("Pt 200");
        Assert.Equal(new PressureSettings { Marker = "Pt", Reflection = "200" }, loaded.Options.IntegrationDefaults().Pressure);
        Assert.Throws<Anvil.Cli.UsageException>(() => loaded.OverridePressure("Au"));
    }

    private string Poni()
    {
        var path = Path.Combine(dir, "sim.poni");
        File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture,
            $"poni_version: 2\nDetector: Detector\nDetector_config: {{\"pixel1\": 5.5e-05, \"pixel2\": 5.5e-05, \"max_shape\": null}}\nDistance: 0.4\nPoni1: 0.05\nPoni2: 0.05\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: {SimpleAuProfiles.Wavelength * 1e-10:R}\n"));
        return path;
    }

    private static string Settings(string poni, PressureSettings pressure) => new IntegrationSettings { Poni = poni, Pressure = pressure }.ToJson();

    // Merge as MergeWorker does it: each profile to the writer and (withPressure) the stage; the order two integrate
    // replicas give (blocks of 8 frames, each block's two halves swapped), failed frames without a profile.
    private string Merge(string name, Func<long, string> settingsOf, bool withPressure, int frames = Frames)
    {
        var sim = new SimpleAuProfiles(7, 1000);
        var results = Enumerable.Range(1, frames).Select(f => Frame(sim, f, settingsOf(f), FailedFrames.Contains(f))).ToList();
        var order = results.Chunk(8).SelectMany(block => block.Skip(4).Concat(block.Take(4))).ToList();
        var stage = new OnlinePressure(dir);
        using var writer = ResultFileWriter.Create(Path.Combine(dir, name));
        foreach (var result in order)
        {
            writer.Write(result);
            if (withPressure)
            {
                stage.Add(result);
                stage.Add(result); // a redelivery changes nothing
            }
        }

        return writer.Complete(frames, new ResultMetadata(Path.Combine(dir, "sim.poni"), "bbox", "2th_deg", SimpleAuProfiles.Bins), withPressure ? stage.WriteGroups : null);
    }

    private FrameResult Frame(SimpleAuProfiles sim, long f, string settings, bool failed)
    {
        var file = (int)((f - 1) / 10);
        var m1 = $"sim_00001_m1_part{file:D5}.nxs";
        if (failed)
        {
            return new FrameResult(f, file, (int)((f - 1) % 10), m1, "h", settings, null, null, "chunk unreadable");
        }

        var (y, s) = sim.Profile(Truth(f));
        var row = new CurveRow(sim.Radial, y.Select(v => (float)v).ToArray(), s.Select(v => (float)v).ToArray(), Enumerable.Repeat(1f, y.Length).ToArray());
        return new FrameResult(f, file, (int)((f - 1) % 10), m1, "h", settings, row, null);
    }
}
