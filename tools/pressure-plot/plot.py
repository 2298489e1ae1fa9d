#!/usr/bin/python3
"""P–t figure of an Anvil result: the heatmap (frames × 2θ) with the fitted marker position on every row, and P(t)
beside it with ±1σ bars, from /processed/pressure (merge's online stage or `anvil pressure`).

Debian's python3-h5py and python3-matplotlib (run with /usr/bin/python3):
    /usr/bin/python3 tools/pressure-plot/plot.py out/sim_…_00001.nxs docs/img/pressure-demo.png
"""
import re
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(result, png):
    with h5py.File(result, "r") as f:
        data = f["/processed/result/data"][()]
        tth = f["/processed/result/binning"][()]
        g = f["/processed/pressure"]
        p, pe = g["pressure"][()], g["pressure_error"][()]
        pos, t, ok = g["position"][()], g["frame_time"][()], g["ok"][()].astype(bool)
        marker, hkl = g.attrs["marker"], g.attrs["hkl"]
        eos, program = g.attrs["eos"], g.attrs["program"]
        source = g["frame_time"].attrs["source"]
    frames = np.arange(1, len(p) + 1)
    timed = np.isfinite(t).any()
    y = t if timed else frames
    ylabel = "t (s)" if timed else "frame"
    lo, hi = np.nanmin(pos) - 0.6, np.nanmax(pos) + 0.6
    cols = (tth >= lo) & (tth <= hi)

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 5.2), sharey=True, gridspec_kw={"width_ratios": [1.6, 1]})
    img = np.sqrt(np.clip(data[:, cols], 0, None))
    extent = [tth[cols][0], tth[cols][-1], y[-1], y[0]]
    ax0.imshow(img, aspect="auto", extent=extent, cmap="viridis", interpolation="nearest",
               vmin=np.nanpercentile(img, 1), vmax=np.nanpercentile(img, 99.5))
    ax0.plot(pos[ok], y[ok], ".", ms=1.5, color="#ff00ff", label=f"fitted {marker} {hkl}")
    ax0.set_xlabel("2θ (°)")
    ax0.set_ylabel(ylabel)
    ax0.legend(loc="lower left", fontsize=8, markerscale=6)
    ax0.set_title("√I, frames × 2θ", fontsize=10)
    ax1.errorbar(p[ok], y[ok], xerr=pe[ok], fmt="-", lw=1, color="#1f77b4", ecolor="#9db4cf")
    ax1.set_xlabel(f"P (GPa) from {marker} {hkl}, {eos}")
    ax1.set_title(f"{ok.sum()} of {len(p)} frames, max {np.nanmax(p):.1f} GPa\nmedian 1σ {np.nanmedian(pe):.4f} GPa", fontsize=10)
    ax1.grid(alpha=0.3)
    source = re.sub(r"/\S*/", "", str(source))  # file names without their folders
    fig.suptitle(f"{result.split('/')[-1]} ({program})\nframe time: {source[:120]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png}: {ok.sum()} of {len(p)} frames, {np.nanmin(p):.2f}–{np.nanmax(p):.2f} GPa")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
