#!/usr/bin/env python3
"""Compares two Anvil result files (NeXus, /processed/result): the container stack's against the in-process
demo's for the same chunk files. Same frames in the same order, same radial axis, same shape, and profiles that
agree to float32 rounding (both runs use the same code; only scheduling differs). Also refuses trivial files:
every value finite, and the profiles not all zero. Exit 0 when they match, 1 with the reasons otherwise."""
import sys

import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        r = f["/processed/result"]
        return {
            "data": r["data"][()],
            "errors": r["errors"][()] if "errors" in r else None,
            "frame": r["frame"][()],
            "binning": r["binning"][()],
        }


def main(actual_path, expected_path, frames):
    a, e = load(actual_path), load(expected_path)
    problems = []
    if a["data"].shape != e["data"].shape:
        problems.append(f"shape {a['data'].shape} != {e['data'].shape}")
    if a["data"].shape[0] != frames:
        problems.append(f"{a['data'].shape[0]} frames in {actual_path}, expected {frames}")
    if not np.array_equal(a["frame"], e["frame"]):
        problems.append("frame numbers differ")
    if not np.array_equal(a["frame"], np.arange(1, frames + 1)):
        problems.append(f"frames are not 1..{frames} in order")
    if not np.allclose(a["binning"], e["binning"], rtol=1e-6, atol=0):
        problems.append("radial axes differ")
    for name in ("data", "errors"):
        x, y = a[name], e[name]
        if x is None or y is None or x.shape != y.shape:
            continue
        if not np.all(np.isfinite(x)):
            problems.append(f"{name}: non-finite values")
        scale = float(np.max(np.abs(y))) or 1.0
        diff = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
        print(f"{name}: max |container - in-process| = {diff:.3g} (largest value {scale:.4g})")
        if diff > 1e-5 * scale:
            problems.append(f"{name}: max difference {diff:.3g} exceeds 1e-5 of {scale:.4g}")
    if not np.any(a["data"]):
        problems.append("the container's profiles are all zero")
    if problems:
        print("MISMATCH: " + "; ".join(problems))
        return 1
    print(f"OK: {frames} frames × {a['data'].shape[1]} bins match the in-process result")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: compare_nexus.py ACTUAL.nxs EXPECTED.nxs FRAMES")
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
