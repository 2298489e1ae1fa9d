#!/usr/bin/env bash
# Makes local stand-ins for the public .NET 10 base images, for machines that reach no container registry
# (shared machine-notes §5). Needs a running Docker engine (DOCKER_HOST) and root (debootstrap, chroot).
#   localhost/dotnet-aspnet:10.0       Debian 12 minbase + what .NET needs + the host's .NET and ASP.NET Core
#                                      shared frameworks, user app (uid 1654): mcr.microsoft.com/dotnet/aspnet:10.0
#                                      in all that matters to the services (the broker image builds on it)
#   localhost/dotnet-aspnet-hdf5:10.0  the same + Debian's libhdf5-103-1, for ingest, stitch, integrate and merge:
#                                      apt inside a build reaches no archive here, so the library the Dockerfiles
#                                      would install comes with the base (their apt step then sees it and skips)
# One debootstrap (~2 min) makes both root file systems; they are cached as tarballs in ANVIL_BASE_CACHE
# (default /var/cache/anvil-containers). Delete them to start from Debian again.
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
cache=${ANVIL_BASE_CACHE:-/var/cache/anvil-containers}
mkdir -p "$cache"
plain_tar="$cache/bookworm.tar"
hdf5_tar="$cache/bookworm-hdf5.tar"
packages=ca-certificates,libssl3,libicu72,tzdata

if [ ! -s "$plain_tar" ] || [ ! -s "$hdf5_tar" ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  echo "debootstrap bookworm from $mirror (about 2 min)…"
  debootstrap --variant=minbase --include="$packages,libhdf5-103-1" bookworm "$rootfs" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log"; exit 1; }
  # Trim what a runtime image never needs: apt lists and caches, documentation, manuals, locales, logs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
  tar -C "$rootfs" -cf "$hdf5_tar.tmp" . && mv "$hdf5_tar.tmp" "$hdf5_tar"
  # The plain variant: purge every package a debootstrap without libhdf5 would not have installed.
  plain_list=$(mktemp -d)
  debootstrap --print-debs --variant=minbase --include="$packages" bookworm "$plain_list/target" "$mirror" \
    2>>"$cache/debootstrap.log" | tr ' ' '\n' | sed '/^$/d' | sort -u >"$plain_list/plain"
  chroot "$rootfs" dpkg-query -W -f '${Package}\n' | sort -u >"$plain_list/installed"
  extra=$(comm -23 "$plain_list/installed" "$plain_list/plain")
  [ -n "$extra" ] && echo "$extra" | grep -qx libhdf5-103-1 || { echo "unexpected package difference: $extra"; exit 1; }
  # shellcheck disable=SC2086
  chroot "$rootfs" dpkg --purge $extra >>"$cache/debootstrap.log" 2>&1
  rm -rf "$plain_list" "$rootfs"/var/log/*
  tar -C "$rootfs" -cf "$plain_tar.tmp" . && mv "$plain_tar.tmp" "$plain_tar"
  rm -rf "$rootfs"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
dotnet_root=${DOTNET_ROOT:-/usr/share/dotnet}
mkdir -p "$ctx/dotnet/shared"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$ctx/dotnet/"
# Only the newest runtime and ASP.NET Core frameworks (what the services roll forward to).
for fw in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
  version=$(ls "$dotnet_root/shared/$fw" | sort -V | tail -1)
  mkdir -p "$ctx/dotnet/shared/$fw"
  cp -a "$dotnet_root/shared/$fw/$version" "$ctx/dotnet/shared/$fw/"
done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
ARG OS_IMAGE
FROM ${OS_IMAGE}
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
    && groupadd --gid 1654 app && useradd --uid 1654 --gid 1654 --create-home --shell /usr/sbin/nologin app
ENV APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true DOTNET_ROOT=/usr/share/dotnet
DOCKERFILE

for variant in "" "-hdf5"; do
  if ! "$docker" image inspect "localhost/dotnet-aspnet$variant:10.0" >/dev/null 2>&1; then
    tarball=$([ -z "$variant" ] && echo "$plain_tar" || echo "$hdf5_tar")
    "$docker" import "$tarball" "localhost/anvil-debian$variant:bookworm" >/dev/null
    DOCKER_BUILDKIT=1 "$docker" build --network=host -q --build-arg "OS_IMAGE=localhost/anvil-debian$variant:bookworm" \
      -t "localhost/dotnet-aspnet$variant:10.0" "$ctx" >/dev/null
  fi
done
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^localhost/dotnet-aspnet'
