#!/usr/bin/env bash
# Makes local stand-ins for the public .NET 10 base images, for machines that reach no container registry
# (shared machine-notes §5). Needs a running Docker engine (DOCKER_HOST) and root (debootstrap).
#   localhost/anvil-debian:bookworm   debootstrap minbase + the libraries .NET needs + Debian's libhdf5-103-1
#                                     (apt inside a build has no archive here, so the native library comes with
#                                     the base; the Dockerfiles then skip their apt step)
#   localhost/dotnet-aspnet:10.0      that + the host's .NET runtime and ASP.NET Core shared frameworks, user app
#                                     (uid 1654) as in mcr.microsoft.com/dotnet/aspnet:10.0
# The debootstrap root file system is cached as a tarball in ANVIL_BASE_CACHE (default /var/cache/anvil-containers);
# delete it to start from Debian again.
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
cache=${ANVIL_BASE_CACHE:-/var/cache/anvil-containers}
mkdir -p "$cache"
rootfs_tar="$cache/debian-bookworm-rootfs.tar"

if ! "$docker" image inspect localhost/anvil-debian:bookworm >/dev/null 2>&1; then
  if [ ! -s "$rootfs_tar" ]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    echo "debootstrap bookworm from $mirror (about 3 min)…"
    debootstrap --variant=minbase --include=ca-certificates,libssl3,libicu72,tzdata,libhdf5-103-1 \
      bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -20 "$cache/debootstrap.log"; exit 1; }
    # Trim what a runtime image never needs: apt lists and caches, documentation, manuals, locales.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
      "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
    tar -C "$rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$rootfs"
  fi
  "$docker" import "$rootfs_tar" localhost/anvil-debian:bookworm >/dev/null
fi

if ! "$docker" image inspect localhost/dotnet-aspnet:10.0 >/dev/null 2>&1; then
  dotnet_root=${DOTNET_ROOT:-/usr/share/dotnet}
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/dotnet/shared"
  cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$ctx/dotnet/"
  # Only the newest runtime and ASP.NET Core frameworks (what the services roll forward to).
  for fw in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
    version=$(ls "$dotnet_root/shared/$fw" | sort -V | tail -1)
    mkdir -p "$ctx/dotnet/shared/$fw"
    cp -a "$dotnet_root/shared/$fw/$version" "$ctx/dotnet/shared/$fw/"
  done
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM localhost/anvil-debian:bookworm
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
    && groupadd --gid 1654 app && useradd --uid 1654 --gid 1654 --no-create-home --shell /usr/sbin/nologin app
ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true DOTNET_ROOT=/usr/share/dotnet
DOCKERFILE
  DOCKER_BUILDKIT=1 "$docker" build --network=host -q -t localhost/dotnet-aspnet:10.0 "$ctx" >/dev/null
fi
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^localhost/(anvil-debian|dotnet-aspnet)'
