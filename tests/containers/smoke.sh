#!/usr/bin/env bash
# Container smoke test (issue 6), run by .ci/run on a fresh Debian 12 machine as root, ~10 min:
#   1. installs Docker's engine 20.10, docker-compose 1.29, debootstrap and h5py from Debian;
#   2. starts a private dockerd (own data root, socket and pid file; only the host and none networks);
#   3. makes local stand-ins for the public .NET base images (base-images.sh) and publishes the five services and
#      the health probe on the host (no NuGet inside a build here), then builds every image from services/Dockerfile;
#   4. starts compose.yaml + compose.ci.yaml (host networking, 127.0.0.1 ports) and waits until all are healthy;
#   5. simulates an acquisition against the stack's ingest, waits for merge's NeXus file; logs in to the console
#      (profile console, an operator account made with `anvil console-user`) and reads the status through it;
#   6. replays the same chunk files through the in-process suite (./anvil demo --replay) and compares the two
#      results with h5py (compare_nexus.py);
#   7. tears everything down: compose down -v, dockerd stopped by its PID, work folder removed.
# Prints image sizes, the compose start-up time and the total duration. Environment: SMOKE_FRAMES (default 64),
# SMOKE_KEEP=1 keeps the work folder; SMOKE_SDK_STAGE=1 also runs sdk-stage.sh (the Dockerfiles' SDK stage).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
t0=$(date +%s)
frames=${SMOKE_FRAMES:-64}
docker=/usr/bin/docker   # Debian's 20.10 client (a preinstalled newer client may lack BuildKit without buildx)
project=anvil-smoke
step() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "smoke.sh needs root (apt-get, dockerd, debootstrap)" >&2
  exit 1
fi

step "apt packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  docker.io docker-compose debootstrap python3-h5py python3-numpy libhdf5-103-1 >/dev/null

work=$(mktemp -d /var/tmp/anvil-smoke.XXXXXX)
export DOCKER_HOST="unix://$work/docker.sock"
export ANVIL_DATA="$work/data" ANVIL_RESULTS="$work/results" ANVIL_TAG=smoke
dockerd_pid=""

compose() { docker-compose -p "$project" -f compose.yaml -f compose.ci.yaml "$@"; }

teardown() {
  local rc=$?
  set +e
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    if [ $rc != 0 ]; then
      echo "== failure: container states and logs"
      "$docker" ps -a --format '{{.Names}} {{.Status}}'
      for c in $("$docker" ps -aq); do
        echo "--- $("$docker" inspect --format '{{.Name}}' "$c")"
        "$docker" logs --tail 40 "$c" 2>&1
      done
    fi
    compose down -v --remove-orphans >/dev/null 2>&1
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  # dockerd leaves its network namespace and volume mounts behind when killed; unmount what lies below the work folder.
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  if [ "${SMOKE_KEEP:-0}" = 1 ]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
  echo "== smoke.sh finished in $(( $(date +%s) - t0 )) s with exit code $rc"
  exit $rc
}
trap teardown EXIT

step "private dockerd ($DOCKER_HOST)"
nofile=$(ulimit -Hn)
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "$DOCKER_HOST" --pidfile "$work/docker.pid" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  --default-ulimit "nofile=$nofile:$nofile" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 150); do "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
"$docker" version --format 'engine {{.Server.Version}}' || { tail -20 "$work/dockerd.log"; exit 1; }

step "base images"
DOCKER="$docker" tests/containers/base-images.sh

step "publish on the host (Release)"
# The launcher builds the CLI and, with it, the five services in Release (when sources changed); publishing then
# only copies. No restore or build happens inside an image build here (no NuGet access there).
./anvil help 2>/dev/null
dotnet build tools/Anvil.HealthProbe/Anvil.HealthProbe.csproj -c Release -nologo -v quiet
rm -rf artifacts/publish
for s in $(/usr/bin/python3 -c 'import json; print(*[s["name"] for s in json.load(open("deploy/topology.json"))["services"]])'); do
  dotnet publish services/$s/*.csproj -c Release --no-build -o "artifacts/publish/$s" -nologo -v quiet -p:UseAppHost=false
done
dotnet publish tools/Anvil.HealthProbe/Anvil.HealthProbe.csproj -c Release --no-build -o artifacts/publish/anvil-health \
  -nologo -v quiet -p:UseAppHost=false

step "build images"
# One Dockerfile for every service; its name, port and HDF5 need come from deploy/topology.json.
/usr/bin/python3 -c 'import json; [print(s["name"], s["port"], str(s["hdf5"]).lower()) for s in json.load(open("deploy/topology.json"))["services"]]' |
while read -r s port hdf5; do
  # The broker needs no HDF5; the others get the stand-in that carries Debian's libhdf5-103-1 (base-images.sh).
  runtime=$([ "$hdf5" = false ] && echo localhost/dotnet-aspnet:10.0 || echo localhost/dotnet-aspnet-hdf5:10.0)
  DOCKER_BUILDKIT=1 "$docker" build --network=host -q -f services/Dockerfile \
    --build-arg SERVICE=$s --build-arg PORT=$port --build-arg HDF5=$hdf5 \
    --build-arg RUNTIME_IMAGE=$runtime --build-arg APP_SOURCE=prebuilt \
    -t "anvil/$s:$ANVIL_TAG" . >/dev/null
done
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^anvil/|^localhost/"

step "console account"
# The console in a container listens beyond loopback, so it requires accounts: one operator, its password on stdin.
console_password="smoke-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ANVIL_CONSOLE_USERS="$work/console-users" COMPOSE_PROFILES=console
printf '%s\n' "$console_password" | ./anvil console-user smoke --role operator > "$ANVIL_CONSOLE_USERS"
chmod 644 "$ANVIL_CONSOLE_USERS"
grep -q '"passwordHash":"pbkdf2-sha256:' "$ANVIL_CONSOLE_USERS"

step "compose config (docker-compose 1.29 checks every file combination)"
for files in "compose.yaml" "compose.yaml compose.override.yaml" "compose.yaml compose.override.yaml compose.auth.yaml" \
             "compose.yaml compose.ci.yaml"; do
  docker-compose $(printf -- '-f %s ' $files) config -q
done

step "compose up"
mkdir -p "$ANVIL_DATA" "$ANVIL_RESULTS"
chown 1654:1654 "$ANVIL_RESULTS"
# Free loopback ports for the eleven endpoints (the console has two: gRPC health and its page; the reprocess pool three).
read -r CI_BROKER_PORT CI_INGEST_PORT CI_STITCH_PORT CI_INTEGRATE_PORT CI_INTEGRATE2_PORT CI_MERGE_PORT CI_CONSOLE_PORT CI_CONSOLE_HTTP_PORT \
  CI_REPROCESS_STITCH_PORT CI_REPROCESS_INTEGRATE_PORT CI_REPROCESS_MERGE_PORT < <(/usr/bin/python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(11)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
export CI_BROKER_PORT CI_INGEST_PORT CI_STITCH_PORT CI_INTEGRATE_PORT CI_INTEGRATE2_PORT CI_MERGE_PORT CI_CONSOLE_PORT CI_CONSOLE_HTTP_PORT \
  CI_REPROCESS_STITCH_PORT CI_REPROCESS_INTEGRATE_PORT CI_REPROCESS_MERGE_PORT
up_start=$(date +%s.%N)
compose up -d --no-build
services="broker ingest stitch integrate integrate-2 merge reprocess-stitch reprocess-integrate reprocess-merge console"
deadline=$(( $(date +%s) + 180 ))
while :; do
  unhealthy=""
  for s in $services; do
    for c in $(compose ps -q "$s"); do
      state=$("$docker" inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$c")
      [ "$state" = healthy ] || unhealthy="$unhealthy $s:$state"
    done
  done
  [ -z "$unhealthy" ] && break
  if [ "$(date +%s)" -ge $deadline ]; then echo "not healthy after 180 s:$unhealthy"; exit 1; fi
  sleep 0.5
done
up_seconds=$(/usr/bin/python3 -c "import time; print(f'{time.time() - $up_start:.1f}')")
echo "compose up → all $(compose ps -q | wc -l) containers healthy in $up_seconds s"
"$docker" ps --format '{{.Names}} {{.Status}}'
if [ -n "$("$docker" network ls -q --filter driver=bridge)" ]; then echo "a bridge network exists; the overlay must not create one"; exit 1; fi

step "simulated acquisition ($frames frames) through the containers"
acq=smoke_$(date +%H%M%S)_00001
./anvil simulate --frames "$frames" --acquisition "$acq" --data "$ANVIL_DATA" --ingest "http://127.0.0.1:$CI_INGEST_PORT"
deadline=$(( $(date +%s) + 300 ))
until [ -f "$ANVIL_RESULTS/$acq.nxs" ]; do
  if [ "$(date +%s)" -ge $deadline ]; then echo "no $acq.nxs in $ANVIL_RESULTS after 300 s"; ls -la "$ANVIL_RESULTS"; exit 1; fi
  sleep 0.5
done
echo "result: $ANVIL_RESULTS/$acq.nxs ($(stat -c %s "$ANVIL_RESULTS/$acq.nxs") bytes)"

step "the console: log in, read the status"
console="http://127.0.0.1:$CI_CONSOLE_HTTP_PORT"
jar="$work/console-cookies"
# Without a session the API answers 401.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$console/api/operator/status")" = 401 ]
# The login form's antiforgery token (and its cookie), then the form itself: a 302 and the session cookie.
token=$(curl -sf -c "$jar" "$console/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "no token on the console's login page"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" --data-urlencode "name=smoke" \
  --data-urlencode "password=$console_password" --data-urlencode "csrf=$token" --data-urlencode "returnUrl=/" "$console/login")
[ "$code" = 302 ] || { echo "console login answered $code, not 302"; exit 1; }
curl -sf -b "$jar" "$console/api/operator/status" > "$work/console-status.json"
/usr/bin/python3 - "$work/console-status.json" "$acq" <<'PY'
import json, sys
status = json.load(open(sys.argv[1]))
row = next((a for a in status["acquisitions"] if a["name"] == sys.argv[2]), None)
assert status["canOperate"] is True, status
assert row is not None, f"{sys.argv[2]} not in the console's status: {[a['name'] for a in status['acquisitions']]}"
print(f"console status (signed in as smoke): {row['name']} {row['state']}, {row['framesMerged']}/{row['framesAnnounced']} frames merged, result {row['resultFile']}")
PY
grep -q '"action":"login","' "$ANVIL_RESULTS/console-audit.jsonl" && echo "audit log: $(wc -l < "$ANVIL_RESULTS/console-audit.jsonl") entries"

step "reprocess it with other settings (the reprocess pool's containers)"
./anvil reprocess "$acq" --npt 1000 --ingest "http://127.0.0.1:$CI_INGEST_PORT"
deadline=$(( $(date +%s) + 300 ))
until [ -f "$ANVIL_RESULTS/${acq}_r1.nxs" ]; do
  if [ "$(date +%s)" -ge $deadline ]; then echo "no ${acq}_r1.nxs in $ANVIL_RESULTS after 300 s"; compose logs reprocess-merge | tail -20; exit 1; fi
  sleep 0.5
done
echo "reprocessed: $ANVIL_RESULTS/${acq}_r1.nxs ($(stat -c %s "$ANVIL_RESULTS/${acq}_r1.nxs") bytes)"

step "the same chunk files through the in-process suite"
./anvil demo --replay "$ANVIL_DATA" --poni config/L2.poni --out "$work/reference"

step "compare"
/usr/bin/python3 tests/containers/compare_nexus.py "$ANVIL_RESULTS/$acq.nxs" "$work/reference/$acq.nxs" "$frames"

step "compose down"
compose down -v --remove-orphans
echo "images:"; "$docker" image ls --format '  {{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "anvil/|localhost/"
echo "compose start-up: $up_seconds s"
if [ "${SMOKE_SDK_STAGE:-0}" = 1 ]; then
  step "an image through its Dockerfile's SDK stage (podman, offline NuGet cache)"
  tests/containers/sdk-stage.sh integrate
fi
