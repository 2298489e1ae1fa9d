namespace Anvil.Pipeline;

/// <summary>A detector module as its file describes it: shape and translation in pixels (x = column, y = row).</summary>
public readonly record struct ModuleLayout(int Rows, int Cols, double TranslationX, double TranslationY);

/// <summary>Where one module lands on the canvas, before the vertical flip.</summary>
public readonly record struct ModulePlacement(int RowOffset, int ColOffset, int Rows, int Cols);

/// <summary>
/// How Lambda modules are stitched into one frame exactly as DIOPTAS does (docs/science.md §2):
/// x' = x − min x, y' = y − y(module 1), a zero canvas of (max(y'+h), max(x'+w)), then a vertical flip,
/// so PONI and mask files made with DIOPTAS/pyFAI apply unchanged. Shapes and offsets come from the
/// files, never from constants.
/// </summary>
public sealed class StitchPlan
{
    private StitchPlan(int rows, int cols, ModulePlacement[] placements, bool flip)
    {
        Rows = rows;
        Cols = cols;
        Placements = placements;
        FlipVertical = flip;
    }

    /// <summary>Canvas rows (1833 for a Lambda 2M).</summary>
    public int Rows { get; }

    /// <summary>Canvas columns (1556 for a Lambda 2M).</summary>
    public int Cols { get; }

    /// <summary>Placement of each module, in module order.</summary>
    public IReadOnlyList<ModulePlacement> Placements { get; }

    /// <summary>Whether the canvas is flipped vertically (DIOPTAS does).</summary>
    public bool FlipVertical { get; }

    /// <summary>Plans the canvas for the given modules (module 1 first).</summary>
    public static StitchPlan Create(IReadOnlyList<ModuleLayout> modules, bool flipVertical = true)
    {
        if (modules.Count == 0)
        {
            throw new ArgumentException("At least one module is needed to stitch a frame.", nameof(modules));
        }

        var minX = modules.Min(m => (int)Math.Round(m.TranslationX));
        var y1 = (int)Math.Round(modules[0].TranslationY);
        var placements = modules
            .Select(m => new ModulePlacement((int)Math.Round(m.TranslationY) - y1, (int)Math.Round(m.TranslationX) - minX, m.Rows, m.Cols))
            .ToArray();
        if (placements.Any(p => p.RowOffset < 0))
        {
            throw new ArgumentException("A module lies above module 1; Lambda translations put module 1 at the top.", nameof(modules));
        }

        var rows = placements.Max(p => p.RowOffset + p.Rows);
        var cols = placements.Max(p => p.ColOffset + p.Cols);
        return new StitchPlan(rows, cols, placements, flipVertical);
    }

    /// <summary>Plans from explicit placements (as a FrameWorkItem carries them).</summary>
    public static StitchPlan FromPlacements(int rows, int cols, IReadOnlyList<ModulePlacement> placements, bool flipVertical)
    {
        foreach (var p in placements)
        {
            if (p.RowOffset < 0 || p.ColOffset < 0 || p.RowOffset + p.Rows > rows || p.ColOffset + p.Cols > cols)
            {
                throw new ArgumentException($"Module placement {p} does not fit a {rows}×{cols} canvas.", nameof(placements));
            }
        }

        return new StitchPlan(rows, cols, [.. placements], flipVertical);
    }

    /// <summary>Canvas row of module <paramref name="module"/>'s row <paramref name="row"/>.</summary>
    public int CanvasRow(int module, int row)
    {
        var r = Placements[module].RowOffset + row;
        return FlipVertical ? Rows - 1 - r : r;
    }

    /// <summary>Copies one module's frame (row-major, its own shape) into the canvas.</summary>
    public void Place<T>(int module, ReadOnlySpan<T> moduleFrame, Span<T> canvas)
    {
        var p = Placements[module];
        for (var r = 0; r < p.Rows; r++)
        {
            moduleFrame.Slice(r * p.Cols, p.Cols).CopyTo(canvas.Slice((CanvasRow(module, r) * Cols) + p.ColOffset, p.Cols));
        }
    }

    /// <summary>
    /// Stitches one frame: reads each module's frame through <paramref name="read"/> into <paramref name="moduleBuffer"/>
    /// (at least the largest module's size) and places it on <paramref name="canvas"/>. The integrate service and
    /// <c>anvil integrate</c> both stitch through here.
    /// </summary>
    public void Stitch(Span<short> canvas, Span<short> moduleBuffer, ModuleFrameReader read)
    {
        for (var k = 0; k < Placements.Count; k++)
        {
            var frame = moduleBuffer[..(Placements[k].Rows * Placements[k].Cols)];
            read(k, frame);
            Place<short>(k, frame, canvas);
        }
    }

    /// <summary>Extracts one module's frame from a canvas (the inverse of <see cref="Place{T}"/>; the simulator uses it).</summary>
    public void Extract<T>(int module, ReadOnlySpan<T> canvas, Span<T> moduleFrame)
    {
        var p = Placements[module];
        for (var r = 0; r < p.Rows; r++)
        {
            canvas.Slice((CanvasRow(module, r) * Cols) + p.ColOffset, p.Cols).CopyTo(moduleFrame.Slice(r * p.Cols, p.Cols));
        }
    }

    /// <summary>1 for canvas pixels no module covers (gaps between modules), else 0.</summary>
    public byte[] GapMask()
    {
        var mask = new byte[Rows * Cols];
        mask.AsSpan().Fill(1);
        for (var m = 0; m < Placements.Count; m++)
        {
            var p = Placements[m];
            for (var r = 0; r < p.Rows; r++)
            {
                mask.AsSpan((CanvasRow(m, r) * Cols) + p.ColOffset, p.Cols).Clear();
            }
        }

        return mask;
    }
}

/// <summary>Reads module <paramref name="module"/>'s part of a frame into <paramref name="destination"/> (rows × cols of that module).</summary>
public delegate void ModuleFrameReader(int module, Span<short> destination);
