#!/usr/bin/env bash
# Runs every test project and prints the one line CI counts: "N passed, N failed, N skipped".
# Exits non-zero when a test failed, `dotnet test` failed, or no test ran.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
results="$root/artifacts/test-results"

# The HDF5 tests check our files against an independent reader, Debian's h5py: install it on a fresh machine (as root).
if ! /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's python3-h5py (the tests' independent HDF5 reader)…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-h5py python3-numpy) >&2
  else
    echo "the HDF5 tests need Debian's python3-h5py: sudo apt-get install python3-h5py" >&2
  fi
fi
# The results console's page tests drive Debian's Chromium (/usr/bin/chromium) through Playwright: install it likewise.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium (the results console's browser tests)…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >&2
  else
    echo "the results console's browser tests need Debian's chromium: sudo apt-get install chromium" >&2
  fi
fi
rm -rf "$results"
dotnet test "$root/Anvil.slnx" --logger trx --results-directory "$results" "$@"
rc=$?
python3 - "$results" "$rc" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    counters = ET.parse(path).getroot().find(".//{*}Counters")
    passed += int(counters.get("passed", 0))
    skipped += int(counters.get("notExecuted", 0))
    failed += sum(int(counters.get(k, 0)) for k in ("failed", "error", "timeout", "aborted"))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 or sys.argv[2] != "0" else 0)
PY
