#!/usr/bin/env bash
# ansible-test sanity on the collection, in ansible-test's own virtualenvs.
# ansible-test bootstraps pip in each venv with a script it downloads from a host this machine cannot reach;
# it looks in its cache first, so a local script there installs pip from PyPI instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
py=$root/.venv/bin/python
ca=/etc/ssl/certs/ca-certificates.crt

pip_version=$("$py" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
class Py:  # only the version is read
    version = "3.11"
print(get_venv_packages(Py())["pip"])
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<PY
"""Stand-in for ansible-test's pip bootstrap download: ensurepip, then pip from PyPI."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--cert", "$ca"] + args)
PY

# One run at a time: the copy below is shared.
mkdir -p "$root/.build"
exec 9>"$root/.build/sanity.lock"
flock 9

# ansible-test wants the collection at ansible_collections/<namespace>/<name>/.
work=$root/.build/sanity/ansible_collections/chefops/chef_ha
# A fresh copy each run, but keep tests/output: ansible-test's delegation venv lives there.
mkdir -p "$work"
find "$work" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
find "$work/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} + 2>/dev/null || true
# What the collection ships, plus the unit tests of its plugins; the lab, the stand-ins and the test plumbing are
# not Ansible content (galaxy.yml's build_ignore keeps them out of the artifact too).
git ls-files -co --exclude-standard \
  | grep -v -E '^(\.build|\.ci|\.config|bench|lab|molecule|scripts|tests/(lab|standins|unit/standins))/' \
  | tar -c -T - | tar -x -C "$work"
cd "$work"
git init -q . && git add -A >/dev/null   # ansible-test lists a collection's files through git when it can
exec "$root/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
