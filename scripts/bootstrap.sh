#!/usr/bin/env bash
# Everything the lab and the tests need on a fresh Debian bookworm machine (run as root):
# Debian packages, dockerd, the virtualenv, the lab image and the stand-in packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=(docker.io debootstrap dpkg-dev python3-venv iptables git make openssl)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

scripts/start-docker.sh

# The virtualenv (rebuilt only when the pinned requirements change) and the collection found by ansible.
scripts/venv.sh

image=$(lab/build-image.sh)
docker tag "$image" chefops-lab:current
echo "lab image: $image"

tests/standins/build.sh .build/repo

# The lab load balancer's certificate and key: self-signed, made once.
if [ ! -s .build/lab-tls/lb.key ] || [ ! -s .build/lab-tls/lb.crt ]; then
  mkdir -p .build/lab-tls
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=chef.chefops.test \
    -addext subjectAltName=DNS:chef.chefops.test,DNS:lb.chefops.test,IP:172.31.250.41 \
    -keyout .build/lab-tls/lb.key -out .build/lab-tls/lb.crt 2>/dev/null
  chmod 0600 .build/lab-tls/lb.key
fi
