#!/usr/bin/env bash
# Build the lab's base image with debootstrap + docker import, cached by a hash of its recipe.
# Prints the image reference (chefops-lab:<hash>) on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
recipe_hash=$(cat "$here/build-image.sh" "$here/image-packages.txt" | sha256sum | cut -c1-12)
image="chefops-lab:${recipe_hash}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

# The Debian mirror this machine already uses; the lab never names one of its own.
mirror=${LAB_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' | grep '/debian' | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(grep -hs -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '$3 == "bookworm" {print $2}' | head -n1 || true)
fi
[ -n "$mirror" ] || { echo "no bookworm mirror found in this machine's apt sources; set LAB_DEBIAN_MIRROR" >&2; exit 1; }

packages=$(grep -v -E '^\s*(#|$)' "$here/image-packages.txt" | paste -sd, -)
work=$(mktemp -d /var/tmp/chefops-lab-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "building $image from $mirror (debootstrap, a few minutes)" >&2
# The Debian postgresql package must not create and start a cluster of its own: the stand-in manages one.
mkdir -p "$root/etc/postgresql-common"
echo "create_main_cluster = false" > "$root/etc/postgresql-common/createcluster.conf"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 40 "$work/debootstrap.log" >&2; exit 1; }

# Lab hosts reach no mirror: apt knows only the lab's own repository, added by the tests.
: > "$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
# Services that the stand-ins (not Debian) start.
for unit in etcd.service haproxy.service postgresql.service; do
  chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
  chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
# Units that make no sense in a container.
for unit in systemd-resolved.service systemd-timesyncd.service getty@tty1.service console-getty.service \
            systemd-udevd.service systemd-networkd-wait-online.service; do
  chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
echo "" > "$root/etc/machine-id"
# Lab hosts resolve names from /etc/hosts only: there is no DNS on the lab network, and asking it (getent, IPv6
# lookups) only waits for a timeout.
sed -i 's/^hosts:.*/hosts:          files/' "$root/etc/nsswitch.conf"
echo 'LANG=C.UTF-8' > "$root/etc/default/locale"

tar -C "$root" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  - "$image" >/dev/null
echo "$image"
