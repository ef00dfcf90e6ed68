#!/usr/bin/env bash
# The floor of case 1 of the benchmark: only the commands of Chef's HA procedure, one after the other, on the bench
# lab's containers (docker exec), with the same stand-in packages site.yml installs. No checks, no retries, no
# firewall, load balancer, Chef Waiter, users or status: what a bare script typed from the procedure would do.
#   Step 1: install chef-backend on the first backend, publish_address, create-cluster
#   Step 2: copy chef-backend-secrets.json to the other backends
#   Step 3: on each other backend in turn: install, publish_address, join-cluster, remove the copied secrets; status
#   Step 4: gen-server-config for each frontend on the first backend, copied to the frontend
#   Step 5: first frontend: install chef-server-core, chef-server.rb in place, reconfigure
#   Step 6: each other frontend: install, chef-server.rb, private-chef-secrets.json and migration-level from the
#           first frontend, touch bootstrapped, reconfigure
# Environment: FLOOR_BACKENDS ("be1:172.31.250.11 be2:172.31.250.12 be3:172.31.250.13"), FLOOR_FRONTENDS
# ("fe1 fe2"), FLOOR_DOMAIN (chefops.test), FLOOR_BACKEND_VERSION (2.3.19-1), FLOOR_FRONTEND_VERSION (15.9.20-1).
set -euo pipefail

backends=(${FLOOR_BACKENDS:-be1:172.31.250.11 be2:172.31.250.12 be3:172.31.250.13})
frontends=(${FLOOR_FRONTENDS:-fe1 fe2})
domain=${FLOOR_DOMAIN:-chefops.test}
backend_version=${FLOOR_BACKEND_VERSION:-2.3.19-1}
frontend_version=${FLOOR_FRONTEND_VERSION:-15.9.20-1}

on() { local host=$1; shift; docker exec "$host" "$@"; }
copy() {  # copy HOST:PATH HOST:PATH (scp between hosts, through this machine)
  docker exec "${1%%:*}" cat "${1#*:}" | docker exec -i "${2%%:*}" sh -c "umask 077; cat > '${2#*:}'"
}
install() { on "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
publish() { on "$1" sh -c "mkdir -p /etc/chef-backend && echo \"publish_address '$2'\" >> /etc/chef-backend/chef-backend.rb"; }

first=${backends[0]%%:*}
first_ip=${backends[0]#*:}
echo "step 1: $first"
install "$first" "chef-backend=$backend_version"
publish "$first" "$first_ip"
on "$first" chef-backend-ctl create-cluster --accept-license --yes >/dev/null

for entry in "${backends[@]:1}"; do
  host=${entry%%:*}
  echo "steps 2, 3: $host"
  copy "$first:/etc/chef-backend/chef-backend-secrets.json" "$host:/root/chef-backend-secrets.json"
  install "$host" "chef-backend=$backend_version"
  publish "$host" "${entry#*:}"
  on "$host" chef-backend-ctl join-cluster "$first_ip" -s /root/chef-backend-secrets.json --accept-license --yes \
    >/dev/null
  on "$host" rm -f /root/chef-backend-secrets.json
done
on "$first" chef-backend-ctl status >/dev/null

fe1=${frontends[0]}
for fe in "${frontends[@]}"; do
  echo "steps 4-6: $fe"
  on "$first" chef-backend-ctl gen-server-config "$fe.$domain" -f "/root/chef-server.rb.$fe" >/dev/null
  copy "$first:/root/chef-server.rb.$fe" "$fe:/root/chef-server.rb.$fe"
  install "$fe" "chef-server-core=$frontend_version"
  on "$fe" sh -c "mkdir -p /etc/opscode && cp /root/chef-server.rb.$fe /etc/opscode/chef-server.rb"
  if [ "$fe" != "$fe1" ]; then
    copy "$fe1:/etc/opscode/private-chef-secrets.json" "$fe:/etc/opscode/private-chef-secrets.json"
    on "$fe" mkdir -p /var/opt/opscode/upgrades
    copy "$fe1:/var/opt/opscode/upgrades/migration-level" "$fe:/var/opt/opscode/upgrades/migration-level"
    on "$fe" touch /var/opt/opscode/bootstrapped
  fi
  on "$fe" chef-server-ctl reconfigure --chef-license=accept >/dev/null
done
echo "floor done"
