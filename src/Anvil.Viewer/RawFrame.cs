using Anvil.Hdf5;
using Anvil.Integration;
using Anvil.Pipeline;

namespace Anvil.Viewer;

/// <summary>A stitched detector frame and its mask (1 = masked: module gaps and the user's mask).</summary>
public sealed record RawImage(int Rows, int Cols, float[] Pixels, byte[] Mask);

/// <summary>
/// Re-reads one frame from its Lambda chunk files (the module-1 file a result or profile names, the other modules
/// beside it by the detector's naming), stitched as stitch and DIOPTAS stitch it (<see cref="StitchPlan"/>), with the
/// gap mask and the operator's mask file combined. Files are only read.
/// </summary>
public static class RawFrame
{
    /// <summary>Reads frame <paramref name="index"/> of the chunk part whose module-1 file is <paramref name="m1File"/>.</summary>
    public static RawImage Read(string m1File, int index, string? maskFile)
    {
        ArgumentNullException.ThrowIfNull(m1File);
        var folder = Path.GetDirectoryName(Path.GetFullPath(m1File))!;
        if (!ChunkFileName.TryParse(Path.GetFileName(m1File), out var acquisition, out var module, out var part) || module != 1)
        {
            throw new FileNotFoundException($"{Path.GetFileName(m1File)} is not a Lambda module-1 chunk file (<acquisition>_m1_partNNNNN.nxs).", m1File);
        }

        var files = new List<LambdaModuleFile>();
        try
        {
            for (var m = 1; File.Exists(Path.Combine(folder, ChunkFileName.Format(acquisition, m, part))); m++)
            {
                files.Add(LambdaModuleFile.Open(Path.Combine(folder, ChunkFileName.Format(acquisition, m, part))));
            }

            if (files.Count == 0)
            {
                throw new FileNotFoundException($"the chunk file {m1File} is gone", m1File);
            }

            var plan = StitchPlan.Create([.. files.Select(f => new ModuleLayout(f.Rows, f.Cols, f.TranslationX, f.TranslationY))]);
            for (var m = 0; m < files.Count; m++)
            {
                if (index < 0 || index >= files[m].FrameCount)
                {
                    throw new ArgumentOutOfRangeException(nameof(index), index, $"{ChunkFileName.Format(acquisition, m + 1, part)} has {files[m].FrameCount} frames.");
                }
            }

            // Stitched as the integrate service stitches it.
            var canvas = new short[plan.Rows * plan.Cols];
            plan.Stitch(canvas, new short[files.Max(f => f.Rows * f.Cols)], (m, destination) => files[m].ReadFrame(index, destination));
            var mask = MaskFile.Combine(plan.GapMask(), string.IsNullOrEmpty(maskFile) ? null : maskFile, plan.Rows, plan.Cols);
            return new RawImage(plan.Rows, plan.Cols, canvas.Select(v => (float)v).ToArray(), mask);
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }
}
