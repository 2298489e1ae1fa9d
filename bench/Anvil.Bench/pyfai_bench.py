#!/usr/bin/python3
"""pyFAI 0.21 side of `Anvil.Bench integrate`: times integrate1d on the frame the C# side wrote.

argv: frame.npy mask.npy poni threads frames case... (case = method,unit,npt). Prints one JSON line per case.
"""
import json
import os
import sys
import time

os.environ["OMP_NUM_THREADS"] = sys.argv[4]  # before numpy/pyFAI start OpenMP

import numpy as np  # noqa: E402


def main():
    import logging
    import warnings
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import pyFAI
    frame = np.load(sys.argv[1])
    mask = np.load(sys.argv[2])
    frames = int(sys.argv[5])
    for case in sys.argv[6:]:
        method, unit, npt = case.split(",")
        ai = pyFAI.load(sys.argv[3])
        kw = dict(unit=unit, method=(method, "csr", "cython"), mask=mask, correctSolidAngle=True,
                  polarization_factor=0.99, error_model="poisson", dummy=-1.0, delta_dummy=0.5)
        t0 = time.perf_counter()
        ai.integrate1d(frame, int(npt), **kw)  # builds the CSR matrix
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        c0 = time.process_time()  # every thread of the process: frames per CPU-second holds up on a loaded machine
        for _ in range(frames):
            ai.integrate1d(frame, int(npt), **kw)
        fps = frames / (time.perf_counter() - t0)
        cpu_fps = frames / (time.process_time() - c0)
        print(json.dumps({"case": case, "fps": fps, "cpu_fps": cpu_fps, "build_s": build}), flush=True)


if __name__ == "__main__":
    main()
