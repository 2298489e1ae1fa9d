"""Writes bitshuffle_lz4.nxs: a small Lambda-like module file whose frames declare HDF5 filter 32008
(bitshuffle-LZ4, as newer Lambda firmware writes) and hold chunks stored raw with that filter applied
(filter mask 0). No plugin is needed to write it, and without one neither h5py nor Anvil can decode it.
Run with Debian's h5py: /usr/bin/python3 make_bitshuffle_fixture.py"""
import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t, h5z

rows, cols = 8, 12
with h5py.File("bitshuffle_lz4.nxs", "w") as f:
    det = f.create_group("entry/instrument/detector")
    for path, cls in (("entry", "NXentry"), ("entry/instrument", "NXinstrument"), ("entry/instrument/detector", "NXdetector")):
        f[path].attrs["NX_class"] = cls
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_chunk((1, rows, cols))
    # 32008 with its usual parameters (version, block size 0 = auto, LZ4 = 2); optional so no plugin is needed to create it.
    dcpl.set_filter(32008, h5z.FLAG_OPTIONAL, (0, 2, 2, 0, 2))
    space = h5s.create_simple((2, rows, cols), (h5s.UNLIMITED, rows, cols))
    data = h5py.Dataset(h5d.create(det.id, b"data", h5t.STD_I16LE, space, dcpl))
    for k in range(2):
        # Stand-in payload: what matters is that the chunk claims the filter was applied (mask 0).
        data.id.write_direct_chunk((k, 0, 0), bytes(range(64)) * 3, filter_mask=0)
    det["sequence_number"] = np.array([1, 2], dtype=np.int32)
    det["translation/distance"] = np.zeros(3, dtype=np.float32)
    det["description"] = np.array([b"Lambda"], dtype=object)
