#!/usr/bin/env bash
# Build the chef-server-core stand-in packages into OUTDIR:
#   chef-server-core_15.9.20-1_all.deb   (migration level 1.41)
#   chef-server-core_15.10.12-1_all.deb  (migration level 1.42)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)

build_one() {
  local version=$1 minor=$2
  local root
  root=$(mktemp -d)
  chmod 0755 "$root"
  trap 'rm -rf "$root"' RETURN
  install -d -m 0755 "$root/DEBIAN" "$root/opt/opscode/bin" "$root/opt/opscode/embedded/bin" \
    "$root/opt/opscode/embedded/lib" "$root/opt/opscode/embedded/service/partybus" "$root/lib/systemd/system"
  install -m 0755 "$here/src/chef-server-ctl" "$root/opt/opscode/bin/chef-server-ctl"
  install -m 0755 "$here/src/chef-server-frontd" "$root/opt/opscode/embedded/bin/chef-server-frontd"
  install -m 0644 "$here/src/cscore.py" "$root/opt/opscode/embedded/lib/cscore.py"
  install -m 0644 "$here/systemd/chef-server-haproxy.service" "$here/systemd/chef-server-nginx.service" \
    "$root/lib/systemd/system/"
  printf '{"major":1,"minor":%d}\n' "$minor" > "$root/opt/opscode/embedded/service/partybus/migration-level"
  cat > "$root/opt/opscode/version-manifest.json" <<JSON
{
  "manifest_format": 2,
  "software": {},
  "build_version": "$version",
  "build_git_revision": "standin",
  "license": "Chef EULA"
}
JSON
  for script in postinst prerm postrm; do
    install -m 0755 "$here/debian/$script" "$root/DEBIAN/$script"
  done
  cat > "$root/DEBIAN/control" <<CONTROL
Package: chef-server-core
Version: $version-1
Architecture: all
Maintainer: chefops test stand-ins
Depends: python3, haproxy, postgresql-client-15, openssl, ssl-cert
Section: misc
Priority: optional
Description: Chef Infra Server (test stand-in)
 Frontend of a Chef Infra Server HA cluster backed by chef-backend: chef-server-ctl, a haproxy routing
 PostgreSQL and Elasticsearch to the backend leader, and a small HTTPS service answering /_status.
CONTROL
  dpkg-deb --build --root-owner-group "$root" "$out/chef-server-core_${version}-1_all.deb" >/dev/null
  echo "built $out/chef-server-core_${version}-1_all.deb"
}

build_one 15.9.20 41
build_one 15.10.12 42
