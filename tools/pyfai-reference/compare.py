#!/usr/bin/python3
"""Checks that freshly generated pyFAI references match the committed fixtures.

    /usr/bin/python3 tools/pyfai-reference/compare.py tests/fixtures/pyfai artifacts/pyfai-regenerated

The committed fixtures are what the C# parity tests read offline; this proves they are still what this machine's
pyFAI produces. Files must match byte for byte, except .npy arrays, which may differ by 1e-9 relative (a different
numpy build may round the last bit differently). Exits 1 and names every difference otherwise.
"""
import os
import sys

import numpy as np


def main(committed, regenerated):
    problems = []
    names = sorted(set(os.listdir(committed)) | set(os.listdir(regenerated)))
    for name in names:
        a, b = os.path.join(committed, name), os.path.join(regenerated, name)
        if not os.path.exists(a):
            problems.append(f"{name}: generated but not committed (run generate.py --out {committed})")
            continue
        if not os.path.exists(b):
            problems.append(f"{name}: committed but no longer generated")
            continue
        with open(a, "rb") as fa, open(b, "rb") as fb:
            if fa.read() == fb.read():
                continue
        if name.endswith(".npy"):
            x, y = np.load(a), np.load(b)
            if x.shape == y.shape and np.allclose(x, y, rtol=1e-9, atol=0, equal_nan=True):
                continue
            problems.append(f"{name}: values differ (max abs difference {np.nanmax(np.abs(x - y)) if x.shape == y.shape else 'shape'})")
        else:
            problems.append(f"{name}: content differs")
    for p in problems:
        print("pyFAI reference mismatch:", p)
    print(f"pyFAI references: {len(names) - len(problems)} of {len(names)} files match")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py COMMITTED_DIR REGENERATED_DIR")
    sys.exit(main(sys.argv[1], sys.argv[2]))
