using System.Diagnostics;
using System.Security.Cryptography;
using Anvil.Hdf5;
using Anvil.Pipeline;

namespace Anvil.Pressure.Tests;

/// <summary>
/// The offline path end to end on a real result file: written by the pipeline's own <see cref="ResultFileWriter"/>
/// from <see cref="SimpleAuProfiles"/> profiles (with failed frames), then <see cref="PressureResultFile.Run"/>.
/// </summary>
public sealed class ResultFileTests : IDisposable
{
    private const int Frames = 60;
    private static readonly int[] FailedFrames = [10, 11];
    private readonly string dir = Directory.CreateTempSubdirectory("anvil-pressure-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static double Truth(long frame) => 5 + (0.5 * (frame - 1));

    [Fact]
    public void NewFile_HasPressureNextToAnUnchangedCopyOfTheResult()
    {
        var input = WriteResult();
        var before = SHA256.HashData(File.ReadAllBytes(input));
        var run = PressureResultFile.Run(Request(input) with { FramePeriod = 0.1 });

        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(input)));
        Assert.NotEqual(input, run.Output);
        Assert.StartsWith("PONI ", run.WavelengthSource);
        Assert.Equal(SimpleAuProfiles.Wavelength, run.Wavelength, 12);

        using var original = Hdf5File.OpenRead(input);
        using var result = Hdf5File.OpenRead(run.Output);

        // DIOPTAS's layout is intact: the same data, axis and process records.
        Assert.Equal(original.ReadDataset<float>("/processed/result/data"), result.ReadDataset<float>("/processed/result/data"));
        Assert.Equal(original.ReadDataset<double>("/processed/result/binning"), result.ReadDataset<double>("/processed/result/binning"));
        Assert.Equal(original.ReadDataset<long>("/processed/process/pos_map"), result.ReadDataset<long>("/processed/process/pos_map"));
        Assert.Equal(original.ReadDataset<long>("/processed/process/file_map"), result.ReadDataset<long>("/processed/process/file_map"));
        Assert.Equal(original.ReadString("/processed/process/cal_file"), result.ReadString("/processed/process/cal_file"));
        Assert.Equal("processed", result.GetAttributeString("/", "default"));

        const string g = "/processed/pressure";
        var p = result.ReadDataset<double>(g + "/pressure");
        var pe = result.ReadDataset<double>(g + "/pressure_error");
        var ok = result.ReadDataset<byte>(g + "/ok");
        var reason = result.ReadStrings(g + "/reason");
        var t = result.ReadDataset<double>(g + "/frame_time");
        var d = result.ReadDataset<double>(g + "/d_spacing");
        var position = result.ReadDataset<double>(g + "/position");
        Assert.Equal(Frames, p.Length);
        foreach (var name in new[] { "d_error", "fwhm", "amplitude", "volume", "frame" })
        {
            Assert.Equal(Frames, result.GetDatasetInfo($"{g}/{name}").Shape[0]);
        }

        for (var f = 1; f <= Frames; f++)
        {
            var i = f - 1;
            if (FailedFrames.Contains(f))
            {
                Assert.Equal(0, ok[i]);
                Assert.True(double.IsNaN(p[i]) && double.IsNaN(d[i]));
                Assert.Contains("NaN", reason[i]);
                continue;
            }

            Assert.Equal(1, ok[i]);
            Assert.True(Math.Abs(p[i] - Truth(f)) < 4 * pe[i], $"frame {f}: {p[i]} ± {pe[i]} vs {Truth(f)}");
            Assert.Equal(SimpleAuProfiles.Wavelength / (2 * Math.Sin(position[i] * Math.PI / 360)), d[i], 12);
            Assert.Equal(0.1 * i, t[i], 12);
        }

        Assert.Equal("Au", result.GetAttributeString(g, "marker"));
        Assert.Equal("111", result.GetAttributeString(g, "hkl"));
        Assert.Equal("Vinet", result.GetAttributeString(g, "eos"));
        Assert.Equal(67.850, result.GetAttributeDouble(g, "V0"));
        Assert.Equal(167.0, result.GetAttributeDouble(g, "K0"));
        Assert.Equal(6.00, result.GetAttributeDouble(g, "K0prime"));
        Assert.Matches("^[0-9a-f]{16}$", result.GetAttributeString(g, "settings_hash"));
        Assert.Equal("GPa", result.GetAttributeString(g + "/pressure", "units"));
        Assert.Contains("--frame-period", result.GetAttributeString(g + "/frame_time", "source"));
    }

    [Fact]
    public void IndependentReader_SeesEveryOriginalObjectUnchanged()
    {
        // h5py walks both files: every dataset of the original is in the copy with equal values, and the only new group is /processed/pressure.
        var input = WriteResult();
        var run = PressureResultFile.Run(Request(input));
        const string script = """
            import sys, h5py, numpy as np
            a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
            names = []
            a.visit(names.append)
            for n in names:
                if isinstance(a[n], h5py.Dataset):
                    x, y = a[n][()], b[n][()]
                    nan = np.asarray(x).dtype.kind == 'f'   # arrays and scalars (an unknown count_time is a NaN scalar)
                    assert np.array_equal(x, y, equal_nan=nan), n
            extra = []
            b.visit(extra.append)
            new = sorted(set(extra) - set(names))
            assert all(n.startswith('processed/pressure') for n in new), new
            print(len(names), 'objects equal;', len(new), 'new')
            """;
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", script, input, run.Output })
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stderr);
        Assert.Contains("objects equal", stdout);
    }

    [Fact]
    public void FrameTimes_TheResultsOwnTimeAxisWhenTheRawFilesAreGoneSinceMerge()
    {
        // Merge recorded /processed/result/time while the detector's file (50 ms frames) was there; it is gone now.
        var m1 = Path.Combine(dir, "sim_00001_m1_part00000.nxs");
        using (var lambda = LambdaModuleWriter.Create(m1, 4, 4, 0, 0, new LambdaWriterOptions { CountTimeMilliseconds = 50 }))
        {
            lambda.AppendFrame(new short[16], 1);
        }

        var input = WriteResult();
        File.Delete(m1);
        var run = PressureResultFile.Run(Request(input));
        Assert.StartsWith("the result's time axis /processed/result/time: Lambda metadata", run.FrameTimeSource, StringComparison.Ordinal);
        using var result = Hdf5File.OpenRead(run.Output);
        Assert.Equal(result.ReadDataset<double>("/processed/result/time"), run.Frames.Select(f => f.Time));
        Assert.All(run.Frames, f => Assert.Equal(0.05 * (f.Frame - 1), f.Time, 12));
    }

    [Fact]
    public void FrameTimes_ComeFromTheRawFilesCountTimeWhenNoPeriodIsGiven()
    {
        // The first m1 chunk file the result names, written as the detector does, with 50 ms frames.
        var m1 = Path.Combine(dir, "sim_00001_m1_part00000.nxs");
        using (var lambda = LambdaModuleWriter.Create(m1, 4, 4, 0, 0, new LambdaWriterOptions { CountTimeMilliseconds = 50 }))
        {
            lambda.AppendFrame(new short[16], 1);
        }

        var run = PressureResultFile.Run(Request(WriteResult()));
        Assert.Contains("count_time", run.FrameTimeSource);
        Assert.All(run.Frames, f => Assert.Equal(0.05 * (f.Frame - 1), f.Time, 12));
        using var result = Hdf5File.OpenRead(run.Output);
        Assert.Contains("count_time", result.GetAttributeString("/processed/pressure/frame_time", "source"));

        // Without the raw file and without --frame-period, times are unknown (NaN) and the file says so.
        File.Delete(m1);
        var unknown = PressureResultFile.Run(Request(WriteResult()) with { Output = Path.Combine(dir, "unknown.nxs") });
        Assert.StartsWith("unknown", unknown.FrameTimeSource);
        Assert.All(unknown.Frames, f => Assert.True(double.IsNaN(f.Time)));
    }

    [Fact]
    public void NoWavelength_IsAClearError()
    {
        var input = WriteResult(poni: false);
        var ex = Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input)));
        Assert.Contains("no wavelength", ex.Message);
        Assert.Contains("--wavelength", ex.Message);
        Assert.Empty(Directory.GetFiles(dir, "*_pressure.nxs"));

        // Given by hand, it works.
        var run = PressureResultFile.Run(Request(input) with { Wavelength = SimpleAuProfiles.Wavelength });
        Assert.Equal("--wavelength", run.WavelengthSource);
        Assert.Equal(Frames - FailedFrames.Length, run.Frames.Count(f => f.Ok));
    }

    [Fact]
    public void ReflectionOutsideTheRadialRange_IsAClearError()
    {
        // Au 222 sits near 14° at this wavelength; the result covers 6–9°.
        var input = WriteResult();
        var ex = Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input) with { Reflection = new Hkl(2, 2, 2), Window = null }));
        Assert.Contains("outside the radial range", ex.Message);
        ex = Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input) with { Window = (8.5, 9.5) }));
        Assert.Contains("outside the radial range", ex.Message);
    }

    [Fact]
    public void WindowThatCannotHoldTheMarker_IsRefused()
    {
        // 6.2–6.5°: below gold 111 at zero pressure, so no pressure can bring it there.
        var input = WriteResult();
        var ex = Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input) with { Window = (6.2, 6.5) }));
        Assert.Contains("cannot hold", ex.Message);
    }

    [Fact]
    public void WindowWithNoPeak_FlagsEveryFrame()
    {
        // Between 111 and 200 at these pressures, where gold could be at ~90 GPa but is not.
        var input = WriteResult();
        var run = PressureResultFile.Run(Request(input) with { Window = (7.80, 7.95) });
        Assert.All(run.Frames, f => Assert.False(f.Ok));
        using var result = Hdf5File.OpenRead(run.Output);
        Assert.All(result.ReadDataset<double>("/processed/pressure/pressure"), v => Assert.True(double.IsNaN(v)));
    }

    [Theory]
    [InlineData(-67.85, 167, 6)]
    [InlineData(0, 167, 6)]
    [InlineData(67.85, 0, 6)]
    [InlineData(67.85, -5, 6)]
    public void NonsenseEosParameters_AreRefusedBeforeAnythingIsWritten(double v0, double k0, double k0p)
    {
        var input = WriteResult();
        var ex = Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input) with { Scale = new EosParameters(EosForm.Vinet, v0, k0, k0p, "user") }));
        Assert.Matches("V0|K0", ex.Message);
        Assert.Empty(Directory.GetFiles(dir, "*_pressure.nxs"));
    }

    [Fact]
    public void OutputIsNeverTheInputNorAnExistingFile()
    {
        var input = WriteResult();
        Assert.Contains("new file", Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input) with { Output = input })).Message);
        var first = PressureResultFile.Run(Request(input));
        var before = File.GetLastWriteTimeUtc(first.Output);
        Assert.Contains("exists", Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(input))).Message);
        Assert.Equal(before, File.GetLastWriteTimeUtc(first.Output));

        // A file with pressure is not given pressure twice.
        Assert.Contains("already has", Assert.Throws<PressureInputException>(() => PressureResultFile.Run(Request(first.Output))).Message);
    }

    [Fact]
    public void WrongWavelength_FlagsFramesInsteadOfInventingPressure()
    {
        // 5 % too long a wavelength puts gold's 111 window where there is no peak at the start; nothing may come out as a number silently.
        var input = WriteResult();
        var run = PressureResultFile.Run(Request(input) with { Wavelength = SimpleAuProfiles.Wavelength * 1.05, Window = null });
        Assert.All(run.Frames, f => Assert.False(f.Ok));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(1000)]
    [InlineData(10000)]
    public void RampResult_800Frames_GivesTheRampBack(double height)
    {
        // The 800-frame compression–decompression ramp to 71 GPa through a result file, at three count levels.
        // ANVIL_PRESSURE_SAMPLES=DIR keeps the result files there, to run `./anvil pressure` on them by hand.
        static double Ramp(long f) => f <= 400 ? 71.0 * (f - 1) / 399 : 71.0 * (800 - f) / 399;
        var sim = new SimpleAuProfiles((int)height + 1, height);
        var path = Path.Combine(dir, $"ramp_{height:F0}.nxs");
        using (var writer = ResultFileWriter.Create(path))
        {
            for (long f = 1; f <= 800; f++)
            {
                var (y, s) = sim.Profile(Ramp(f));
                writer.Write(new FrameResult(f, (int)((f - 1) / 10), (int)((f - 1) % 10), $"ramp_m1_part{(f - 1) / 10:D5}.nxs", "abc", "{}",
                    new CurveRow(sim.Radial, y.Select(v => (float)v).ToArray(), s.Select(v => (float)v).ToArray(), Enumerable.Repeat(1f, y.Length).ToArray()), null));
            }

            path = writer.Complete(800, new ResultMetadata(Path.Combine(dir, "absent.poni"), "bbox", "2th_deg", SimpleAuProfiles.Bins));
        }

        if (Environment.GetEnvironmentVariable("ANVIL_PRESSURE_SAMPLES") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            File.Copy(path, Path.Combine(keep, Path.GetFileName(path)), overwrite: true);
        }

        var run = PressureResultFile.Run(Request(path) with { Wavelength = SimpleAuProfiles.Wavelength, Window = null, FramePeriod = 0.01 });
        Assert.All(run.Frames, f => Assert.True(f.Ok, $"frame {f.Frame}: {f.Fit.Reason}"));
        var p = run.Frames.Select(f => f.Reading!.Pressure).ToArray();
        var residuals = run.Frames.Select(f => f.Reading!.Pressure - Ramp(f.Frame)).ToArray();
        var rms = Math.Sqrt(residuals.Average(r => r * r));
        var within2 = run.Frames.Count(f => Math.Abs(f.Reading!.Pressure - Ramp(f.Frame)) <= 2 * f.Reading.PressureError) / 800.0;
        Assert.InRange(Array.IndexOf(p, p.Max()), 395, 404);
        Assert.True(Math.Abs(p.Max() - 71) < 5 * run.Frames[400].Reading!.PressureError + 0.05, $"max {p.Max()}");
        Assert.True(within2 >= 0.93, $"{within2:P1} within 2σ");
        Assert.True(rms < 0.5, $"rms {rms}");
    }

    private PressureRequest Request(string input)
    {
        var start = SimpleAuProfiles.TwoTheta(Truth(1), 3);
        return new PressureRequest
        {
            Input = input,
            Marker = Markers.Get("Au"),
            Reflection = new Hkl(1, 1, 1),
            Scale = Markers.Get("Au").DefaultScale,
            Window = (start - 0.15, start + 0.15),
        };
    }

    private string WriteResult(bool poni = true) => SimulatedResult.Write(dir, Frames, FailedFrames, Truth, poni);
}
