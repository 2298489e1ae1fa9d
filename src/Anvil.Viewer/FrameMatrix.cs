namespace Anvil.Viewer;

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

    /// <summary>True when row <paramref name="row"/> holds data.</summary>
    public bool Has(int row) => !Row(row).IsEmpty;
}
