#!/usr/bin/python3
"""Checks that freshly generated pressure references match the committed fixtures.

    /usr/bin/python3 tools/pressure-reference/compare.py tests/fixtures/pressure artifacts/pressure-regenerated

Numbers may differ by 1e-9 relative (another scipy/numpy build may end its iteration a rounding step apart);
everything else must be equal. Exits 1 and names every difference otherwise.
"""
import json
import math
import os
import sys


def walk(a, b, where, problems):
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            problems.append(f"{where}: keys differ")
            return
        for k in a:
            if where == "" and k == "generator":
                continue
            walk(a[k], b[k], f"{where}/{k}", problems)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append(f"{where}: lengths {len(a)} and {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{where}[{i}]", problems)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            problems.append(f"{where}: {a!r} vs {b!r}")
    elif a != b:
        problems.append(f"{where}: {a!r} vs {b!r}")


def main(committed, regenerated):
    problems = []
    names = sorted(n for n in set(os.listdir(committed)) | set(os.listdir(regenerated)) if n.endswith(".json"))
    for name in names:
        a, b = os.path.join(committed, name), os.path.join(regenerated, name)
        if not (os.path.exists(a) and os.path.exists(b)):
            problems.append(f"{name}: only in {'committed' if os.path.exists(a) else 'regenerated'}")
            continue
        with open(a) as fa, open(b) as fb:
            walk(json.load(fa), json.load(fb), name, problems)
    for p in problems[:50]:
        print("pressure reference mismatch:", p)
    print(f"pressure references: {len(names)} files, {len(problems)} differences")
    return 1 if problems or not names else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
