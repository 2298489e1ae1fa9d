namespace Anvil.Viewer;

/// <summary>
/// A coarser level of a large matrix: each cell is a block of <paramref name="RowBlock"/> rows ×
/// <paramref name="ColBlock"/> bins (its finite values' mean, and their maximum).
/// </summary>
public sealed record CoarseLevel(int RowBlock, int ColBlock, FrameMatrix Mean, FrameMatrix Max);

/// <summary>
/// Frames × radial bins of one acquisition (row r = frame r + 1), as the viewer reads it: from a finished result file
/// (one dense array) or growing while profiles arrive from the broker. Rows not yet known read back empty.
/// Thread-safe: a live matrix grows on one thread while requests read it on others.
/// </summary>
public sealed class FrameMatrix
{
    private readonly Lock gate = new();
    private readonly float[]? dense;
    private float[]?[] rows;
    private int rowCount;
    private int filled;

    private FrameMatrix(int columns, float[]? dense, int rowCount)
    {
        Columns = columns;
        this.dense = dense;
        this.rowCount = rowCount;
        filled = dense is null ? 0 : rowCount;
        rows = dense is null ? new float[]?[16] : [];
    }

    /// <summary>Bins per row.</summary>
    public int Columns { get; }

    /// <summary>Rows (the highest frame number seen).</summary>
    public int Rows
    {
        get
        {
            lock (gate)
            {
                return rowCount;
            }
        }
    }

    /// <summary>Rows that hold data (live: frames received so far).</summary>
    public int Filled
    {
        get
        {
            lock (gate)
            {
                return filled;
            }
        }
    }

    /// <summary>A finished acquisition: <paramref name="data"/> is row-major, rows × <paramref name="columns"/>.</summary>
    public static FrameMatrix FromDense(float[] data, int columns)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        return new FrameMatrix(columns, data, data.Length / columns);
    }

    /// <summary>An empty matrix that grows with <see cref="Set"/>.</summary>
    public static FrameMatrix Live(int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        return new FrameMatrix(columns, null, 0);
    }

    /// <summary>Stores (or replaces) row <paramref name="row"/> (0-based) of a live matrix.</summary>
    public void Set(int row, ReadOnlySpan<float> values)
    {
        if (dense is not null)
        {
            throw new InvalidOperationException("A matrix read from a result file does not change.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(row);
        if (values.Length != Columns)
        {
            throw new ArgumentException($"A row has {Columns} bins, not {values.Length}.", nameof(values));
        }

        var copy = values.ToArray();
        lock (gate)
        {
            if (row >= rows.Length)
            {
                Array.Resize(ref rows, Math.Max(row + 1, rows.Length * 2));
            }

            if (rows[row] is null)
            {
                filled++;
            }

            rows[row] = copy;
            rowCount = Math.Max(rowCount, row + 1);
        }
    }

    /// <summary>Row <paramref name="row"/> (0-based), or an empty span when it holds no data.</summary>
    public ReadOnlySpan<float> Row(int row)
    {
        if (dense is not null)
        {
            return (uint)row < (uint)rowCount ? dense.AsSpan(row * Columns, Columns) : [];
        }

        lock (gate)
        {
            return (uint)row < (uint)rows.Length && rows[row] is { } values ? values : [];
        }
    }

    /// <summary>A coarser copy (block means and maxima) that overview images read instead of every cell, or null.</summary>
    public CoarseLevel? Coarse { get; private set; }

    /// <summary>
    /// Builds <see cref="Coarse"/> for a large finished matrix: blocks of consecutive frames (every bin kept) so the
    /// coarse level has about <paramref name="targetCells"/> cells (none when the matrix is already that small).
    /// One parallel pass.
    /// </summary>
    public void BuildCoarse(long targetCells = 8_000_000)
    {
        if (dense is null || (long)rowCount * Columns <= targetCells * 2)
        {
            return;
        }

        // Frames only: the overview's pixels are hundreds of frames tall but only a few bins wide.
        const int colBlock = 1;
        var rowBlock = Math.Max(1, (int)Math.Ceiling((double)rowCount * Columns / targetCells / colBlock));
        var rows = (rowCount + rowBlock - 1) / rowBlock;
        var cols = (Columns + colBlock - 1) / colBlock;
        var mean = new float[rows * cols];
        var max = new float[rows * cols];
        Parallel.For(0, rows, r =>
        {
            var sums = new double[cols];
            var counts = new int[cols];
            var maxima = new float[cols];
            Array.Fill(maxima, float.NegativeInfinity);
            for (var row = r * rowBlock; row < Math.Min(rowCount, (r + 1) * rowBlock); row++)
            {
                var data = dense.AsSpan(row * Columns, Columns);
                for (var c = 0; c < Columns; c++)
                {
                    var v = data[c];
                    if (float.IsFinite(v))
                    {
                        var k = c / colBlock;
                        sums[k] += v;
                        counts[k]++;
                        maxima[k] = Math.Max(maxima[k], v);
                    }
                }
            }

            for (var k = 0; k < cols; k++)
            {
                mean[(r * cols) + k] = counts[k] == 0 ? float.NaN : (float)(sums[k] / counts[k]);
                max[(r * cols) + k] = counts[k] == 0 ? float.NaN : maxima[k];
            }
        });
        Coarse = new CoarseLevel(rowBlock, colBlock, FromDense(mean, cols), FromDense(max, cols));
    }

    /// <summary>True when row <paramref name="row"/> holds data.</summary>
    public bool Has(int row) => !Row(row).IsEmpty;
}
