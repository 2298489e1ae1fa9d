#!/usr/bin/python3
"""The baseline of `anvil bench pipeline`: a DESY-style Python pipeline on the same Lambda chunk files.

Each of N worker processes takes chunk parts in turn, opens the part's module files with h5py, stitches each frame
with numpy as DIOPTAS does (x' = x - min x, y' = y - y(module 1), zero canvas, vertical flip), integrates it with
pyFAI's integrate1d (CSR, the method and npt given, 2th_deg, solid angle, polarization 0.99, Poisson error model, the
DIOPTAS mask plus the gaps between modules) and returns the profile; the parent writes all profiles to one .npy.

argv: --poni F --mask F --npt N --method M --workers W --out OUT.npy parts.json (a list, per chunk part, of the
module files in module order). Prints one JSON line: frames, seconds (pool start to output written), cpu_seconds
(the parent and every worker), pyfai.
"""
import argparse
import json
import logging
import multiprocessing
import os
import resource
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker process, as the workers are the parallelism

import h5py  # noqa: E402
import numpy as np  # noqa: E402

DETECTOR = "/entry/instrument/detector"
_state = {}


def _init(poni, mask_path, npt, method):
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import fabio
    import pyFAI
    _state["ai"] = pyFAI.load(poni)
    _state["mask"] = fabio.open(mask_path).data != 0
    _state["npt"] = npt
    _state["method"] = (method, "csr", "cython")


def _layout(files):
    translations = [f[DETECTOR + "/translation/distance"][:2] for f in files]
    shapes = [f[DETECTOR + "/data"].shape[1:] for f in files]
    min_x = min(int(round(t[0])) for t in translations)
    y1 = int(round(translations[0][1]))
    offsets = [(int(round(t[1])) - y1, int(round(t[0])) - min_x) for t in translations]
    rows = max(o[0] + s[0] for o, s in zip(offsets, shapes))
    cols = max(o[1] + s[1] for o, s in zip(offsets, shapes))
    return offsets, shapes, rows, cols


def _part(paths):
    ai, npt = _state["ai"], _state["npt"]
    files = [h5py.File(p, "r") for p in paths]
    try:
        offsets, shapes, rows, cols = _layout(files)
        gaps = np.ones((rows, cols), dtype=bool)
        for (r0, c0), (h, w) in zip(offsets, shapes):
            gaps[r0:r0 + h, c0:c0 + w] = False
        mask = _state["mask"] | gaps[::-1]
        sequence = files[0][DETECTOR + "/sequence_number"][:]
        data = [f[DETECTOR + "/data"] for f in files]
        out = []
        for i, frame_number in enumerate(sequence):
            canvas = np.zeros((rows, cols), dtype=np.int32)
            for d, (r0, c0), (h, w) in zip(data, offsets, shapes):
                canvas[r0:r0 + h, c0:c0 + w] = d[i]
            result = ai.integrate1d(canvas[::-1], npt, unit="2th_deg", method=_state["method"], mask=mask,
                                    correctSolidAngle=True, polarization_factor=0.99, error_model="poisson")
            out.append((int(frame_number), result.intensity.astype(np.float32)))
        return out
    finally:
        for f in files:
            f.close()


def main():
    parser = argparse.ArgumentParser()
    for name in ("--poni", "--mask", "--method", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--npt", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("parts")
    args = parser.parse_args()
    with open(args.parts) as f:
        parts = json.load(f)

    import pyFAI
    t0 = time.perf_counter()
    c0 = time.process_time()
    rows = {}
    with multiprocessing.get_context("fork").Pool(args.workers, _init, (args.poni, args.mask, args.npt, args.method)) as pool:
        for profiles in pool.imap_unordered(_part, parts):
            for frame, intensity in profiles:
                rows[frame] = intensity
        pool.close()
        pool.join()
    result = np.stack([rows[k] for k in sorted(rows)])
    np.save(args.out, result)
    seconds = time.perf_counter() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + children.ru_utime + children.ru_stime
    print(json.dumps({"frames": len(rows), "seconds": seconds, "cpu_seconds": cpu, "pyfai": pyFAI.version}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
