#!/usr/bin/env bash
# Makes sure the native libraries Anvil loads are present: Debian's libhdf5 1.10 (libhdf5_serial.so.103).
# On a fresh Debian machine, as root, it installs them with apt-get; otherwise it says what to install.
set -euo pipefail
# grep reads the whole listing (no -q): under pipefail, grep -q stopping early made ldconfig die of SIGPIPE and the
# library look missing about one run in ten.
if ldconfig -p 2>/dev/null | grep 'libhdf5_serial.so.103' >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's libhdf5-103-1 (HDF5 1.10, needed to read and write NeXus files)…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libhdf5-103-1) >&2
else
  echo "Anvil needs HDF5 1.10's libhdf5_serial.so.103: install Debian's libhdf5-103-1 (sudo apt-get install libhdf5-103-1)." >&2
  exit 1
fi
