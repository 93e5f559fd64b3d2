#!/usr/bin/env bash
# Builds the runner images' base without a container registry: debootstrap a minimal Debian
# bookworm from this host's own Debian mirror, then `docker import` it under the tag the
# Dockerfiles build FROM. The images' own `apt-get` then works as on the registry's image.
#
#   infra/scripts/offline-base.sh            # skips the work if the tag already exists
#   infra/scripts/offline-base.sh --force    # rebuilds it
#   GAVEL_BASE_IMAGE=my/base:tag infra/scripts/offline-base.sh
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TAG="${GAVEL_BASE_IMAGE:-debian:bookworm-slim}"
SUITE=bookworm

if [ "${1:-}" != --force ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG present"
  exit 0
fi

# The mirror this host installs from (deb822 or one-line sources), so the base reaches the same.
mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list)"
fi
[ -n "$mirror" ] || { echo "no Debian mirror found in this host's apt sources" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

work="$REPO/target/offline-base"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap $SUITE (minbase) from this host's mirror" >&2
debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

# The same suites as the registry's image: the release, its updates and security.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror}-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# What the slim image leaves out: package lists, caches, docs and man pages.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*

tar --numeric-owner -C "$rootfs" -c . |
  docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$TAG" >/dev/null
echo "imported $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
