#!/usr/bin/env bash
# The collection's HTML documentation site: antsibull-docs renders every module, plugin and role and the extra pages
# of docs/docsite/, Sphinx builds the site. Offline: no intersphinx inventory is fetched, so links into Ansible's
# own documentation stay unresolved; every other Sphinx warning fails the build.
# Usage: scripts/docs.sh [DEST]   (default .build/docs; the site ends up in DEST/build/html)
# The collection is taken from ANSIBLE_COLLECTIONS_PATH (default: this checkout, through .build/collections).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dest=${1:-$root/.build/docs}
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$root/.build/collections}
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ANSIBLE_NOCOLOR=true

# The documentation tools, installed into the virtualenv when requirements-docs.txt changes.
stamp=$root/.venv/.requirements-docs.sha256
want=$(sha256sum requirements-docs.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing the documentation tools from requirements-docs.txt"
  pip install -q -r requirements-docs.txt
  echo "$want" > "$stamp"
fi

# antsibull-docs wants directories only their owner may write to.
rm -rf "$dest"
mkdir -p -m 755 "$dest"
antsibull-docs sphinx-init --use-current --dest-dir "$dest" chefops.chef_ha >/dev/null
cat >> "$dest/conf.py" <<'PY'

# Built offline: no intersphinx inventories are fetched.
intersphinx_mapping = {}
PY
mkdir -p -m 755 "$dest/rst"
# A plugin or role whose documentation antsibull-docs cannot read gets an error page instead of its own: a failure.
antsibull-docs --config-file "$dest/antsibull-docs.cfg" collection --cleanup everything --use-current \
  --dest-dir "$dest/rst" chefops.chef_ha > "$dest/antsibull-docs.log" 2>&1 || { cat "$dest/antsibull-docs.log" >&2; exit 1; }
if grep -q 'ERROR' "$dest/antsibull-docs.log"; then
  echo "docs: antsibull-docs could not render everything:" >&2
  grep 'ERROR' "$dest/antsibull-docs.log" >&2
  exit 1
fi
sphinx-build -M html "$dest/rst" "$dest/build" -q -c "$dest" -w "$dest/warnings.log" 2>/dev/null || true
# Only links into Ansible's documentation may stay unresolved (undefined labels outside this collection).
problems=$(grep -v -E "WARNING: undefined label: '([a-z_]+|ansible_collections\.(ansible|community)\.[a-z0-9_.]+)' \[ref\.ref\]$" \
  "$dest/warnings.log" | grep -v '^$' || true)
if [ -n "$problems" ] || [ ! -f "$dest/build/html/index.html" ]; then
  echo "docs: the site has problems:" >&2
  printf '%s\n' "$problems" >&2
  exit 1
fi
echo "docs: $(find "$dest/build/html" -name '*.html' | wc -l) pages in ${dest#"$root"/}/build/html" \
  "($(grep -c . "$dest/warnings.log" || true) links into Ansible's documentation left unresolved offline)"
