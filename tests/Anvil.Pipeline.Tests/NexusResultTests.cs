using System.Text.Json;
using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pressure;
using Anvil.Testing;

namespace Anvil.Pipeline.Tests;

/// <summary>
/// What issue 17 added to the result file: the time axis (the detector's sequence numbers × its frame period, one rule
/// for the result and the pressure stage), the detector's own metadata, beamtime and acquisition names, and the
/// NXazint1d entry checked against its definition (tests/fixtures/nexus) — with DIOPTAS's layout left as it was.
/// The raw files are the 50 real P02.2 frames; h5py reads the expected values from them independently.
/// </summary>
public sealed class NexusResultTests : IDisposable
{
    private const int Frames = 50;
    private static readonly string Poni = Path.Combine(TestPaths.LambdaFixtures, "L2.poni");
    private static readonly string Definition = Path.Combine(TestPaths.Fixtures, "nexus", "NXazint1d.nxdl.xml");
    private readonly string folder = Directory.CreateTempSubdirectory("anvil-nexus-").FullName;

    [Fact]
    public void Complete_RealLambdaFrames_TimeAxisFromTheDetectorsSequenceNumbersAndPeriodForResultAndPressureAlike()
    {
        // What the m1 files say, read by h5py: each frame's sequence number, count_time and delay_time (ms).
        using var source = JsonDocument.Parse(Python.Run("""
            import h5py, json, sys, glob
            out = []
            for p in sorted(glob.glob(sys.argv[1] + "/*_m1_part*.nxs")):
                d = h5py.File(p, "r")["entry/instrument/detector"]
                out += [{"seq": int(s), "count": float(d["count_time"][0]), "delay": float(d["collection/delay_time"][0])} for s in d["sequence_number"][()]]
            print(json.dumps(out))
            """, TestPaths.LambdaFixtures));
        var expected = source.RootElement.EnumerateArray()
            .Select(f => (f.GetProperty("seq").GetInt64() - 1) * (f.GetProperty("count").GetDouble() + f.GetProperty("delay").GetDouble()) / 1000).ToArray();
        Assert.Equal(Frames, expected.Length);
        Assert.Equal(Enumerable.Range(1, Frames).Select(f => (long)f), source.RootElement.EnumerateArray().Select(f => f.GetProperty("seq").GetInt64()));

        var settings = new IntegrationSettings { Poni = Poni, Npt = 5, Pressure = new PressureSettings { Marker = "Au", Reflection = "111" } };
        var times = new FrameTimes(TestPaths.LambdaFixtures);
        var pressure = new OnlinePressure(times);
        var path = Path.Combine(folder, "testasapo1_1009_00002.nxs");
        using (var writer = ResultFileWriter.Create(path))
        {
            foreach (var frame in Enumerable.Range(1, Frames).Reverse())
            {
                var result = RealFrame(frame, settings);
                times.Observe(result);
                writer.Write(result);
                pressure.Add(result);
            }

            writer.Complete(Frames, ResultMetadata.Of(settings) with { Beamtime = "11012345", Acquisition = "testasapo1_1009_00002", Times = times }, pressure.WriteGroups);
        }

        using var nxs = Hdf5File.OpenRead(path);
        var time = nxs.ReadDataset<double>("/processed/result/time");
        Assert.All(Enumerable.Range(0, Frames), f => Assert.Equal(expected[f], time[f], 1e-12));
        Assert.Equal(4.9, time[^1], 12);
        Assert.Equal("s", nxs.GetAttributeString("/processed/result/time", "units"));
        Assert.Contains("sequence_number", nxs.GetAttributeString("/processed/result/time", "source"), StringComparison.Ordinal);
        Assert.Contains("count_time 100 ms + delay_time 0 ms", nxs.GetAttributeString("/processed/result/time", "source"), StringComparison.Ordinal);
        Assert.Equal(time, nxs.ReadDataset<double>("/processed/pressure/frame_time"));
        Assert.Equal(nxs.GetAttributeString("/processed/result/time", "source"), nxs.GetAttributeString("/processed/pressure/frame_time", "source"));
        Assert.Equal(time, nxs.ReadDataset<double>(ResultFileWriter.Azint1dEntry + "/data/time"));
    }

    [Fact]
    public void Complete_RealLambdaFrames_DetectorMetadataBeamtimeAndAcquisitionAsTheFilesSay()
    {
        using var source = JsonDocument.Parse(Python.Run("""
            import h5py, json, sys
            f = h5py.File(sys.argv[1], "r"); d = f["entry/instrument/detector"]
            s = lambda k: d[k].asstr()[0]
            print(json.dumps({"description": s("description"), "sensor": s("sensor_material"), "threshold": float(d["threshold_energy"][0]),
                              "beam": float(d["collection/beam_energy"][0]), "count": float(d["count_time"][0]), "shutter": float(d["collection/shutter_time"][0]),
                              "mode": s("acquisition_mode"), "type": s("type"), "host": s("local_name"), "module": d["collection/module_id"].asstr()[0], "file_time": f.attrs["file_time"]}))
            """, Path.Combine(TestPaths.LambdaFixtures, "testasapo1_1009_00002_m1_part00000.nxs")));
        var want = source.RootElement;
        var settings = new IntegrationSettings { Poni = Poni, Npt = 5 };
        var path = Write("meta", settings, new ResultMetadata(Poni, "bbox", "2th_deg", 5)
        {
            Beamtime = "11012345",
            Acquisition = "testasapo1_1009_00002",
            Beamline = "P02.2",
            Facility = "PETRA III",
            Times = new FrameTimes(TestPaths.LambdaFixtures),
        }, frames: 10);

        using var nxs = Hdf5File.OpenRead(path);
        const string detector = "/processed/instrument/detector";
        Assert.Equal("NXdetector", nxs.GetAttributeString(detector, "NX_class"));
        Assert.Equal(want.GetProperty("description").GetString(), nxs.ReadString(detector + "/description"));
        Assert.Equal("Lambda", nxs.ReadString(detector + "/description"));
        Assert.Equal(want.GetProperty("sensor").GetString(), nxs.ReadString(detector + "/sensor_material"));
        Assert.Equal(want.GetProperty("threshold").GetDouble(), nxs.ReadScalar<double>(detector + "/threshold_energy"));
        Assert.Equal("eV", nxs.GetAttributeString(detector + "/threshold_energy", "units"));
        Assert.Equal(want.GetProperty("beam").GetDouble(), nxs.ReadScalar<double>(detector + "/collection/beam_energy"));
        Assert.Equal(want.GetProperty("count").GetDouble() / 1000, nxs.ReadScalar<double>(detector + "/count_time"));
        Assert.Equal(want.GetProperty("count").GetDouble() / 1000, nxs.ReadScalar<double>(detector + "/collection/exposure_time"));
        Assert.Equal(want.GetProperty("shutter").GetDouble() / 1000, nxs.ReadScalar<double>(detector + "/collection/shutter_time"));
        Assert.Equal(0.1, nxs.ReadScalar<double>(detector + "/frame_time"));
        Assert.Equal(want.GetProperty("mode").GetString(), nxs.ReadString(detector + "/acquisition_mode"));
        Assert.Equal(want.GetProperty("type").GetString(), nxs.ReadString(detector + "/type"));
        Assert.Equal(want.GetProperty("host").GetString(), nxs.ReadString(detector + "/local_name"));
        Assert.Equal(want.GetProperty("module").GetString(), nxs.ReadString(detector + "/collection/module_id"));
        Assert.Equal(want.GetProperty("file_time").GetString(), nxs.ReadString(detector + "/collection/file_time"));

        // The wavelength is the calibration's (the Lambda's beam_energy is only what the detector was told).
        var geometry = PoniFile.Load(Poni);
        Assert.Equal(geometry.Wavelength * 1e10, nxs.ReadScalar<double>("/processed/instrument/monochromator/wavelength"), 12);
        Assert.Equal(12.398419843320026 / (geometry.Wavelength * 1e10), nxs.ReadScalar<double>("/processed/instrument/monochromator/energy"), 9);
        Assert.Equal("P02.2", nxs.ReadString("/processed/instrument/name"));
        Assert.Equal("PETRA III", nxs.ReadString("/processed/instrument/source/name"));
        foreach (var entry in new[] { "/processed", ResultFileWriter.Azint1dEntry })
        {
            Assert.Equal("11012345", nxs.ReadString(entry + "/experiment_identifier"));
            Assert.Equal("testasapo1_1009_00002", nxs.ReadString(entry + "/entry_identifier"));
        }
    }

    [Theory]
    [InlineData(null, new[] { 0.0, 0.25, double.NaN, 0.75 }, "own timestamps")]
    [InlineData(0.1, new[] { 0.0, 0.25, double.NaN, 0.75 }, "own timestamps")]
    public void FrameTimes_FramesWithTheirOwnStamps_TakeThemRelativeToTheFirstAndAFrameWithoutOneHasNone(double? period, double[] expected, string source)
    {
        // Out of order, as merge gets them; frame 3 failed before its file was read (no stamp).
        var times = new FrameTimes(folder, period);
        foreach (var (frame, stamp) in new (long, double?)[] { (2, 1000.25), (1, 1000.0), (4, 1000.75), (3, null) })
        {
            times.Observe(new FrameResult(frame, 0, 0, "incoming/pe.tif", "h", "", null, null, Timestamp: stamp));
        }

        Assert.Equal(expected, Enumerable.Range(1, 4).Select(f => times.TimeOf(f)));
        Assert.Contains(source, times.TimeSource, StringComparison.Ordinal);
    }

    [Fact]
    public void FrameTimes_WholeSecondStamps_GiveWayToAConfiguredPeriod()
    {
        // A TIFF's DateTime has whole seconds: at 4 frames/s it would say 0, 0, 0, 0; the configured period is finer.
        var times = new FrameTimes(folder, configuredPeriod: 0.25);
        for (var f = 1; f <= 4; f++)
        {
            times.Observe(new FrameResult(f, 0, 0, "incoming/pe.tif", "h", "", null, null, Timestamp: 1000));
        }

        Assert.False(times.FromTimestamps);
        Assert.Equal([0, 0.25, 0.5, 0.75], Enumerable.Range(1, 4).Select(f => times.TimeOf(f)));
        Assert.Contains("configured frame period 0.25 s", times.TimeSource, StringComparison.Ordinal);

        // Without a configured period, whole seconds are still the best the detector said.
        var unconfigured = new FrameTimes(folder);
        unconfigured.Observe(new FrameResult(1, 0, 0, "incoming/pe.tif", "h", "", null, null, Timestamp: 1000));
        Assert.True(unconfigured.FromTimestamps);
        Assert.EndsWith("(whole seconds)", unconfigured.TimeSource, StringComparison.Ordinal);
    }

    [Fact]
    public void Complete_RawFilesUnreadable_TimeAxisFromTheConfiguredPeriodWithItsSource()
    {
        var settings = new IntegrationSettings { Poni = Poni, Npt = 5 };
        var path = Write("period", settings, ResultMetadata.Of(settings) with { Times = new FrameTimes(folder, configuredPeriod: 0.25) }, frames: 4, m1: "gone/m1_part00000.nxs");

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([0, 0.25, 0.5, 0.75], nxs.ReadDataset<double>("/processed/result/time"));
        Assert.Contains("configured frame period 0.25 s", nxs.GetAttributeString("/processed/result/time", "source"), StringComparison.Ordinal);
        Assert.False(nxs.Exists("/processed/instrument/detector/description"), "no metadata is invented without the detector's file");
    }

    [Theory]
    [InlineData("2th_deg")]
    [InlineData("q_A^-1")]
    [InlineData("q_nm^-1")]
    [InlineData("2th_rad")]
    [InlineData("d_A")]
    public void Complete_AnyUnit_Azint1dEntryMeetsTheDefinitionAndDioptasLayoutStays(string unit)
    {
        var settings = new IntegrationSettings { Poni = Poni, Npt = 6, Unit = RadialUnits.Parse(unit), PolarizationFactor = 0.99 };
        var path = Write(unit.Replace('^', '_'), settings, ResultMetadata.Of(settings) with
        {
            Beamtime = "11012345",
            Acquisition = "acq",
            Beamline = "P02.2",
            Facility = "PETRA III",
            Times = new FrameTimes(TestPaths.LambdaFixtures),
        }, frames: 12);

        var problems = NxdlCheck.Check(path, ResultFileWriter.Azint1dEntry, Definition);
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));

        using var nxs = Hdf5File.OpenRead(path);
        const string data = ResultFileWriter.Azint1dEntry + "/data";
        Assert.Equal("NXazint1d", nxs.ReadString(ResultFileWriter.Azint1dEntry + "/definition"));
        var requested = settings.Unit != RadialUnit.TwoThetaDeg;
        var from = requested ? "/processed/result_requested" : "/processed/result";
        Assert.Equal(nxs.ReadDataset<float>(from + "/data"), nxs.ReadDataset<float>(data + "/I"));
        Assert.Equal(from + "/data", nxs.GetAttributeString(data + "/I", "target"));
        var radial = nxs.ReadDataset<double>(data + "/radial_axis");
        if (settings.Unit == RadialUnit.DA)
        {
            // NXazint1d's axis is q or 2θ: q in Å⁻¹ with d beside it, d = 2π/q.
            var d = nxs.ReadDataset<double>(data + "/d_spacing");
            Assert.Equal(nxs.ReadDataset<double>(from + "/radial"), d);
            Assert.All(Enumerable.Range(0, d.Length), b => Assert.Equal(2 * Math.PI / d[b], radial[b], 12));
            Assert.Equal("1/angstrom", nxs.GetAttributeString(data + "/radial_axis", "units"));
            Assert.Equal("angstrom", nxs.GetAttributeString(data + "/d_spacing", "units"));
            Assert.Equal("d_A", nxs.GetAttributeString(data + "/d_spacing", "unit"));
        }
        else
        {
            Assert.Equal(nxs.ReadDataset<double>(from + (requested ? "/radial" : "/binning")), radial);
            Assert.Equal(settings.Unit.NexusUnits(), nxs.GetAttributeString(data + "/radial_axis", "units"));
        }

        Assert.Equal("0.99", nxs.ReadScalar<double>(ResultFileWriter.Azint1dEntry + "/reduction/input/polarization_factor").ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(unit, nxs.ReadString(ResultFileWriter.Azint1dEntry + "/reduction/input/unit"));
        Assert.Equal(1, nxs.ReadScalar<byte>(ResultFileWriter.Azint1dEntry + "/polarization_applied"));

        // DIOPTAS's layout (docs/science.md §5) as before: 2θ in degrees, evenly spaced, in binning; a scalar cal_file; the maps.
        Assert.Equal("processed", nxs.GetAttributeString("/", "default"));
        Assert.Equal("result", nxs.GetAttributeString("/processed", "default"));
        Assert.Equal("data", nxs.GetAttributeString("/processed/result", "signal"));
        Assert.Equal([".", "binning"], nxs.GetAttributeStrings("/processed/result", "axes"));
        Assert.Equal("deg", nxs.GetAttributeString("/processed/result/binning", "unit"));
        Assert.Equal(TwoTheta(6), nxs.ReadDataset<double>("/processed/result/binning"));
        Assert.Equal([12L, 6], nxs.GetDatasetInfo("/processed/result/data").Shape);
        Assert.Empty(nxs.GetDatasetInfo("/processed/process/cal_file").Shape);
        Assert.Equal(Poni, nxs.ReadString("/processed/process/cal_file"));
        Assert.Equal([0L, 10, 12], nxs.ReadDataset<long>("/processed/process/file_map"));
        Assert.Equal([12L, 2], nxs.GetDatasetInfo("/processed/process/pos_map").Shape);
    }

    [Fact]
    public void NxdlCheck_EntryMissingRequiredFieldsOrWithWrongUnits_NamesEachProblem()
    {
        var settings = new IntegrationSettings { Poni = Poni, Npt = 6, Unit = RadialUnit.QA };
        var path = Write("broken", settings, ResultMetadata.Of(settings), frames: 3);
        using (var nxs = Hdf5File.OpenReadWrite(path))
        {
            nxs.Delete(ResultFileWriter.Azint1dEntry + "/definition");
            nxs.Delete(ResultFileWriter.Azint1dEntry + "/instrument/monochromator/energy");
            nxs.SetAttribute(ResultFileWriter.Azint1dEntry + "/data/radial_axis", "units", "furlong");
            nxs.SetAttribute(ResultFileWriter.Azint1dEntry + "/data", "signal", "data");
        }

        var problems = NxdlCheck.Check(path, ResultFileWriter.Azint1dEntry, Definition);
        var all = string.Join(Environment.NewLine, problems);
        Assert.True(problems.Count == 4, all);
        Assert.Contains(problems, p => p.Contains("/azint1d/definition: required field missing", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("monochromator/energy: required field missing", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("radial_axis@units: 'furlong'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("/azint1d/data@signal: 'data' is none of I", StringComparison.Ordinal));
        Assert.Equal(4, problems.Count);
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static double[] TwoTheta(int npt) => Enumerable.Range(0, npt).Select(i => 5 + (0.25 * i)).ToArray();

    // Frame f of the real files: part (f − 1) / 10, index (f − 1) % 10, named relative to the data root as stitch names it.
    private static FrameResult RealFrame(int frame, IntegrationSettings settings, string? m1 = null)
    {
        var part = (frame - 1) / 10;
        var random = new Random(frame);
        var tth = TwoTheta(settings.Npt);
        var intensity = tth.Select(_ => (float)(100 + random.NextDouble())).ToArray();
        var sigma = intensity.Select(v => MathF.Sqrt(v)).ToArray();
        CurveRow? requested = null;
        if (settings.Unit != RadialUnit.TwoThetaDeg)
        {
            var lambda = PoniFile.Load(settings.Poni).Wavelength * 1e10;
            var q = tth.Select(t => 4 * Math.PI * Math.Sin(t * Math.PI / 360) / lambda).ToArray();
            var axis = settings.Unit switch
            {
                RadialUnit.QA => q,
                RadialUnit.QNm => q.Select(v => v * 10).ToArray(),
                RadialUnit.DA => q.Select(v => 2 * Math.PI / v).ToArray(),
                _ => tth.Select(t => t * Math.PI / 180).ToArray(),
            };
            requested = new CurveRow(axis, intensity, sigma, intensity);
        }

        var json = settings.ToJson();
        return new FrameResult(frame, part, (frame - 1) % 10, m1 ?? $"testasapo1_1009_00002_m1_part{part:D5}.nxs", "h" + json.Length, json,
            new CurveRow(tth, intensity, sigma, intensity), requested);
    }

    private string Write(string name, IntegrationSettings settings, ResultMetadata metadata, int frames, string? m1 = null)
    {
        var path = Path.Combine(folder, name + ".nxs");
        using var writer = ResultFileWriter.Create(path);
        foreach (var frame in Enumerable.Range(1, frames))
        {
            var result = RealFrame(frame, settings, m1);
            metadata.Times?.Observe(result);
            writer.Write(result);
        }

        return writer.Complete(frames, metadata);
    }
}
