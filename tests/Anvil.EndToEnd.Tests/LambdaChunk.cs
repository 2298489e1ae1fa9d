using Anvil.Hdf5;
using Anvil.Pipeline;

namespace Anvil.EndToEnd.Tests;

/// <summary>
/// One chunk part of a Lambda acquisition opened as the stitch worker opens it: its three module files and their stitch
/// plan. For tests that check a result against the libraries called directly.
/// </summary>
internal sealed class LambdaChunk : IDisposable
{
    private LambdaChunk(LambdaModuleFile[] files)
    {
        Files = files;
        Plan = StitchPlan.Create([.. files.Select(f => new ModuleLayout(f.Rows, f.Cols, f.TranslationX, f.TranslationY))]);
    }

    public LambdaModuleFile[] Files { get; }

    public StitchPlan Plan { get; }

    public static LambdaChunk Open(string folder, string acquisition, int part)
    {
        var files = new List<LambdaModuleFile>();
        try
        {
            for (var m = 1; m <= 3; m++)
            {
                files.Add(LambdaModuleFile.Open(Path.Combine(folder, ChunkFileName.Format(acquisition, m, part))));
            }

            return new LambdaChunk([.. files]);
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>Frame <paramref name="index"/> of module <paramref name="module"/> (0-based), as stored.</summary>
    public short[] ReadModule(int module, int index)
    {
        var frame = new short[Files[module].Rows * Files[module].Cols];
        Files[module].ReadFrame(index, frame);
        return frame;
    }

    /// <summary>Frame <paramref name="index"/> stitched into <paramref name="canvas"/> (the plan's shape).</summary>
    public short[] Stitch(int index, short[] canvas)
    {
        for (var m = 0; m < Files.Length; m++)
        {
            Plan.Place<short>(m, ReadModule(m, index), canvas);
        }

        return canvas;
    }

    public void Dispose()
    {
        foreach (var f in Files)
        {
            f.Dispose();
        }
    }
}
