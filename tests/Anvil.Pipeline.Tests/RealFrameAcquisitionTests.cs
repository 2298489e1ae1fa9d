using Anvil.Hdf5;
using Anvil.Testing;

namespace Anvil.Pipeline.Tests;

/// <summary>Acquisitions of the 50 real P02.2 frames: copies under another name, and N-frame builds in chunk files of any size.</summary>
public sealed class RealFrameAcquisitionTests : IDisposable
{
    private const string Fixture = "testasapo1_1009_00002";
    private readonly string folder = Directory.CreateTempSubdirectory("anvil-realframes-").FullName;

    [Fact]
    public void Copy_FixtureUnderNewName_SameBytesAndFiveParts()
    {
        var parts = RealFrameAcquisition.Copy(TestPaths.LambdaFixtures, folder, "copy_1009_00001");

        Assert.Equal([0, 1, 2, 3, 4], parts.Select(p => p.Part));
        Assert.All(parts, p => Assert.Equal(10, p.Frames));
        foreach (var part in parts)
        {
            for (var m = 1; m <= 3; m++)
            {
                Assert.Equal(Path.Combine(folder, ChunkFileName.Format("copy_1009_00001", m, part.Part)), part.Modules[m - 1]);
                Assert.Equal(File.ReadAllBytes(Path.Combine(TestPaths.LambdaFixtures, ChunkFileName.Format(Fixture, m, part.Part))), File.ReadAllBytes(part.Modules[m - 1]));
            }
        }

        Assert.Equal(parts, RealFrameAcquisition.Copied(TestPaths.LambdaFixtures, folder, "copy_1009_00001"), new PartComparer());
    }

    [Fact]
    public void WriteAll_130FramesInParts64_FramesCycleTheFixtureWithContinuingSequenceNumbers()
    {
        var plan = RealFrameAcquisition.Plan(TestPaths.LambdaFixtures, folder, "big_1009_00001", frames: 130, framesPerPart: 64);
        var parts = plan.WriteAll();

        Assert.Equal(3, plan.PartCount);
        Assert.Equal([64, 64, 2], parts.Select(p => p.Frames));
        var pixels = new short[516 * 1554];
        var expected = new short[516 * 1554];
        for (var m = 1; m <= 3; m++)
        {
            var first = 0;
            foreach (var part in parts)
            {
                using var file = LambdaModuleFile.Open(part.Modules[m - 1]);
                Assert.Equal(part.Frames, file.FrameCount);
                Assert.Equal(Enumerable.Range(first + 1, part.Frames), file.SequenceNumbers);
                using (var h5 = Hdf5File.OpenRead(part.Modules[m - 1]))
                {
                    Assert.Equal([130], h5.ReadDataset<int>(LambdaModuleFile.DetectorPath + "/collection/frame_numbers"));
                    Assert.Equal(part.Frames, h5.ReadDataset<int>(LambdaModuleFile.DetectorPath + "/collection/error_code").Length);
                }

                // Frame k is the fixture's frame k mod 50, pixel for pixel; the module's offset is the fixture's.
                foreach (var i in new[] { 0, 9, 10, part.Frames - 1 }.Where(i => i < part.Frames).Distinct())
                {
                    var k = (first + i) % 50;
                    using var original = LambdaModuleFile.Open(Path.Combine(TestPaths.LambdaFixtures, ChunkFileName.Format(Fixture, m, k / 10)));
                    original.ReadFrame(k % 10, expected);
                    file.ReadFrame(i, pixels);
                    Assert.True(expected.AsSpan().SequenceEqual(pixels), $"module {m} part {part.Part} frame {i} is not fixture frame {k + 1}");
                    Assert.Equal((original.TranslationX, original.TranslationY), (file.TranslationX, file.TranslationY));
                }

                first += part.Frames;
            }
        }
    }

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class PartComparer : IEqualityComparer<ChunkPartFiles>
    {
        public bool Equals(ChunkPartFiles? x, ChunkPartFiles? y) => x!.Part == y!.Part && x.Frames == y.Frames && x.Modules.SequenceEqual(y.Modules);

        public int GetHashCode(ChunkPartFiles obj) => obj.Part;
    }
}
