#!/usr/bin/env bash
# Build every stand-in artifact into OUTDIR and index them as a flat apt repository:
#   OUTDIR/apt/*.deb + Packages(.gz)      (served to the lab hosts by outsider)
#   OUTDIR/releases/chef-waiter-*.tar.gz + SHA256SUMS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
# Rebuilt only when the stand-ins' sources changed: a running lab keeps apt indexes of the packages it was given.
source_hash=$(cd "$here" && find . -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ -f "$out/.source-hash" ] && [ "$(cat "$out/.source-hash")" = "$source_hash" ] \
   && [ -f "$out/apt/Packages" ] && [ -f "$out/releases/SHA256SUMS" ]; then
  echo "stand-ins up to date ($source_hash)"
  exit 0
fi
rm -rf "$out/apt" "$out/releases" "$out/.source-hash"
mkdir -p "$out/apt" "$out/releases"
for standin in chef-backend chef-server-core chef-client; do
  "$here/$standin/build.sh" "$out/apt"
done
"$here/chef-waiter/build.sh" "$out/releases"
(cd "$out/apt" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null && gzip -9kf Packages)
(cd "$out/releases" && sha256sum -- *.tar.gz > SHA256SUMS)
ls -1 "$out/apt"/*.deb "$out/releases"/*.tar.gz | sed "s#^$out/#built: #"
echo "$source_hash" > "$out/.source-hash"
