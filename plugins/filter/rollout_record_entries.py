# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The entries of a rollout's progress record for chef_rollout_progress."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_record_entries
short_description: The hosts option of chef_rollout_progress from a wave or from its report rows
version_added: 0.1.0
description:
- Keys the entries by fqdn, what the allowlist holds, with the inventory host, status, wave, run id and detail.
positional: fqdn_of, status, wave
options:
  _input:
    description: The hosts of a wave, or report rows by host (from M(chefops.chef_ha.rollout_outcome#filter)).
    type: raw
    required: true
  fqdn_of:
    description: The fqdn of each host.
    type: dict
    required: true
  status:
    description: The status of every host, when O(_input) is a list.
    type: str
  wave:
    description: The wave of every host, when O(_input) is a list.
    type: int
author:
- chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Mark the wave pending
  chefops.chef_ha.chef_rollout_progress:
    name: whitelist.php8
    owner: "{{ token }}"
    hosts: "{{ wave | chefops.chef_ha.rollout_record_entries(fqdn_of, status='pending', wave=2) }}"
"""

RETURN = r"""
_value:
  description: By fqdn, C(host), C(status), C(wave), C(run_id), C(detail).
  type: dict
"""


def rollout_record_entries(hosts, fqdn_of, status=None, wave=None):
    """The hosts option of chef_rollout_progress: {fqdn: {host, status, wave, run_id, detail}} from a list of hosts
    (with status and wave) or from report rows by host (rollout_outcome)."""
    entries = {}
    if isinstance(hosts, dict):
        for host, row in hosts.items():
            entries[fqdn_of[host]] = dict(host=host, status=row.get('status'), wave=row.get('wave'),
                                          run_id=row.get('run_id'), detail=row.get('detail') or '')
    else:
        for host in hosts or []:
            entries[fqdn_of[host]] = dict(host=host, status=status, wave=wave, run_id=None, detail='')
    return entries


class FilterModule:
    """The entries of a rollout's progress record for chef_rollout_progress."""

    def filters(self):
        return {'rollout_record_entries': rollout_record_entries}
