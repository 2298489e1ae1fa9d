#!/usr/bin/python3
"""Writes the pyFAI 0.21.3 parity fixtures that tests/Anvil.Integration.Tests compares against.

Run with Debian's interpreter (python3-pyfai 0.21.3, numpy, fabio):

    /usr/bin/python3 tools/pyfai-reference/generate.py --out tests/fixtures/pyfai

Deterministic: a fixed seed, single-threaded OpenMP, fixed file contents (no dates) and a manifest
with sorted keys. Every case integrates one frame with pyFAI's CSR engines and stores the per-bin
results; the C# tests rebuild the same case from manifest.json and compare.
"""
import argparse
import json
import os
import sys

os.environ["OMP_NUM_THREADS"] = "1"  # pyFAI's OpenMP reductions would otherwise vary run to run

import numpy as np  # noqa: E402

# Columns of every expected-result file, in order.
COLUMNS = ["radial", "intensity", "sigma", "count", "sum_signal", "sum_normalization", "sum_variance"]
METHODS = {"no": ("no", "csr", "cython"), "bbox": ("bbox", "csr", "cython"), "full": ("full", "csr", "cython")}

# Small synthetic detectors: (rows, cols, pixel size [m]) and their geometries.
SMALL_SHAPE = (256, 300)
GEOMETRIES = {
    # Beam inside the detector: all azimuths, chi discontinuity crossed, many pixels split.
    "centred": dict(dist=0.1, poni1=0.0131, poni2=0.0152, rot1=0.0, rot2=0.0, rot3=0.0,
                    wavelength=1.0e-10, pixel=100e-6),
    # Tilted in all three angles, beam off the detector corner.
    "tilted": dict(dist=0.085, poni1=-0.004, poni2=0.0021, rot1=0.12, rot2=-0.07, rot3=0.35,
                   wavelength=0.7293e-10, pixel=100e-6),
}
LAMBDA_POni = "tests/fixtures/lambda/L2.poni"
LAMBDA_MASK = "tests/fixtures/lambda/l2_l1_synrh9_150m_200ms_850c_oscillation_00001_m2.mask"
LAMBDA_SHAPE = (1833, 1556)


def write_poni(path, g, shape, version):
    """A PONI file as pyFAI writes it, without the date line (deterministic)."""
    lines = ["# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis",
             "# Written by tools/pyfai-reference/generate.py"]
    if version == 1:
        lines += [f"PixelSize1: {g['pixel']!r}", f"PixelSize2: {g['pixel']!r}"]
    else:
        cfg = {"pixel1": g["pixel"], "pixel2": g["pixel"], "max_shape": list(shape)}
        lines += ["poni_version: 2", "Detector: Detector", f"Detector_config: {json.dumps(cfg)}"]
    lines += [f"Distance: {g['dist']!r}", f"Poni1: {g['poni1']!r}", f"Poni2: {g['poni2']!r}",
              f"Rot1: {g['rot1']!r}", f"Rot2: {g['rot2']!r}", f"Rot3: {g['rot3']!r}",
              f"Wavelength: {g['wavelength']!r}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def lambda_frame():
    """A Lambda-canvas frame from an integer formula the C# test evaluates identically (no 5.7 MB file).
    Values 0..4000, module gap strips (columns 772-781 of every module) at -1 like the real detector."""
    i = np.arange(LAMBDA_SHAPE[0], dtype=np.int64)[:, None]
    j = np.arange(LAMBDA_SHAPE[1], dtype=np.int64)[None, :]
    v = ((i * 1103515245 + j * 12345 + i * j * 31) % 2147483647) % 4001
    v = np.asarray(v, dtype=np.int16)
    v[:, 772:782] = -1
    return v


def small_frames(rng):
    """A Poisson frame with rings per geometry, some negative (gap-like) pixels; plus dark and flat."""
    rows, cols = SMALL_SHAPE
    yy, xx = np.mgrid[0:rows, 0:cols]
    r = np.hypot(yy - 131.0, xx - 152.0)
    lam = 30 + 200 * np.exp(-0.5 * ((r % 37.0) - 18.0) ** 2 / 4.0) + 0.2 * r
    frame = rng.poisson(lam).astype(np.int32)
    frame[rng.random(SMALL_SHAPE) < 0.01] = -1          # dynamic gaps for the dummy cases
    frame[5, 7] = 0
    dark = rng.uniform(0.0, 5.0, SMALL_SHAPE).astype(np.float32)
    flat = rng.uniform(0.8, 1.2, SMALL_SHAPE).astype(np.float32)
    mask = np.zeros(SMALL_SHAPE, np.uint8)
    mask[rng.random(SMALL_SHAPE) < 0.03] = 1
    mask[:, 140:146] = 1                                 # a module gap
    mask[200:, 250:] = 1                                  # a dead corner
    # The same frame as float32 with NaN pixels (dead or saturated pixels a converter marked), for the NaN cases.
    frame_nan = frame.astype(np.float32)
    frame_nan[rng.random(SMALL_SHAPE) < 0.02] = np.nan
    return frame, dark, flat, mask, frame_nan


def cases():
    """(name, geometry, method, unit, npt, extra settings)."""
    out = []
    for geo in ("centred", "tilted"):
        for method in ("no", "bbox", "full"):
            for unit in ("2th_deg", "q_nm^-1"):
                out.append((f"{geo}_{method}_{unit.replace('^-1', '')}", geo, method, unit, 400,
                            dict(mask=True, polarization=0.99)))
    out += [
        ("centred_no_qA_unmasked", "centred", "no", "q_A^-1", 300, dict(mask=False, polarization=None)),
        ("tilted_bbox_2thrad_nosa", "tilted", "bbox", "2th_rad", 350,
         dict(mask=True, polarization=-0.5, solid_angle=False)),
        ("centred_no_dummy", "centred", "no", "2th_deg", 1500,
         dict(mask=True, polarization=0.99, dummy=-1.0, delta_dummy=0.5)),
        ("centred_bbox_dummy", "centred", "bbox", "q_nm^-1", 900, dict(mask=True, dummy=-1.0, delta_dummy=0.5)),
        ("tilted_full_dummy", "tilted", "full", "2th_deg", 500, dict(mask=False, dummy=-1.0, delta_dummy=0.5)),
        ("tilted_no_darkflat", "tilted", "no", "2th_deg", 400, dict(mask=True, polarization=0.95, dark=True, flat=True)),
        ("tilted_bbox_darkflat", "tilted", "bbox", "q_nm^-1", 400, dict(mask=True, dark=True, flat=True)),
        ("centred_full_darkflat", "centred", "full", "2th_deg", 300, dict(mask=True, dark=True, flat=True)),
        ("centred_no_radrange", "centred", "no", "2th_deg", 200, dict(mask=True, radial_range=(3.0, 9.5))),
        ("centred_bbox_radrange", "centred", "bbox", "2th_deg", 200, dict(mask=True, radial_range=(3.0, 9.5))),
        ("centred_full_radrange", "centred", "full", "q_nm^-1", 200, dict(mask=True, radial_range=(2.0, 9.0))),
        ("centred_no_azimuth", "centred", "no", "2th_deg", 300, dict(mask=True, azimuth_range=(-100.0, 30.0))),
        ("centred_bbox_azimuth", "centred", "bbox", "2th_deg", 300, dict(mask=True, azimuth_range=(-100.0, 30.0))),
        ("centred_full_azimuth", "centred", "full", "2th_deg", 300, dict(mask=True, azimuth_range=(-100.0, 30.0))),
        # Units on every split mode, tilted ranges, and NaN pixels in a float32 frame (always excluded by pyFAI).
        ("tilted_bbox_qA", "tilted", "bbox", "q_A^-1", 300, dict(mask=True, polarization=0.99)),
        ("tilted_full_qA", "tilted", "full", "q_A^-1", 300, dict(mask=True)),
        ("centred_full_2thrad", "centred", "full", "2th_rad", 250, dict(mask=False, polarization=0.5)),
        ("tilted_no_azimuth_radrange", "tilted", "no", "q_nm^-1", 250,
         dict(mask=True, azimuth_range=(0.0, 120.0), radial_range=(20.0, 60.0))),
        ("tilted_bbox_azimuth", "tilted", "bbox", "2th_deg", 250, dict(mask=True, azimuth_range=(-170.0, 170.0))),
        ("centred_no_nan", "centred", "no", "2th_deg", 300, dict(mask=True, nan=True, polarization=0.99)),
        ("centred_bbox_nan", "centred", "bbox", "q_nm^-1", 300, dict(mask=False, nan=True, dummy=-1.0, delta_dummy=0.5)),
        ("tilted_full_nan", "tilted", "full", "2th_deg", 300, dict(mask=True, nan=True, dark=True, flat=True)),
        # d-spacing: pyFAI 0.21 has no d unit (only d*2), so Anvil's d_A is pyFAI's q_A^-1 integration with the radial
        # column given as d = 2*pi/q (and a d range as the q range [2*pi/hi, 2*pi/lo]); see D_UNITS.
        ("centred_no_dA", "centred", "no", "d_A", 300, dict(mask=True, polarization=0.99)),
        ("centred_bbox_dA", "centred", "bbox", "d_A", 300, dict(mask=True, polarization=0.99)),
        ("tilted_full_dA_radrange", "tilted", "full", "d_A", 250, dict(mask=True, radial_range=(0.9, 2.5))),
    ]
    return out


# Units pyFAI lacks: Anvil's name -> (the pyFAI unit it is binned in, its value from pyFAI's radial, a range to pyFAI's).
D_UNITS = {"d_A": ("q_A^-1", lambda q: 2 * np.pi / q, lambda r: (2 * np.pi / r[1], 2 * np.pi / r[0]))}


def integrate(ai, frame, npt, unit, method, mask, s):
    if unit in D_UNITS:
        binned, value, to_range = D_UNITS[unit]
        s = dict(s)
        if s.get("radial_range"):
            s["radial_range"] = to_range(s["radial_range"])
        table = integrate(ai, frame, npt, binned, method, mask, s)
        table[:, 0] = value(table[:, 0])
        return table
    res = ai.integrate1d(frame, npt, unit=unit, method=METHODS[method], mask=mask,
                         correctSolidAngle=s.get("solid_angle", True),
                         polarization_factor=s.get("polarization"), error_model="poisson",
                         dummy=s.get("dummy"), delta_dummy=s.get("delta_dummy"),
                         dark=s.get("dark_array"), flat=s.get("flat_array"),
                         radial_range=s.get("radial_range"), azimuth_range=s.get("azimuth_range"))
    table = np.stack([np.asarray(res.radial, np.float64), np.asarray(res.intensity, np.float64),
                      np.asarray(res.sigma, np.float64), np.asarray(res.count, np.float64),
                      np.asarray(res.sum_signal, np.float64), np.asarray(res.sum_normalization, np.float64),
                      np.asarray(res.sum_variance, np.float64)], axis=1)
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="fixture folder, e.g. tests/fixtures/pyfai")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--no-lambda", action="store_true", help="skip the Lambda-sized case")
    a = p.parse_args(argv)

    import logging
    import warnings
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import fabio
    import pyFAI

    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    out = a.out
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    frame, dark, flat, mask, frame_nan = small_frames(rng)
    np.save(os.path.join(out, "small_frame.npy"), frame)
    np.save(os.path.join(out, "small_frame_nan.npy"), frame_nan)
    np.save(os.path.join(out, "small_dark.npy"), dark)
    np.save(os.path.join(out, "small_flat.npy"), flat)
    np.save(os.path.join(out, "small_mask.npy"), mask)
    # The same mask as EDF, so the C# EDF reader is exercised on a fabio-written file.
    fabio.edfimage.EdfImage(data=mask.astype(np.int8), header={}).write(os.path.join(out, "small_mask.edf"))
    for name, g in GEOMETRIES.items():
        write_poni(os.path.join(out, f"{name}.poni"), g, SMALL_SHAPE, version=2 if name == "centred" else 1)

    manifest = {"pyFAI": pyFAI.version, "numpy": np.__version__, "columns": COLUMNS, "cases": []}
    for name, geo, method, unit, npt, s in cases():
        ai = pyFAI.load(os.path.join(out, f"{geo}.poni"))
        s = dict(s)
        if s.get("dark"):
            s["dark_array"] = dark
        if s.get("flat"):
            s["flat_array"] = flat
        table = integrate(ai, frame_nan if s.get("nan") else frame, npt, unit, method, mask if s["mask"] else None, s)
        np.save(os.path.join(out, f"{name}.npy"), table)
        manifest["cases"].append({
            "name": name, "poni": f"{geo}.poni", "frame": "small_frame_nan.npy" if s.get("nan") else "small_frame.npy",
            "mask": "small_mask.npy" if s["mask"] else None, "method": method, "unit": unit, "npt": npt,
            "polarization": s.get("polarization"), "solid_angle": s.get("solid_angle", True),
            "dummy": s.get("dummy"), "delta_dummy": s.get("delta_dummy"),
            "dark": "small_dark.npy" if s.get("dark") else None, "flat": "small_flat.npy" if s.get("flat") else None,
            "radial_range": list(s["radial_range"]) if s.get("radial_range") else None,
            "azimuth_range": list(s["azimuth_range"]) if s.get("azimuth_range") else None,
            "expected": f"{name}.npy", "pyfai_method": str(METHODS[method])})
        if unit in D_UNITS:
            manifest["cases"][-1]["pyfai_unit"] = D_UNITS[unit][0]

    if not a.no_lambda:
        ai = pyFAI.load(os.path.join(repo, LAMBDA_POni))
        lmask = fabio.open(os.path.join(repo, LAMBDA_MASK)).data != 0
        lframe = lambda_frame()
        # dummy=-1 excludes the gap strips; the C# side uses its ExcludeNegative rule instead.
        for method, unit in (("no", "2th_deg"), ("bbox", "2th_deg"), ("full", "2th_deg"), ("no", "q_nm^-1")):
            name = f"lambda_{method}_{unit.replace('^-1', '')}"
            table = integrate(ai, lframe, 2000, unit, method, lmask,
                              dict(polarization=0.99, dummy=-1.0, delta_dummy=0.5))
            np.save(os.path.join(out, f"{name}.npy"), table)
            manifest["cases"].append({
                "name": name, "poni": "../lambda/L2.poni", "frame": "formula:lambda", "mask": "../lambda/" +
                os.path.basename(LAMBDA_MASK), "method": method, "unit": unit, "npt": 2000, "polarization": 0.99,
                "solid_angle": True, "dummy": -1.0, "delta_dummy": 0.5, "dark": None, "flat": None,
                "radial_range": None, "azimuth_range": None, "expected": f"{name}.npy",
                "pyfai_method": str(METHODS[method])})

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(manifest['cases'])} cases to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
