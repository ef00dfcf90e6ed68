#!/usr/bin/env bash
# Build every stand-in artifact into OUTDIR and index them as a flat apt repository:
#   OUTDIR/apt/*.deb + Packages(.gz)      (served to the lab hosts by outsider)
#   OUTDIR/releases/chef-waiter-*.tar.gz + SHA256SUMS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
rm -rf "$out/apt" "$out/releases"
mkdir -p "$out/apt" "$out/releases"
for standin in chef-backend chef-server-core chef-client; do
  "$here/$standin/build.sh" "$out/apt"
done
"$here/chef-waiter/build.sh" "$out/releases"
(cd "$out/apt" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null && gzip -9kf Packages)
(cd "$out/releases" && sha256sum -- *.tar.gz > SHA256SUMS)
ls -1 "$out/apt"/*.deb "$out/releases"/*.tar.gz | sed "s#^$out/#built: #"
