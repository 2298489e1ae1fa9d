#!/usr/bin/python3
"""Writes bitshuffle_lz4.nxs: a small Lambda-like module file whose frames are compressed with HDF5 filter 32008
(bitshuffle-LZ4, as newer Lambda and Eiger firmware write), plus datasets the readers must refuse by name.
No plugin is installable here, so the chunks are encoded by tests/fixtures/images/make_images.py's bitshuffle_lz4
(numpy's bit transpose, python3-lz4's LZ4 blocks) and stored raw with the filter applied (filter mask 0).

  /entry/instrument/detector/data   int16 (3, 9, 13): 117 pixels (a short last block, 5 raw trailing elements),
                                    a rings-like frame, a noisy one and a constant one (long LZ4 matches)
  /reference/data                   the same pixels uncompressed, written by numpy: the test's reference
  /other/plain                      the same frames bitshuffled without compression (cd_values[4] = 0), 32-element blocks
  /other/zstd                       bitshuffle with Zstandard (cd_values[4] = 3): not decoded by Anvil
  /other/unknown                    a made-up filter id (32999) with no decoder anywhere
  /other/image2d                    one 9 x 13 image in row chunks (1, 13) with bitshuffle-LZ4: not a frame per chunk

Run with Debian's interpreter: /usr/bin/python3 make_bitshuffle_fixture.py"""
import os
import sys

import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t, h5z

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures", "images"))
from make_images import bitshuffle_lz4  # noqa: E402  (one encoder for every fixture)

rows, cols = 9, 13
rng = np.random.default_rng(17)
i, j = np.mgrid[0:rows, 0:cols]
ring = 200 * np.exp(-((np.hypot(i - 4, j - 6) - 3) ** 2) / 2)
frames = np.array([rng.poisson(ring + 10), rng.integers(-32768, 32768, size=(rows, cols)),
                   np.full((rows, cols), 7)], dtype="<i2")


def declared(group, name, filter_id, values, chunks, image=False):
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_chunk((1, cols) if image else (1, rows, cols))
    dcpl.set_obj_track_times(False)  # deterministic bytes
    # Optional, so h5py can create it without the filter; the chunks claim it was applied (mask 0).
    dcpl.set_filter(filter_id, h5z.FLAG_OPTIONAL, values)
    if image:
        space = h5s.create_simple((rows, cols))
    else:
        space = h5s.create_simple((len(chunks), rows, cols), (h5s.UNLIMITED, rows, cols))
    data = h5py.Dataset(h5d.create(group.id, name.encode(), h5t.STD_I16LE, space, dcpl))
    for k, chunk in enumerate(chunks):
        data.id.write_direct_chunk((k, 0) if image else (k, 0, 0), chunk, filter_mask=0)
    return data


with h5py.File(os.path.join(HERE, "bitshuffle_lz4.nxs"), "w") as f:
    det = f.create_group("entry/instrument/detector")
    for path, cls in (("entry", "NXentry"), ("entry/instrument", "NXinstrument"), ("entry/instrument/detector", "NXdetector")):
        f[path].attrs["NX_class"] = cls
    # (filter version, bitshuffle version, element size, block size 0 = default, 2 = LZ4), as the plugin records them.
    declared(det, "data", 32008, (0, 2, 2, 0, 2), [bitshuffle_lz4(frame.tobytes(), 2) for frame in frames])
    det["sequence_number"] = np.arange(1, len(frames) + 1, dtype=np.int32)
    det["translation/distance"] = np.zeros(3, dtype=np.float32)
    det["description"] = np.array([b"Lambda"], dtype=object)
    f["reference/data"] = frames
    other = f.create_group("other")
    declared(other, "plain", 32008, (0, 2, 2, 32, 0), [bitshuffle_lz4(frame.tobytes(), 2, 32, compress=False) for frame in frames])
    declared(other, "zstd", 32008, (0, 2, 2, 0, 3), [bytes(40)])
    declared(other, "unknown", 32999, (1,), [bytes(40)])
    declared(other, "image2d", 32008, (0, 2, 2, 0, 2), [bitshuffle_lz4(frames[0][0].tobytes(), 2)], image=True)
