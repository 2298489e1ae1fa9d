using System.Globalization;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Integration.Formats;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// Single-image detectors through the real chain: a suite whose ingest watches a folder (Ingest:Watch) into which a
/// PerkinElmer-style TIFF sequence and a Pilatus-style CBF sequence (fabio 0.14, tests/fixtures/images/sequence) are
/// copied as a user's software writes them, each with one bad image numbered last: a TIFF of the wrong shape, a CBF
/// with packed compression. The good frames must equal pyFAI 0.21.3's profiles of the same pixels (bbox, 2θ,
/// polarization 0.99, npt 100, committed *_pyfai.npy); the bad one must fail with a reason naming its file.
/// </summary>
public sealed class ImageSequenceTests : IAsyncLifetime
{
    private const int Npt = 100;
    private static readonly string Sequence = Path.Combine(TestPaths.Fixtures, "images", "sequence");
    private readonly string work = Path.Combine(Path.GetTempPath(), "anvil-images-" + Guid.NewGuid().ToString("N")[..8]);
    private Suite suite = null!;

    private string DataRoot => Path.Combine(work, "data");

    private string Incoming => Path.Combine(DataRoot, "incoming");

    private string OutputDir => Path.Combine(work, "out");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Incoming);
        suite = await Suite.StartAsync(new SuiteOptions
        {
            WorkDir = work,
            Ports = PortPlan.Free(),
            Environment = new Dictionary<string, string>
            {
                ["Ingest__Watch"] = "incoming",
                ["Ingest__ScanInterval"] = "00:00:00.100",
                ["Ingest__FinishAfterIdle"] = "00:00:02",
            },
            Pipeline = new Dictionary<string, string>
            {
                ["DataRoot"] = DataRoot,
                ["OutputDir"] = OutputDir,
                ["Poni"] = Path.Combine(Sequence, "geometry.poni"),
                ["Npt"] = Npt.ToString(CultureInfo.InvariantCulture),
                ["Unit"] = "2th_deg",
                ["Method"] = "bbox",
                ["Polarization"] = "0.99",
                ["ChunkReadableTimeout"] = "00:00:05",
                ["ResendDelay"] = "00:00:05",
            },
        }, TimeSpan.FromSeconds(90), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (suite is not null)
        {
            await suite.DisposeAsync();
        }

        Directory.Delete(work, recursive: true);
    }

    [Fact]
    public async Task WatchedTiffAndCbfSequencesMatchPyFaiAndTheirBadImagesFailAlone()
    {
        using (var channel = GrpcChannel.ForAddress(suite.IngestAddress))
        {
            var status = await new Anvil.Pipeline.V1.Ingest.IngestClient(channel).GetStatusAsync(new IngestStatusRequest()).ResponseAsync.DefaultTimeout();
            Assert.Equal(["incoming"], status.Watching);
        }

        // As a detector's software writes them: one file after the other into the watched folder (copied, then renamed
        // into place so no half-written name is seen — the watcher waits for a stable size anyway).
        foreach (var (kind, ext, bad) in new[] { ("pe", "tif", "pe_wrong_shape.tif"), ("pilatus", "cbf", "pilatus_packed.cbf") })
        {
            for (var k = 1; k <= 4; k++)
            {
                Place(Path.Combine(Sequence, kind, $"{kind}_{k:D5}.{ext}"), $"{kind}_{k:D5}.{ext}");
            }

            Place(Path.Combine(Sequence, "bad", bad), $"{kind}_00005.{ext}");
        }

        await CheckAsync("pe", "tif", "is 60×80 pixels, but this acquisition's detector images are 64×80");
        await CheckAsync("pilatus", "cbf", "CBF compression 'x-CBF_PACKED' is not supported");
    }

    private void Place(string source, string name)
    {
        var temporary = Path.Combine(DataRoot, name + ".part");
        File.Copy(source, temporary);
        File.Move(temporary, Path.Combine(Incoming, name));
    }

    private async Task CheckAsync(string acquisition, string ext, string reason)
    {
        var path = Path.Combine(OutputDir, acquisition + ".nxs");
        await TaskTimeoutExtensions.Until($"{path} is written", () =>
        {
            if (suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited:\n{Suite.Tail(dead)}");
            }

            return File.Exists(path);
        }, TimeSpan.FromMinutes(2));

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([5L], nxs.ReadDataset<long>("/processed/process/failed_frames"));
        var failure = Assert.Single(nxs.ReadStrings("/processed/process/failed_reasons"));
        Assert.Contains($"{acquisition}_00005.{ext}", failure, StringComparison.Ordinal);
        Assert.Contains(reason, failure, StringComparison.Ordinal);
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
        Assert.Equal(Enumerable.Range(1, 5).Select(k => $"incoming/{acquisition}_{k:D5}.{ext}"), nxs.ReadStrings("/processed/process/files"));

        // pyFAI 0.21.3 on the same pixels (frames × [radial, intensity, sigma] × npt).
        var reference = NpyFile.Read(Path.Combine(Sequence, acquisition + "_pyfai.npy"));
        Assert.Equal([4, 3, Npt], reference.Shape);
        var expected = reference.ToDoubles();
        var radial = nxs.ReadDataset<double>("/processed/result/binning");
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.Equal(5 * Npt, data.Length);
        for (var b = 0; b < Npt; b++)
        {
            Assert.Equal(expected[b], radial[b], 1e-9);
        }

        var compared = 0;
        for (var f = 0; f < 4; f++)
        {
            var peak = Enumerable.Range(0, Npt).Max(b => expected[(f * 3 * Npt) + Npt + b]);
            for (var b = 0; b < Npt; b++)
            {
                var want = expected[(f * 3 * Npt) + Npt + b];
                var got = data[(f * Npt) + b];
                Assert.True(Math.Abs(got - want) <= 1e-5 * Math.Max(Math.Abs(want), 1e-3 * peak), $"{acquisition} frame {f + 1} bin {b}: {got}, pyFAI {want}");
                compared++;
            }
        }

        Assert.Equal(4 * Npt, compared);
        Assert.All(data.Skip(4 * Npt), v => Assert.True(float.IsNaN(v)));
    }
}
