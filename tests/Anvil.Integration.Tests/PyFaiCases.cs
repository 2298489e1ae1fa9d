using System.Text.Json;
using Anvil.Integration.Formats;
using Anvil.Testing;

namespace Anvil.Integration.Tests;

/// <summary>The committed pyFAI 0.21.3 reference cases (tests/fixtures/pyfai, written by tools/pyfai-reference/generate.py).</summary>
internal static class PyFaiCases
{
    public static string Folder => Path.Combine(TestPaths.Fixtures, "pyfai");

    private static readonly Lazy<Dictionary<string, JsonElement>> Cases = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "manifest.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.Clone());
    });

    public static IEnumerable<string> Names => Cases.Value.Keys;

    public static JsonElement Get(string name) => Cases.Value[name];

    public static string? Str(this JsonElement c, string key) =>
        c.GetProperty(key).ValueKind == JsonValueKind.Null ? null : c.GetProperty(key).GetString();

    public static double? Num(this JsonElement c, string key) =>
        c.GetProperty(key).ValueKind == JsonValueKind.Null ? null : c.GetProperty(key).GetDouble();

    public static (double, double)? Range(this JsonElement c, string key) =>
        c.GetProperty(key).ValueKind == JsonValueKind.Null ? null : (c.GetProperty(key)[0].GetDouble(), c.GetProperty(key)[1].GetDouble());

    /// <summary>The case's settings. Lambda cases replace pyFAI's dummy = −1 by Anvil's ExcludeNegative rule.</summary>
    public static IntegrationSettings Settings(JsonElement c)
    {
        var lambda = c.Str("frame") == "formula:lambda";
        return new IntegrationSettings
        {
            Npt = c.GetProperty("npt").GetInt32(),
            Unit = RadialUnits.Parse(c.Str("unit")!),
            Method = SplitMethods.Parse(c.Str("method")!),
            PolarizationFactor = c.Num("polarization"),
            CorrectSolidAngle = c.GetProperty("solid_angle").GetBoolean(),
            RadialRange = c.Range("radial_range"),
            AzimuthRange = c.Range("azimuth_range"),
            Dummy = lambda ? null : c.Num("dummy"),
            DeltaDummy = lambda ? null : c.Num("delta_dummy"),
            ExcludeNegative = lambda,
        };
    }

    public static Geometry Geometry(JsonElement c) => PoniFile.Load(Path.Combine(Folder, c.Str("poni")!));

    /// <summary>The case's frame as float64 values (integers, or float32 values with NaN for the NaN cases).</summary>
    public static (int Rows, int Cols, double[] Pixels) Frame(JsonElement c)
    {
        if (c.Str("frame") == "formula:lambda")
        {
            var f = LambdaFrame();
            return (1833, 1556, Array.ConvertAll(f, v => (double)v));
        }

        var a = NpyFile.Read(Path.Combine(Folder, c.Str("frame")!));
        return (a.Shape[0], a.Shape[1], a.ToDoubles());
    }

    /// <summary>True when the frame holds non-integers (NaN): only float kernels can take it.</summary>
    public static bool FloatFrame(JsonElement c) => c.Str("frame")!.Contains("nan", StringComparison.Ordinal);

    /// <summary>The generator's Lambda-canvas formula (generate.py: lambda_frame).</summary>
    public static short[] LambdaFrame()
    {
        const int rows = 1833, cols = 1556;
        var f = new short[rows * cols];
        for (long i = 0; i < rows; i++)
        {
            for (long j = 0; j < cols; j++)
            {
                var v = (i * 1103515245 + j * 12345 + i * j * 31) % 2147483647 % 4001;
                f[i * cols + j] = j is >= 772 and < 782 ? (short)-1 : (short)v;
            }
        }

        return f;
    }

    public static byte[] Mask(JsonElement c) =>
        c.Str("mask") is { } m ? MaskFile.Load(Path.Combine(Folder, m)).Data : [];

    public static float[] Image(JsonElement c, string key) =>
        c.Str(key) is { } f ? Array.ConvertAll(NpyFile.Read(Path.Combine(Folder, f)).ToDoubles(), v => (float)v) : [];

    /// <summary>Expected table: columns radial, intensity, sigma, count, sum_signal, sum_normalization, sum_variance.</summary>
    public static double[,] Expected(JsonElement c)
    {
        var a = NpyFile.Read(Path.Combine(Folder, c.Str("expected")!));
        var flat = a.ToDoubles();
        var table = new double[a.Shape[0], a.Shape[1]];
        Buffer.BlockCopy(flat, 0, table, 0, flat.Length * sizeof(double));
        return table;
    }
}
