#!/usr/bin/env bash
# Build the Chef Waiter release tarball into OUTDIR, laid out like the real release artifact:
#   OUTDIR/chef-waiter-linux-amd64-v<VERSION>.tar.gz -> chef-waiter-linux-amd64-v<VERSION>/chef-waiter (0755)
# VERSION (default 1.4.3) is baked into the program, as the real build does with -ldflags "-X main.VERSION=...".
set -euo pipefail
OUTDIR=${1:?usage: build.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=${VERSION:-1.4.3}
if ! [[ $VERSION =~ ^[0-9A-Za-z][0-9A-Za-z.+~-]*$ ]]; then
    echo "build.sh: invalid VERSION '$VERSION'" >&2
    exit 2
fi
NAME="chef-waiter-linux-amd64-v${VERSION}"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/$NAME"
sed "s/^VERSION = \"[^\"]*\"/VERSION = \"${VERSION}\"/" "$HERE/chef-waiter" > "$STAGE/$NAME/chef-waiter"
grep -q "^VERSION = \"${VERSION}\"" "$STAGE/$NAME/chef-waiter"
chmod 0755 "$STAGE/$NAME" "$STAGE/$NAME/chef-waiter"
mkdir -p "$OUTDIR"
# Reproducible archive: fixed owner, order and timestamps (the release date of v1.4.3).
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2019-10-16 00:00:00Z' \
    -C "$STAGE" -cf - "$NAME" | gzip -9n > "$OUTDIR/$NAME.tar.gz"
echo "$OUTDIR/$NAME.tar.gz"
