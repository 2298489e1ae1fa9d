using System.Globalization;
using Anvil.Pipeline;

namespace Anvil.Pressure.Tests;

/// <summary>
/// A real result file, written by the pipeline's own <see cref="ResultFileWriter"/> from <see cref="SimpleAuProfiles"/>
/// (peak height 1000 counts): frames in chunks of ten, failed frames as merge records them, and a PONI file next to
/// it for the wavelength (unless <c>poni</c> is false).
/// </summary>
internal static class SimulatedResult
{
    public static string Write(string dir, int frames, int[] failedFrames, Func<long, double> truth, bool poni = true)
    {
        var poniPath = Path.Combine(dir, "sim.poni");
        if (poni)
        {
            File.WriteAllText(poniPath, string.Create(CultureInfo.InvariantCulture,
                $"poni_version: 2\nDetector: Detector\nDistance: 0.4\nPoni1: 0.05\nPoni2: 0.05\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: {SimpleAuProfiles.Wavelength * 1e-10:R}\n"));
        }

        var sim = new SimpleAuProfiles(42, 1000);
        var path = Path.Combine(dir, "sim_00001.nxs");
        using var writer = ResultFileWriter.Create(path);
        for (long f = 1; f <= frames; f++)
        {
            var file = (int)((f - 1) / 10);
            var index = (int)((f - 1) % 10);
            var m1 = Path.Combine(dir, $"sim_00001_m1_part{file:D5}.nxs");
            if (failedFrames.Contains((int)f))
            {
                writer.Write(new FrameResult(f, file, index, m1, "abc", "{}", null, null, "chunk unreadable"));
                continue;
            }

            var (y, s) = sim.Profile(truth(f));
            var row = new CurveRow(sim.Radial, y.Select(v => (float)v).ToArray(), s.Select(v => (float)v).ToArray(), Enumerable.Repeat(1f, y.Length).ToArray());
            writer.Write(new FrameResult(f, file, index, m1, "abc", "{}", row, null));
        }

        return writer.Complete(frames, new ResultMetadata(poniPath, "bbox", "2th_deg", SimpleAuProfiles.Bins));
    }
}
