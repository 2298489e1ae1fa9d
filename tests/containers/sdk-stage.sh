#!/usr/bin/env bash
# Builds one service image through services/Dockerfile's SDK stage (APP_SOURCE=build, the workstation path: restore and
# publish inside the image build), offline, then runs it and asks its gRPC health. Docker builds cannot mount the
# host's NuGet cache, so this uses podman (shared machine-notes §5): a private storage root, base images from
# base-images.sh's cached Debian root file systems plus the host's whole .NET SDK, `-v ~/.nuget/packages` into the
# build, host networking, blocked public registries. Not part of .ci/run (about 4 min); smoke.sh runs it with
# SMOKE_SDK_STAGE=1. Usage: tests/containers/sdk-stage.sh [service]   (default integrate)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
service=${1:-integrate}
t0=$(date +%s)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman buildah runc fuse-overlayfs uidmap >/dev/null
work=$(mktemp -d /var/tmp/anvil-sdk-stage.XXXXXX)
podman_cmd=(podman --root "$work/storage" --runroot "$work/run")
cleanup() {
  local rc=$?
  set +e
  "${podman_cmd[@]}" rm -f "anvil-sdk-stage-$service" >/dev/null 2>&1
  "${podman_cmd[@]}" system reset -f >/dev/null 2>&1
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  echo "== sdk-stage.sh finished in $(( $(date +%s) - t0 )) s with exit code $rc"
}
trap cleanup EXIT

# The VM forbids raising limits above its hard ones, and crun rejects its hybrid cgroups: runc, cgroupfs, fixed limits.
cat >"$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
# A forgotten build argument must fail at once instead of trying a registry.
cat >"$work/registries.conf" <<'CONF'
unqualified-search-registries = []
[[registry]]
location = "mcr.microsoft.com"
blocked = true
[[registry]]
location = "docker.io"
blocked = true
CONF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_REGISTRIES_CONF="$work/registries.conf"
printf '#!/bin/sh\nexec podman --root %s/storage --runroot %s/run "$@"\n' "$work" "$work" >"$work/podman"
chmod +x "$work/podman"

echo "== base images (runtime stand-ins, and an SDK stand-in from the host's /usr/share/dotnet)"
DOCKER="$work/podman" tests/containers/base-images.sh
mkdir -p "$work/sdk"
cp -a "${DOTNET_ROOT:-/usr/share/dotnet}" "$work/sdk/dotnet"
cat >"$work/sdk/Dockerfile" <<'DOCKERFILE'
FROM localhost/anvil-debian:bookworm
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_ROOT=/usr/share/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_RUNNING_IN_CONTAINER=true
DOCKERFILE
"${podman_cmd[@]}" build --network=host --pull=never -q -t localhost/dotnet-sdk:10.0 "$work/sdk" >/dev/null

echo "== $service through the SDK stage (restore from the mounted NuGet cache, no network)"
read -r port_in_image hdf5 < <(/usr/bin/python3 -c 'import json, sys; s = next(s for s in json.load(open("deploy/topology.json"))["services"] if s["name"] == sys.argv[1]); print(s["port"], str(s["hdf5"]).lower())' "$service")
runtime=$([ "$hdf5" = false ] && echo localhost/dotnet-aspnet:10.0 || echo localhost/dotnet-aspnet-hdf5:10.0)
# buildah 1.28 does not follow a stage chosen by a build argument (FROM ${APP_SOURCE}) when it skips unused stages,
# so every stage is built: the prebuilt one needs artifacts/publish/<service> to exist (empty is enough).
mkdir -p "artifacts/publish/$service" artifacts/publish/anvil-health
build_start=$(date +%s)
"${podman_cmd[@]}" build --network=host --pull=never --format docker --skip-unused-stages=false \
  -v "$HOME/.nuget/packages:/root/.nuget/packages" \
  --build-arg SDK_IMAGE=localhost/dotnet-sdk:10.0 --build-arg RUNTIME_IMAGE="$runtime" --build-arg APP_SOURCE=build \
  --build-arg SERVICE="$service" --build-arg PORT="$port_in_image" --build-arg HDF5="$hdf5" \
  -f services/Dockerfile -t "localhost/anvil/$service:sdk-stage" . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }
echo "built in $(( $(date +%s) - build_start )) s: $("${podman_cmd[@]}" image ls --format '{{.Size}}' "localhost/anvil/$service:sdk-stage")"

echo "== run it (host network, read-only root, 127.0.0.1) and ask its health"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${podman_cmd[@]}" run -d --name "anvil-sdk-stage-$service" --network=host --read-only --tmpfs /tmp \
  -e "Kestrel__Endpoints__Grpc__Url=http://127.0.0.1:$port" "localhost/anvil/$service:sdk-stage" >/dev/null
deadline=$(( $(date +%s) + 60 ))
until "${podman_cmd[@]}" healthcheck run "anvil-sdk-stage-$service" >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge $deadline ]; then "${podman_cmd[@]}" logs "anvil-sdk-stage-$service" | tail -20; exit 1; fi
  sleep 1
done
"${podman_cmd[@]}" exec "anvil-sdk-stage-$service" sh -c 'id; dotnet /opt/anvil-health/anvil-health.dll'
