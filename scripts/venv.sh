#!/usr/bin/env bash
# The virtualenv from the pinned requirements-dev.txt (rebuilt only when they change) and the collection found by
# ansible as chefops.chef_ha from this checkout: what needs no lab (make bench). scripts/bootstrap.sh runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "creating the virtualenv from requirements-dev.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

mkdir -p .build/collections/ansible_collections/chefops .build/logs
ln -sfn ../../../.. .build/collections/ansible_collections/chefops/chef_ha
