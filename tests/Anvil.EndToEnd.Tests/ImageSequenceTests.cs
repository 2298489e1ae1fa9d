using System.Globalization;
using Anvil.Cli;
using Anvil.Hdf5;
using Anvil.Integration.Formats;
using Anvil.Pipeline.V1;
using Anvil.Testing;
using Grpc.Net.Client;

namespace Anvil.EndToEnd.Tests;

/// <summary>Single-image detectors without a Detectors section: the acquisition is the sequence's name (pe, pilatus).</summary>
public sealed class ImageSequenceTests : ImageSequenceTestBase
{
    protected override string? Subfolder(string kind) => null;

    [Fact]
    public Task WatchedTiffAndCbfSequencesMatchPyFaiAndTheirBadImagesFailAlone() => RunAsync(
        ("pe", "tif", "is 60×80 pixels, but this acquisition's detector takes 64×80 images (its PONI geometry.poni has max_shape [64, 80])"),
        ("pilatus", "cbf", "CBF compression 'x-CBF_PACKED' is not supported"));
}

/// <summary>
/// An Eiger acquisition compressed with bitshuffle-LZ4 (HDF5 filter 32008, the Eiger default; no libhdf5 plugin here,
/// decoded by Anvil.Hdf5): tests/fixtures/images/sequence/eiger holds the PerkinElmer sequence's four frames as
/// eigerbs_master.h5 + two data files (chunks encoded by python3-lz4 + numpy), so pe_pyfai.npy is their reference, and a
/// fifth frame whose chunk is cut short. Data files are written first, the master last, as the DECTRIS writer does.
/// </summary>
public sealed class EigerSequenceTests : ImageSequenceTestBase
{
    protected override string? Subfolder(string kind) => null;

    [Fact]
    public async Task WatchedBitshuffleEigerAcquisitionMatchesPyFaiAndItsDamagedFrameFailsAlone()
    {
        foreach (var name in new[] { "eigerbs_data_000001.h5", "eigerbs_data_000002.h5", "eigerbs_master.h5" })
        {
            Place(Path.Combine(Sequence, "eiger", name), "eiger", name);
        }

        var path = Path.Combine(OutputDir, "eigerbs.nxs");
        await WaitForResultAsync(path);
        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([5L], nxs.ReadDataset<long>("/processed/process/failed_frames"));
        var failure = Assert.Single(nxs.ReadStrings("/processed/process/failed_reasons"));
        Assert.Contains("eigerbs_master.h5:/entry/data/data_000002: frame 2's bitshuffle chunk is corrupt: LZ4 block 1 claims 1545 bytes, only 1505 remain in the chunk", failure, StringComparison.Ordinal);
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
        Assert.Equal(["incoming/eigerbs_master.h5"], nxs.ReadStrings("/processed/process/files"));
        AssertFirstFourMatchPyFai(nxs, "pe", 5);

        // The master's frame_time (0.01 s) spaces the frames (to the microsecond: times pass through Unix seconds).
        var time = nxs.ReadDataset<double>("/processed/result/time");
        Assert.Equal(5, time.Length);
        Assert.All(Enumerable.Range(0, 5), k => Assert.Equal(0.01 * k, time[k], 1e-6));
    }
}

/// <summary>
/// The same sequences with two configured single-image detectors (Kind image), each with its own watch Pattern
/// (pe/*, pilatus/*): each result is named acquisition_detector, records its detector, and a bad image's reason
/// names the file and the detector.
/// </summary>
public sealed class ImageDetectorTests : ImageSequenceTestBase
{
    protected override IReadOnlyDictionary<string, string> Detectors => new Dictionary<string, string>
    {
        ["Detectors__pe1__Kind"] = "image",
        ["Detectors__pe1__Pattern"] = "pe/*",
        ["Detectors__pe1__Poni"] = Path.Combine(Sequence, "geometry.poni"),
        ["Detectors__pil1__Kind"] = "image",
        ["Detectors__pil1__Pattern"] = "pilatus/*",
        ["Detectors__pil1__Poni"] = Path.Combine(Sequence, "geometry.poni"),
    };

    protected override string? Subfolder(string kind) => kind;

    [Fact]
    public Task EachDetectorsSequenceGoesToItsOwnResultAndBadImagesNameTheDetector() => RunAsync(
        ("pe", "tif", "is 60×80 pixels, but detector pe1 takes 64×80 images (its PONI geometry.poni has max_shape [64, 80])"),
        ("pilatus", "cbf", "detector pil1: "));
}

/// <summary>
/// Single-image detectors through the real chain: a suite whose ingest watches a folder (Ingest:Watch) into which a
/// PerkinElmer-style TIFF sequence and a Pilatus-style CBF sequence (fabio 0.14, tests/fixtures/images/sequence) are
/// copied as a user's software writes them, each with one bad image numbered last: a TIFF of the wrong shape, a CBF
/// with packed compression. The good frames must equal pyFAI 0.21.3's profiles of the same pixels (bbox, 2θ,
/// polarization 0.99, npt 100, committed *_pyfai.npy); the bad one must fail with a reason naming its file.
/// </summary>
public abstract class ImageSequenceTestBase : IAsyncLifetime
{
    private const int Npt = 100;
    protected static readonly string Sequence = Path.Combine(TestPaths.Fixtures, "images", "sequence");
    private readonly string work = Path.Combine(Path.GetTempPath(), "anvil-images-" + Guid.NewGuid().ToString("N")[..8]);
    private Suite suite = null!;

    private string DataRoot => Path.Combine(work, "data");

    protected string Incoming => Path.Combine(DataRoot, "incoming");

    protected string OutputDir => Path.Combine(work, "out");

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
            Pipeline = new Dictionary<string, string>(Detectors)
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

    /// <summary>The Detectors section, as Pipeline keys (none = no detectors configured).</summary>
    protected virtual IReadOnlyDictionary<string, string> Detectors => new Dictionary<string, string>();

    /// <summary>The folder below the watched one that a sequence is written to (null = the watched folder itself).</summary>
    protected abstract string? Subfolder(string kind);

    public async Task DisposeAsync()
    {
        if (suite is not null)
        {
            await suite.DisposeAsync();
        }

        Directory.Delete(work, recursive: true);
    }

    protected async Task RunAsync(params (string Kind, string Ext, string Reason)[] sequences)
    {
        using (var channel = GrpcChannel.ForAddress(suite.IngestAddress))
        {
            var status = await new Anvil.Pipeline.V1.Ingest.IngestClient(channel).GetStatusAsync(new IngestStatusRequest()).ResponseAsync.DefaultTimeout();
            Assert.Equal(["incoming"], status.Watching);
        }

        // As a detector's software writes them: one file after the other into the watched folder (copied, then renamed
        // into place so no half-written name is seen — the watcher waits for a stable size anyway).
        foreach (var (kind, ext, _) in sequences)
        {
            for (var k = 1; k <= 4; k++)
            {
                Place(Path.Combine(Sequence, kind, $"{kind}_{k:D5}.{ext}"), kind, $"{kind}_{k:D5}.{ext}");
            }

            Place(Path.Combine(Sequence, "bad", kind == "pe" ? "pe_wrong_shape.tif" : "pilatus_packed.cbf"), kind, $"{kind}_00005.{ext}");
        }

        foreach (var (kind, ext, reason) in sequences)
        {
            await CheckAsync(kind, ext, reason);
        }
    }

    protected void Place(string source, string kind, string name)
    {
        var folder = Subfolder(kind) is { } sub ? Path.Combine(Incoming, sub) : Incoming;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(DataRoot, name + ".part");
        File.Copy(source, temporary);
        File.Move(temporary, Path.Combine(folder, name));
    }

    // The result's name and the detector it records: acquisition_detector with detectors configured.
    private string? DetectorOf(string kind) => Detectors.Count == 0 ? null : kind == "pe" ? "pe1" : "pil1";

    private async Task CheckAsync(string acquisition, string ext, string reason)
    {
        var detector = DetectorOf(acquisition);
        var path = Path.Combine(OutputDir, (detector is null ? acquisition : $"{acquisition}_{detector}") + ".nxs");
        await WaitForResultAsync(path);

        using var nxs = Hdf5File.OpenRead(path);
        Assert.Equal([5L], nxs.ReadDataset<long>("/processed/process/failed_frames"));
        var failure = Assert.Single(nxs.ReadStrings("/processed/process/failed_reasons"));
        Assert.Contains($"{acquisition}_00005.{ext}", failure, StringComparison.Ordinal);
        Assert.Contains(reason, failure, StringComparison.Ordinal);
        Assert.Contains(ext == "cbf" ? "CBF compression 'x-CBF_PACKED' is not supported" : "60×80", failure, StringComparison.Ordinal);
        Assert.Empty(nxs.ReadDataset<long>("/processed/process/missing_frames"));
        var folder = Subfolder(acquisition) is { } sub ? $"incoming/{sub}" : "incoming";
        Assert.Equal(Enumerable.Range(1, 5).Select(k => $"{folder}/{acquisition}_{k:D5}.{ext}"), nxs.ReadStrings("/processed/process/files"));
        if (detector is not null)
        {
            Assert.Equal(detector, nxs.ReadString("/processed/process/detector"));
            Assert.Equal("image", nxs.GetAttributeString("/processed/process/detector", "kind"));
        }

        AssertFirstFourMatchPyFai(nxs, acquisition, 5);

        // Each frame's time from its own file's header (TIFF DateTime, Pilatus "# 2026-12-06T13:00:0k.000"): 13:00:01 …
        // 13:00:04, so 0, 1, 2, 3 s after frame 1 (no frame period is configured here to take over from whole seconds).
        var time = nxs.ReadDataset<double>("/processed/result/time");
        Assert.Equal([0.0, 1.0, 2.0, 3.0], time[..4]);
        Assert.Contains("own timestamps in its image files, seconds after frame 1's", nxs.GetAttributeString("/processed/result/time", "source"), StringComparison.Ordinal);
    }

    /// <summary>Waits (2 min at most) for the result file <paramref name="path"/>, failing at once if a service exits.</summary>
    protected async Task WaitForResultAsync(string path)
    {
        await TaskTimeoutExtensions.Until($"{path} is written", () =>
        {
            if (suite.Services.FirstOrDefault(s => s.Process.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.Name} exited:\n{Suite.Tail(dead)}");
            }

            return File.Exists(path);
        }, TimeSpan.FromMinutes(2));
    }

    /// <summary>
    /// The result's first four frames equal pyFAI 0.21.3's profiles of the same pixels (<paramref name="referenceName"/>
    /// _pyfai.npy: frames × [radial, intensity, sigma] × npt); the others (to <paramref name="frames"/>) are NaN.
    /// </summary>
    protected static void AssertFirstFourMatchPyFai(Hdf5File nxs, string referenceName, int frames)
    {
        var reference = NpyFile.Read(Path.Combine(Sequence, referenceName + "_pyfai.npy"));
        Assert.Equal([4, 3, Npt], reference.Shape);
        var expected = reference.ToDoubles();
        var radial = nxs.ReadDataset<double>("/processed/result/binning");
        var data = nxs.ReadDataset<float>("/processed/result/data");
        Assert.Equal(frames * Npt, data.Length);
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
                Assert.True(Math.Abs(got - want) <= 1e-5 * Math.Max(Math.Abs(want), 1e-3 * peak), $"{referenceName} frame {f + 1} bin {b}: {got}, pyFAI {want}");
                compared++;
            }
        }

        Assert.Equal(4 * Npt, compared);
        Assert.All(data.Skip(4 * Npt), v => Assert.True(float.IsNaN(v)));
    }
}
