#!/usr/bin/python3
"""Reference numbers for Anvil.Pressure's checks, from Debian's python3-scipy (curve_fit) and numpy.

    /usr/bin/python3 tools/pressure-reference/generate.py --out tests/fixtures/pressure

Writes two files:
  fits.json  synthetic 1-D profiles (Gaussian and pseudo-Voigt peaks on a linear background, Poisson noise from
             numpy's legacy RandomState, so the same bytes on every numpy) and scipy.optimize.curve_fit's answer for
             the same model, the same starting point and the same Poisson weights (method='lm', absolute_sigma=True):
             parameters, 1-sigma errors from the covariance, chi-square.
  eos.json   Vinet and third-order Birch-Murnaghan P(V) for the built-in Au and Pt scales, written out here
             independently of the C# code, and V(P) by scipy.optimize.brentq.
The C# tests (tests/Anvil.Pressure.Tests) read these; .ci/run regenerates them and compare.py checks that the
committed copies are still what this machine's scipy produces.
"""
import argparse
import json
import os

import numpy as np
import scipy
from scipy.optimize import brentq, curve_fit

FOUR_LN2 = 4 * np.log(2)


def model(shape, npk, ref):
    per = 4 if shape == "pseudo-voigt" else 3

    def f(x, *p):
        y = p[-2] + p[-1] * (x - ref)
        for k in range(npk):
            c, w, h = p[k * per], p[k * per + 1], p[k * per + 2]
            u = (x - c) / w
            g = np.exp(-FOUR_LN2 * u * u)
            if per == 4:
                eta = p[k * per + 3]
                y = y + h * (eta / (1 + 4 * u * u) + (1 - eta) * g)
            else:
                y = y + h * g
        return y

    return f


CASES = [
    # name, shape, x range, points, true peaks [(c, fwhm, height, eta)], background (b0 at centre, slope), seed, p0 peaks [(c, w, h)]
    ("gauss_single", "gaussian", (10.0, 12.0), 201, [(11.03, 0.12, 800.0, 0.0)], (50.0, 10.0), 11, [(11.0, 0.1, 700.0)]),
    ("pv_single", "pseudo-voigt", (10.0, 12.0), 201, [(10.97, 0.15, 2000.0, 0.4)], (120.0, -20.0), 12, [(11.0, 0.1, 1500.0)]),
    ("pv_low_counts", "pseudo-voigt", (8.5, 9.5), 121, [(9.02, 0.08, 40.0, 0.3)], (5.0, 1.0), 13, [(9.0, 0.1, 30.0)]),
    ("pv_double_overlap", "pseudo-voigt", (10.5, 11.7), 241, [(11.0, 0.10, 600.0, 0.5), (11.15, 0.11, 300.0, 0.3)], (40.0, 0.0), 14,
     [(10.99, 0.1, 500.0), (11.16, 0.1, 250.0)]),
    ("gauss_double", "gaussian", (15.0, 16.0), 161, [(15.4, 0.05, 300.0, 0.0), (15.55, 0.06, 900.0, 0.0)], (30.0, 5.0), 15,
     [(15.41, 0.06, 250.0), (15.54, 0.06, 800.0)]),
    ("pv_weak_high_bg", "pseudo-voigt", (20.0, 21.0), 151, [(20.48, 0.09, 150.0, 0.6)], (2000.0, 100.0), 18, [(20.5, 0.1, 120.0)]),
]


def fits():
    out = []
    for name, shape, (lo, hi), n, peaks, (b0, b1), seed, guess in CASES:
        x = np.linspace(lo, hi, n)
        ref = 0.5 * (x[0] + x[-1])
        per = 4 if shape == "pseudo-voigt" else 3
        truth = []
        for c, w, h, eta in peaks:
            truth += [c, w, h] + ([eta] if per == 4 else [])
        truth += [b0, b1]
        f = model(shape, len(peaks), ref)
        rng = np.random.RandomState(seed)
        y = rng.poisson(f(x, *truth)).astype(float)
        sigma = np.sqrt(np.maximum(y, 1.0))
        p0 = []
        for c, w, h in guess:
            p0 += [c, w, h] + ([0.5] if per == 4 else [])
        # Background start: the line through the means of the first and last tenth (as Anvil's fitter starts).
        e = max(1, n // 10)
        xl, yl, xr, yr = x[:e].mean(), y[:e].mean(), x[-e:].mean(), y[-e:].mean()
        slope = (yr - yl) / (xr - xl)
        p0 += [yl + slope * (ref - xl), slope]
        p, cov = curve_fit(f, x, y, p0=p0, sigma=sigma, absolute_sigma=True, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, maxfev=100000)
        chi2 = float(np.sum(((y - f(x, *p)) / sigma) ** 2))
        out.append({
            "name": name, "shape": shape, "x": x.tolist(), "y": y.tolist(), "sigma": sigma.tolist(), "reference": ref,
            "truth": truth, "p0": p0, "parameters": p.tolist(), "errors": np.sqrt(np.diag(cov)).tolist(),
            "chi2": chi2, "dof": int(n - len(p)),
        })
    return out


def vinet(v, v0, k0, kp):
    x = (v / v0) ** (1.0 / 3.0)
    return 3 * k0 * (1 - x) / x ** 2 * np.exp(1.5 * (kp - 1) * (1 - x))


def bm3(v, v0, k0, kp):
    f = (v0 / v) ** (2.0 / 3.0)
    return 1.5 * k0 * (f ** 3.5 - f ** 2.5) * (1 + 0.75 * (kp - 4) * (f - 1))


# Fei et al. 2007, PNAS 104, 9182, Table 1 (the built-in Au and Pt scales).
SCALES = [
    ("Au", "vinet", 67.850, 167.0, 6.00), ("Au", "bm3", 67.850, 167.0, 5.77),
    ("Pt", "vinet", 60.38, 277.0, 5.08), ("Pt", "bm3", 60.38, 277.0, 4.95),
]


def eos():
    out = []
    for marker, form, v0, k0, kp in SCALES:
        p_of_v = vinet if form == "vinet" else bm3
        ratios = [1.0, 0.98, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65]
        pressures = [float(p_of_v(r * v0, v0, k0, kp)) for r in ratios]
        targets = [0.0, 1.0, 10.0, 30.0, 50.0, 71.0, 100.0, 150.0]
        volumes = [float(brentq(lambda v: p_of_v(v, v0, k0, kp) - t, 0.3 * v0, 1.2 * v0, xtol=1e-14, rtol=1e-15)) for t in targets]
        out.append({"marker": marker, "form": form, "v0": v0, "k0": k0, "k0p": kp,
                    "volume_ratios": ratios, "pressures": pressures, "target_pressures": targets, "volumes": volumes})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    meta = {"numpy": np.__version__, "scipy": scipy.__version__}
    with open(os.path.join(args.out, "fits.json"), "w") as f:
        json.dump({"generator": meta, "cases": fits()}, f, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "eos.json"), "w") as f:
        json.dump({"generator": meta, "scales": eos()}, f, indent=1)
        f.write("\n")
    print(f"wrote fits.json and eos.json to {args.out} (numpy {np.__version__}, scipy {scipy.__version__})")


if __name__ == "__main__":
    main()
