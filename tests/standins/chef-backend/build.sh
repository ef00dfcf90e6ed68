#!/bin/sh
# Build chef-backend_2.3.19-1_all.deb and chef-backend_2.3.20-1_all.deb (the same files; the version is what
# differs, so the lab has a newer package of the same major for upgrade_backends.yml) into OUTDIR.
set -eu
OUTDIR=${1:?usage: build.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
for VERSION in 2.3.19 2.3.20; do
STAGE=$(mktemp -d)
cp -a "$HERE/src/." "$STAGE/"
find "$STAGE" -name '__pycache__' -prune -exec rm -rf {} +
mkdir -p "$STAGE/DEBIAN"
sed "s/^Version: .*/Version: ${VERSION}-1/" "$HERE/debian/control" > "$STAGE/DEBIAN/control"
for f in postinst prerm postrm; do
    install -m 0755 "$HERE/debian/$f" "$STAGE/DEBIAN/$f"
done
cat > "$STAGE/opt/chef-backend/version-manifest.json" <<JSON
{
  "manifest_format": 2,
  "software": {
    "chef-backend-ctl": {"locked_version": "$VERSION", "locked_source": null, "source_type": "path",
                         "described_version": "$VERSION", "license": "Chef EULA"},
    "etcd": {"locked_version": "3.4", "source_type": "system", "described_version": "3.4", "license": "Apache-2.0"},
    "postgresql": {"locked_version": "15", "source_type": "system", "described_version": "15",
                   "license": "PostgreSQL"},
    "elasticsearch": {"locked_version": "5.6.16", "source_type": "path", "described_version": "5.6.16",
                      "license": "Apache-2.0"}
  },
  "build_version": "$VERSION",
  "build_git_revision": "0000000000000000000000000000000000000000",
  "license": "Chef EULA"
}
JSON
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE/opt" "$STAGE/lib" -type f -exec chmod 0644 {} +
chmod 0755 "$STAGE/opt/chef-backend/bin/chef-backend-ctl"
mkdir -p "$OUTDIR"
dpkg-deb --build --root-owner-group "$STAGE" "$OUTDIR/chef-backend_${VERSION}-1_all.deb" >/dev/null
echo "$OUTDIR/chef-backend_${VERSION}-1_all.deb"
rm -rf "$STAGE"
done
