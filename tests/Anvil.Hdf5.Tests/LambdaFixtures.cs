using System.Text.Json;

namespace Anvil.Hdf5.Tests;

/// <summary>
/// Reference values of the real Lambda fixtures, computed by h5py into tests/fixtures/lambda/frame_sums.json with
/// (run in tests/fixtures/lambda; "S" sums value × weight per frame in int64):
/// <code>
/// /usr/bin/python3 -c 'import h5py,json,glob,numpy as n;S=lambda a,w:[int(v) for v in (a.astype(n.int64)*w).sum(axis=(1,2))];print(json.dumps({p:(lambda d,a:{"shape":list(a.shape),"translation":[float(v) for v in d["translation/distance"][()]],"sequence_number":[int(v) for v in d["sequence_number"][()]],"frame_sums":S(a,1),"col_weighted_sums":S(a,n.arange(1,a.shape[2]+1)[None,None,:]),"row_weighted_sums":S(a,n.arange(1,a.shape[1]+1)[None,:,None])})(f["entry/instrument/detector"],f["entry/instrument/detector/data"][()]) for p in sorted(glob.glob("*.nxs")) for f in [h5py.File(p,"r")]},indent=0))' > frame_sums.json
/// </code>
/// </summary>
internal static class LambdaFixtures
{
    private static readonly JsonSerializerOptions SnakeCase = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly Lazy<Dictionary<string, Reference>> References = new(Load);

    public static IReadOnlyDictionary<string, Reference> All => References.Value;

    public static IEnumerable<object[]> FileNames => All.Keys.Order().Select(name => new object[] { name });

    public static string PathOf(string name) => Path.Combine(TestPaths.LambdaFixtures, name);

    private static Dictionary<string, Reference> Load()
    {
        var json = File.ReadAllText(Path.Combine(TestPaths.LambdaFixtures, "frame_sums.json"));
        return JsonSerializer.Deserialize<Dictionary<string, Reference>>(json, SnakeCase)!;
    }

    /// <summary>One file's h5py reference: shape (n, rows, cols), translation, sequence numbers and per-frame sums.</summary>
    public sealed record Reference(
        int[] Shape,
        float[] Translation,
        int[] SequenceNumber,
        long[] FrameSums,
        long[] ColWeightedSums,
        long[] RowWeightedSums);

    /// <summary>Σ v, Σ v·(col+1), Σ v·(row+1) of one frame, as the generator computes them.</summary>
    public static (long Sum, long ColWeighted, long RowWeighted) Sums(ReadOnlySpan<short> frame, int rows, int cols)
    {
        long sum = 0, colWeighted = 0, rowWeighted = 0;
        for (var r = 0; r < rows; r++)
        {
            var row = frame.Slice(r * cols, cols);
            long rowSum = 0;
            for (var c = 0; c < cols; c++)
            {
                rowSum += row[c];
                colWeighted += (long)row[c] * (c + 1);
            }

            sum += rowSum;
            rowWeighted += rowSum * (r + 1);
        }

        return (sum, colWeighted, rowWeighted);
    }
}
