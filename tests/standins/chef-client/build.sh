#!/usr/bin/env bash
# Build chef-client_<VERSION>-1_all.deb (VERSION default 18.4.12) into OUTDIR from the files in this directory.
# Installs /opt/chef/bin/chef-client, the /usr/bin/chef-client link, and disabled chef-client.service/.timer.
set -euo pipefail
OUTDIR=${1:?usage: build.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=${VERSION:-18.4.12}
if ! [[ $VERSION =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
    echo "build.sh: invalid VERSION '$VERSION'" >&2
    exit 2
fi
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"
install -d -m 0755 "$STAGE/DEBIAN" "$STAGE/opt/chef/bin" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" \
    "$STAGE/usr/share/doc/chef-client"
sed "s/^VERSION = \"[^\"]*\"/VERSION = \"${VERSION}\"/" "$HERE/chef-client" > "$STAGE/opt/chef/bin/chef-client"
grep -q "^VERSION = \"${VERSION}\"" "$STAGE/opt/chef/bin/chef-client"
chmod 0755 "$STAGE/opt/chef/bin/chef-client"
ln -s /opt/chef/bin/chef-client "$STAGE/usr/bin/chef-client"
install -m 0644 "$HERE/systemd/chef-client.service" "$HERE/systemd/chef-client.timer" "$STAGE/lib/systemd/system/"
install -m 0644 "$HERE/FIDELITY.md" "$STAGE/usr/share/doc/chef-client/FIDELITY.md"
sed "s/@VERSION@/${VERSION}/" "$HERE/debian/control" > "$STAGE/DEBIAN/control"
install -m 0755 "$HERE/debian/postinst" "$HERE/debian/postrm" "$STAGE/DEBIAN/"
mkdir -p "$OUTDIR"
dpkg-deb --build --root-owner-group "$STAGE" "$OUTDIR/chef-client_${VERSION}-1_all.deb" >/dev/null
echo "$OUTDIR/chef-client_${VERSION}-1_all.deb"
