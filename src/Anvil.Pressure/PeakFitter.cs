namespace Anvil.Pressure;

/// <summary>The line shape of every peak in one fit.</summary>
public enum PeakShape
{
    /// <summary>exp(−4 ln2 u²), u = (x − centre)/FWHM.</summary>
    Gaussian,

    /// <summary>η·L + (1 − η)·G with one FWHM for both, L = 1/(1 + 4u²), the mixing η fitted in [0, 1].</summary>
    PseudoVoigt,
}

/// <summary>A starting point for one peak: centre, FWHM and height (height ≤ 0: taken from the data).</summary>
public readonly record struct PeakGuess(double Position, double Fwhm, double Amplitude = 0);

/// <summary>One fitted peak with 1σ standard errors from the covariance matrix.</summary>
public sealed record FittedPeak(
    double Position,
    double PositionError,
    double Fwhm,
    double FwhmError,
    double Amplitude,
    double AmplitudeError,
    double Eta,
    double EtaError);

/// <summary>
/// The result of a least-squares fit of peaks on a linear background b0 + b1·(x − <see cref="Reference"/>).
/// Errors are 1σ, from (JᵀWJ)⁻¹ with W = 1/σ² (the σ given are taken as true: scipy's <c>absolute_sigma=True</c>).
/// </summary>
public sealed record PeakFitResult(
    IReadOnlyList<FittedPeak> Peaks,
    double Background0,
    double Background0Error,
    double Background1,
    double Background1Error,
    double Reference,
    double ChiSquare,
    int DegreesOfFreedom,
    int Iterations,
    bool Converged,
    double[] Parameters,
    double[,] Covariance)
{
    /// <summary>χ² per degree of freedom: ≈ 1 when the model fits within Poisson noise.</summary>
    public double ReducedChiSquare => DegreesOfFreedom > 0 ? ChiSquare / DegreesOfFreedom : double.NaN;

    /// <summary>Background at <paramref name="x"/>.</summary>
    public double BackgroundAt(double x) => Background0 + (Background1 * (x - Reference));
}

/// <summary>Options of <see cref="PeakFitter.Fit"/>.</summary>
public sealed record PeakFitOptions
{
    public PeakShape Shape { get; init; } = PeakShape.PseudoVoigt;

    /// <summary>Starting η of pseudo-Voigt peaks.</summary>
    public double InitialEta { get; init; } = 0.5;

    public int MaxIterations { get; init; } = 200;

    /// <summary>Stop when χ² falls by less than this fraction in an accepted step (and the step is tiny).</summary>
    public double Tolerance { get; init; } = 1e-12;
}

/// <summary>
/// Fits one or more peaks plus a linear background to a profile by weighted least squares with a
/// Levenberg–Marquardt iteration of our own (Marquardt's diagonal scaling, analytic derivatives).
/// Parameters per peak: centre, FWHM, height (and η for pseudo-Voigt); then b0, b1.
/// </summary>
public static class PeakFitter
{
    private const double FourLn2 = 2.772588722239781; // 4·ln 2

    /// <summary>Poisson weights: σ = √max(y, 1) (a zero-count bin still has an uncertainty of one count).</summary>
    public static double[] PoissonSigma(ReadOnlySpan<double> y)
    {
        var sigma = new double[y.Length];
        for (var i = 0; i < y.Length; i++)
        {
            sigma[i] = Math.Sqrt(Math.Max(y[i], 1.0));
        }

        return sigma;
    }

    /// <summary>Number of fitted parameters per peak for <paramref name="shape"/>.</summary>
    public static int ParametersPerPeak(PeakShape shape) => shape == PeakShape.PseudoVoigt ? 4 : 3;

    /// <summary>The model at <paramref name="x"/> for a parameter vector as <see cref="PeakFitResult.Parameters"/> holds it.</summary>
    public static double Evaluate(PeakShape shape, ReadOnlySpan<double> p, double reference, double x)
    {
        var per = ParametersPerPeak(shape);
        var peaks = (p.Length - 2) / per;
        var y = p[^2] + (p[^1] * (x - reference));
        for (var k = 0; k < peaks; k++)
        {
            var o = k * per;
            var u = (x - p[o]) / p[o + 1];
            var g = Math.Exp(-FourLn2 * u * u);
            if (shape == PeakShape.PseudoVoigt)
            {
                var l = 1.0 / (1.0 + (4 * u * u));
                y += p[o + 2] * ((p[o + 3] * l) + ((1 - p[o + 3]) * g));
            }
            else
            {
                y += p[o + 2] * g;
            }
        }

        return y;
    }

    /// <summary>
    /// Fits <paramref name="guesses"/> to (x, y) with per-point σ, starting the background from the line through the
    /// means of the first and last tenth of the points, each height from the data at its guessed centre (when not
    /// given) and η from <see cref="PeakFitOptions.InitialEta"/>. Points with a non-finite y or σ ≤ 0 must be removed
    /// by the caller (the tracker flags them). Throws <see cref="ArgumentException"/> when there are fewer points than parameters.
    /// </summary>
    public static PeakFitResult Fit(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> sigma, IReadOnlyList<PeakGuess> guesses, PeakFitOptions? options = null)
    {
        options ??= new PeakFitOptions();
        if (guesses.Count == 0)
        {
            throw new ArgumentException("give at least one peak to fit.");
        }

        if (x.Length < 2)
        {
            throw new ArgumentException("a fit needs points.");
        }

        return FitFrom(x, y, sigma, InitialParameters(x, y, guesses, options, 0.5 * (x[0] + x[^1])), options);
    }

    /// <summary>
    /// Fits from a complete starting vector laid out as <see cref="PeakFitResult.Parameters"/>: per peak centre, FWHM,
    /// height (, η); then b0, b1 about the window's centre (x[0] + x[^1])/2.
    /// </summary>
    public static PeakFitResult FitFrom(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> sigma, ReadOnlySpan<double> initial, PeakFitOptions? options = null)
    {
        options ??= new PeakFitOptions();
        if (x.Length != y.Length || x.Length != sigma.Length)
        {
            throw new ArgumentException("x, y and sigma must have the same length.");
        }

        var shape = options.Shape;
        var per = ParametersPerPeak(shape);
        if (initial.Length < per + 2 || (initial.Length - 2) % per != 0)
        {
            throw new ArgumentException($"a {shape} fit needs {per} parameters per peak plus 2 for the background.");
        }

        var peakCount = (initial.Length - 2) / per;
        var np = initial.Length;
        var n = x.Length;
        if (n <= np)
        {
            throw new ArgumentException($"{n} points cannot determine {np} parameters.");
        }

        for (var i = 0; i < n; i++)
        {
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i]) || !(sigma[i] > 0) || !double.IsFinite(sigma[i]))
            {
                throw new ArgumentException($"point {i} is not finite or has σ ≤ 0.");
            }
        }

        var reference = 0.5 * (x[0] + x[n - 1]);
        var p = initial.ToArray();
        Constrain(shape, p, peakCount);
        var xs = x.ToArray();
        var ys = y.ToArray();
        var weights = new double[n];
        for (var i = 0; i < n; i++)
        {
            weights[i] = 1.0 / sigma[i];
        }

        var jac = new double[n, np];
        var residual = new double[n];
        var chi2 = Residuals(shape, p, reference, xs, ys, weights, residual);
        var lambda = 1e-3;
        var converged = false;
        var iteration = 0;
        var alpha = new double[np, np];
        var beta = new double[np];
        var trial = new double[np];
        var trialResidual = new double[n];
        for (; iteration < options.MaxIterations && !converged; iteration++)
        {
            Jacobian(shape, p, reference, xs, weights, jac);
            Normal(jac, residual, alpha, beta);
            var accepted = false;
            while (!accepted)
            {
                var a = (double[,])alpha.Clone();
                var rhs = (double[])beta.Clone();
                for (var j = 0; j < np; j++)
                {
                    a[j, j] = alpha[j, j] * (1 + lambda);
                    if (a[j, j] == 0)
                    {
                        a[j, j] = lambda;
                    }
                }

                // η at a bound with the descent pointing outwards stays there for this step (an active bound), so
                // the other parameters converge instead of chasing a clamped direction.
                FreezeActiveBounds(shape, p, peakCount, a, rhs);
                var step = Solve(a, rhs);
                if (step is null)
                {
                    lambda *= 10;
                    if (lambda > 1e12)
                    {
                        break;
                    }

                    continue;
                }

                for (var j = 0; j < np; j++)
                {
                    trial[j] = p[j] + step[j];
                }

                Constrain(shape, trial, peakCount);
                var trialChi2 = Residuals(shape, trial, reference, xs, ys, weights, trialResidual);
                if (double.IsFinite(trialChi2) && trialChi2 <= chi2)
                {
                    var small = true;
                    for (var j = 0; j < np; j++)
                    {
                        if (Math.Abs(trial[j] - p[j]) > 1e-10 * (Math.Abs(p[j]) + 1e-10))
                        {
                            small = false;
                        }
                    }

                    var drop = chi2 - trialChi2;
                    Array.Copy(trial, p, np);
                    Array.Copy(trialResidual, residual, n);
                    chi2 = trialChi2;
                    lambda = Math.Max(lambda / 10, 1e-12);
                    accepted = true;
                    converged = small || drop <= options.Tolerance * Math.Max(chi2, 1e-300);
                }
                else
                {
                    lambda *= 10;
                    if (lambda > 1e12)
                    {
                        // No step lowers χ²: we are at the minimum within rounding.
                        converged = true;
                        break;
                    }
                }
            }

            if (!accepted && !converged)
            {
                break;
            }
        }

        Jacobian(shape, p, reference, xs, weights, jac);
        Normal(jac, residual, alpha, beta);
        var covariance = Invert(alpha) ?? Filled(np, double.NaN);
        var peaks = new List<FittedPeak>(peakCount);
        for (var k = 0; k < peakCount; k++)
        {
            var o = k * per;
            peaks.Add(new FittedPeak(
                p[o], Error(covariance, o),
                p[o + 1], Error(covariance, o + 1),
                p[o + 2], Error(covariance, o + 2),
                shape == PeakShape.PseudoVoigt ? p[o + 3] : 0, shape == PeakShape.PseudoVoigt ? Error(covariance, o + 3) : 0));
        }

        return new PeakFitResult(peaks, p[np - 2], Error(covariance, np - 2), p[np - 1], Error(covariance, np - 1), reference,
            chi2, n - np, iteration, converged, p, covariance);
    }

    private static double[] InitialParameters(ReadOnlySpan<double> x, ReadOnlySpan<double> y, IReadOnlyList<PeakGuess> guesses, PeakFitOptions options, double reference)
    {
        var per = ParametersPerPeak(options.Shape);
        var np = (guesses.Count * per) + 2;
        var p = new double[np];

        // Background through the mean of the first and last few points.
        var edge = Math.Max(1, x.Length / 10);
        double xl = 0, yl = 0, xr = 0, yr = 0;
        for (var i = 0; i < edge; i++)
        {
            xl += x[i];
            yl += y[i];
            xr += x[x.Length - 1 - i];
            yr += y[x.Length - 1 - i];
        }

        xl /= edge;
        yl /= edge;
        xr /= edge;
        yr /= edge;
        var slope = xr > xl ? (yr - yl) / (xr - xl) : 0;
        var b0 = yl + (slope * (reference - xl));
        p[np - 2] = b0;
        p[np - 1] = slope;
        for (var k = 0; k < guesses.Count; k++)
        {
            var g = guesses[k];
            var o = k * per;
            p[o] = g.Position;
            p[o + 1] = g.Fwhm > 0 ? g.Fwhm : (x[^1] - x[0]) / 10;
            var amplitude = g.Amplitude;
            if (amplitude <= 0)
            {
                var nearest = 0;
                for (var i = 1; i < x.Length; i++)
                {
                    if (Math.Abs(x[i] - g.Position) < Math.Abs(x[nearest] - g.Position))
                    {
                        nearest = i;
                    }
                }

                amplitude = Math.Max(y[nearest] - (b0 + (slope * (x[nearest] - reference))), 1e-6);
            }

            p[o + 2] = amplitude;
            if (options.Shape == PeakShape.PseudoVoigt)
            {
                p[o + 3] = Math.Clamp(options.InitialEta, 0, 1);
            }
        }

        return p;
    }

    private static void FreezeActiveBounds(PeakShape shape, double[] p, int peaks, double[,] a, double[] rhs)
    {
        if (shape != PeakShape.PseudoVoigt)
        {
            return;
        }

        var np = rhs.Length;
        for (var k = 0; k < peaks; k++)
        {
            var j = (k * 4) + 3;
            if ((p[j] <= 0 && rhs[j] < 0) || (p[j] >= 1 && rhs[j] > 0))
            {
                for (var c = 0; c < np; c++)
                {
                    a[j, c] = 0;
                    a[c, j] = 0;
                }

                a[j, j] = 1;
                rhs[j] = 0;
            }
        }
    }

    private static void Constrain(PeakShape shape, double[] p, int peaks)
    {
        var per = ParametersPerPeak(shape);
        for (var k = 0; k < peaks; k++)
        {
            var o = k * per;
            p[o + 1] = Math.Abs(p[o + 1]);
            if (p[o + 1] == 0)
            {
                p[o + 1] = 1e-12;
            }

            if (shape == PeakShape.PseudoVoigt)
            {
                p[o + 3] = Math.Clamp(p[o + 3], 0, 1);
            }
        }
    }

    private static double Residuals(PeakShape shape, double[] p, double reference, double[] x, double[] y, double[] w, double[] r)
    {
        var chi2 = 0.0;
        for (var i = 0; i < x.Length; i++)
        {
            r[i] = (y[i] - Evaluate(shape, p, reference, x[i])) * w[i];
            chi2 += r[i] * r[i];
        }

        return chi2;
    }

    private static void Jacobian(PeakShape shape, double[] p, double reference, double[] x, double[] w, double[,] jac)
    {
        var per = ParametersPerPeak(shape);
        var peaks = (p.Length - 2) / per;
        for (var i = 0; i < x.Length; i++)
        {
            for (var k = 0; k < peaks; k++)
            {
                var o = k * per;
                var c = p[o];
                var fw = p[o + 1];
                var h = p[o + 2];
                var u = (x[i] - c) / fw;
                var g = Math.Exp(-FourLn2 * u * u);
                var dgdc = g * 2 * FourLn2 * u / fw;
                var dgdw = g * 2 * FourLn2 * u * u / fw;
                if (shape == PeakShape.PseudoVoigt)
                {
                    var eta = p[o + 3];
                    var l = 1.0 / (1.0 + (4 * u * u));
                    var dldc = l * l * 8 * u / fw;
                    var dldw = l * l * 8 * u * u / fw;
                    jac[i, o] = h * ((eta * dldc) + ((1 - eta) * dgdc)) * w[i];
                    jac[i, o + 1] = h * ((eta * dldw) + ((1 - eta) * dgdw)) * w[i];
                    jac[i, o + 2] = ((eta * l) + ((1 - eta) * g)) * w[i];
                    jac[i, o + 3] = h * (l - g) * w[i];
                }
                else
                {
                    jac[i, o] = h * dgdc * w[i];
                    jac[i, o + 1] = h * dgdw * w[i];
                    jac[i, o + 2] = g * w[i];
                }
            }

            jac[i, p.Length - 2] = w[i];
            jac[i, p.Length - 1] = (x[i] - reference) * w[i];
        }
    }

    // α = JᵀJ, β = Jᵀr (J and r already weighted).
    private static void Normal(double[,] jac, double[] r, double[,] alpha, double[] beta)
    {
        var n = jac.GetLength(0);
        var np = jac.GetLength(1);
        for (var a = 0; a < np; a++)
        {
            var sb = 0.0;
            for (var i = 0; i < n; i++)
            {
                sb += jac[i, a] * r[i];
            }

            beta[a] = sb;
            for (var b = 0; b <= a; b++)
            {
                var s = 0.0;
                for (var i = 0; i < n; i++)
                {
                    s += jac[i, a] * jac[i, b];
                }

                alpha[a, b] = s;
                alpha[b, a] = s;
            }
        }
    }

    /// <summary>Solves A·x = b by Gaussian elimination with partial pivoting; null when A is singular.</summary>
    internal static double[]? Solve(double[,] a, double[] b)
    {
        var n = b.Length;
        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            for (var r = col + 1; r < n; r++)
            {
                if (Math.Abs(m[r, col]) > Math.Abs(m[pivot, col]))
                {
                    pivot = r;
                }
            }

            if (!(Math.Abs(m[pivot, col]) > 1e-300))
            {
                return null;
            }

            if (pivot != col)
            {
                for (var c = 0; c < n; c++)
                {
                    (m[col, c], m[pivot, c]) = (m[pivot, c], m[col, c]);
                }

                (x[col], x[pivot]) = (x[pivot], x[col]);
            }

            for (var r = col + 1; r < n; r++)
            {
                var f = m[r, col] / m[col, col];
                if (f == 0)
                {
                    continue;
                }

                for (var c = col; c < n; c++)
                {
                    m[r, c] -= f * m[col, c];
                }

                x[r] -= f * x[col];
            }
        }

        for (var r = n - 1; r >= 0; r--)
        {
            var s = x[r];
            for (var c = r + 1; c < n; c++)
            {
                s -= m[r, c] * x[c];
            }

            x[r] = s / m[r, r];
        }

        foreach (var v in x)
        {
            if (!double.IsFinite(v))
            {
                return null;
            }
        }

        return x;
    }

    private static double[,]? Invert(double[,] a)
    {
        var n = a.GetLength(0);
        var inverse = new double[n, n];
        for (var c = 0; c < n; c++)
        {
            var e = new double[n];
            e[c] = 1;
            var column = Solve(a, e);
            if (column is null)
            {
                return null;
            }

            for (var r = 0; r < n; r++)
            {
                inverse[r, c] = column[r];
            }
        }

        return inverse;
    }

    private static double[,] Filled(int n, double value)
    {
        var m = new double[n, n];
        for (var r = 0; r < n; r++)
        {
            for (var c = 0; c < n; c++)
            {
                m[r, c] = value;
            }
        }

        return m;
    }

    private static double Error(double[,] covariance, int i) => covariance[i, i] >= 0 ? Math.Sqrt(covariance[i, i]) : double.NaN;
}
