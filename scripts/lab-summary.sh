#!/usr/bin/env bash
# The end of `make lab`: where the lab's cluster stands (playbooks/status.yml) and how to reach its hosts.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.build/collections" CHEFOPS_LAB_ROOT="$PWD"
ANSIBLE_DISPLAY_SKIPPED_HOSTS=false ansible-playbook -i lab/inventory.yml playbooks/status.yml \
  -e chef_ha_report_dir="$PWD/.build/reports" | sed -n '/TASK \[Show the report\]/,/^}/p'
rc=${PIPESTATUS[0]}
cat <<MSG

The lab (network chefops-lab, 172.31.250.0/24; the report as JSON: .build/reports/chef-ha-status.json):
  the Chef API         https://172.31.250.41/ through the load balancer lb (self-signed: .build/lab-tls/lb.crt)
                       curl --cacert .build/lab-tls/lb.crt --resolve lb.chefops.test:443:172.31.250.41 https://lb.chefops.test/_status
  knife                chef_server_url https://172.31.250.41/organizations/chefops, node_name chefadmin,
                       the key: docker exec fe1 cat /etc/opscode/chefadmin.pem
  a shell on a host    docker exec -it be1 bash   (be1 be2 be3 fe1 fe2 lb node1 outsider)
  a playbook           . .venv/bin/activate; ANSIBLE_COLLECTIONS_PATH=.build/collections \\
                         ansible-playbook -i lab/inventory.yml playbooks/status.yml
  remove the lab       make lab-down
MSG
exit "$rc"
