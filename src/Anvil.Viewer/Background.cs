namespace Anvil.Viewer;

/// <summary>
/// An automatic per-profile background: a smoothed iterative baseline. Starting from the profile, each iteration
/// replaces every point by the smaller of itself and the boxcar mean of its neighbourhood (2w + 1 bins), so peaks
/// narrower than the window are shaved off while the slowly varying background stays; a last boxcar pass smooths
/// the result. NaN bins (masked, outside the detector) are filled from their finite neighbours first and stay NaN.
/// Parameters: <c>window</c> w as a fraction of the profile's bins (default 0.02, at least 1 bin), and
/// <c>iterations</c> (default 50). In the spirit of DIOPTAS's smoothed iterative baseline, written from that idea.
/// </summary>
public static class Background
{
    /// <summary>The default half-width of the window, as a fraction of the bins.</summary>
    public const double DefaultWindow = 0.02;

    /// <summary>The default number of clipping iterations.</summary>
    public const int DefaultIterations = 50;

    /// <summary>The background of <paramref name="profile"/> (same length).</summary>
    public static float[] Estimate(ReadOnlySpan<float> profile, double window = DefaultWindow, int iterations = DefaultIterations)
    {
        var n = profile.Length;
        var result = new float[n];
        if (n == 0)
        {
            return result;
        }

        var halfWidth = Math.Max(1, (int)Math.Round(window * n));
        var b = new double[n];
        var finite = new bool[n];
        var last = double.NaN;
        for (var i = 0; i < n; i++)
        {
            finite[i] = float.IsFinite(profile[i]);
            if (finite[i])
            {
                last = profile[i];
            }

            b[i] = finite[i] ? profile[i] : last;
        }

        // Leading NaNs take the first finite value; all-NaN stays NaN.
        var firstFinite = Array.FindIndex(finite, f => f);
        if (firstFinite < 0)
        {
            Array.Fill(result, float.NaN);
            return result;
        }

        for (var i = 0; i < firstFinite; i++)
        {
            b[i] = profile[firstFinite];
        }

        var smooth = new double[n];
        for (var k = 0; k < iterations; k++)
        {
            Boxcar(b, smooth, halfWidth);
            for (var i = 0; i < n; i++)
            {
                b[i] = Math.Min(b[i], smooth[i]);
            }
        }

        Boxcar(b, smooth, halfWidth);
        for (var i = 0; i < n; i++)
        {
            result[i] = finite[i] ? (float)smooth[i] : float.NaN;
        }

        return result;
    }

    /// <summary><paramref name="profile"/> minus its background.</summary>
    public static float[] Subtract(ReadOnlySpan<float> profile, double window = DefaultWindow, int iterations = DefaultIterations)
    {
        var background = Estimate(profile, window, iterations);
        for (var i = 0; i < background.Length; i++)
        {
            background[i] = profile[i] - background[i];
        }

        return background;
    }

    // Mean over [i - w, i + w] clipped to the array (running sum: O(n)).
    private static void Boxcar(double[] source, double[] target, int w)
    {
        var n = source.Length;
        var prefix = new double[n + 1];
        for (var i = 0; i < n; i++)
        {
            prefix[i + 1] = prefix[i] + source[i];
        }

        for (var i = 0; i < n; i++)
        {
            var a = Math.Max(0, i - w);
            var b = Math.Min(n, i + w + 1);
            target[i] = (prefix[b] - prefix[a]) / (b - a);
        }
    }
}
