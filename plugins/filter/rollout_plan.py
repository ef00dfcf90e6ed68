# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of an allowlisted rollout from what the Chef server holds: the allowlist and the progress record."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.chefops.chef_ha.plugins.filter.rollout_waves import rollout_waves

DOCUMENTATION = r"""
name: rollout_plan
short_description: Plan a rollout from the allowlist and its progress record, gating every host that has not passed
version_added: 0.1.0
description:
  - Takes the hosts of a rollout in order and returns the waves to run and one report row per host.
  - A host counts as done only when the allowlist matches its fqdn and the progress record says it V(passed) its
    gate. A host the allowlist matches without that (its wave failed and was not rolled back, the run that added it
    died before its gate, someone added it by hand) is gated again, in a first wave of its own, before any host is
    added.
  - The other hosts are split with M(chefops.chef_ha.rollout_waves#filter), the passed and re-gated hosts counting
    towards the targets. Hosts beyond the last target (a ramp that stops short of 100%) are reported as V(not in
    this ramp) and are neither added nor run.
positional: waves, fqdn_of, allowlisted, record
options:
  _input:
    description: The hosts of the rollout, in order.
    type: list
    elements: str
    required: true
  waves:
    description: The wave targets, as M(chefops.chef_ha.rollout_waves#filter) takes them.
    type: raw
    required: true
  fqdn_of:
    description: The fqdn of each host, what the allowlist patterns match.
    type: dict
    required: true
  allowlisted:
    description: The fqdns the allowlist matches now.
    type: list
    elements: str
    required: true
  record:
    description: The hosts of the progress record, by fqdn, each with its C(status).
    type: dict
    default: {}
author:
  - chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Plan the ramp
  ansible.builtin.set_fact:
    plan: "{{ hosts | chefops.chef_ha.rollout_plan(rollout_waves, fqdn_of, allowlist.matched, progress.hosts) }}"
"""

RETURN = r"""
_value:
  description:
    - C(waves), the waves to run in order (lists of hosts); C(regate), the hosts gated again in the first wave;
      C(passed), the hosts already done; C(outside), the hosts beyond the last wave; C(rows), one report row per
      host (C(wave), C(status), C(in_allowlist), C(run_id), C(duration), C(detail)).
  type: dict
"""

PASSED = 'passed'


def rollout_plan(hosts, waves, fqdn_of, allowlisted, record=None):
    """The waves and the report rows of a rollout; see DOCUMENTATION."""
    if not isinstance(fqdn_of, dict):
        raise AnsibleFilterError('rollout_plan: fqdn_of must map each host to its fqdn, got %r' % (fqdn_of,))
    record = record if isinstance(record, dict) else {}
    allowlisted = set(allowlisted or [])
    hosts = list(dict.fromkeys(hosts or []))
    missing = [host for host in hosts if host not in fqdn_of]
    if missing:
        raise AnsibleFilterError('rollout_plan: no fqdn for %s' % ', '.join(missing))
    passed, regate = [], []
    for host in hosts:
        fqdn = fqdn_of[host]
        if fqdn not in allowlisted:
            continue
        if (record.get(fqdn) or {}).get('status') == PASSED:
            passed.append(host)
        else:
            regate.append(host)
    rest = rollout_waves(hosts, waves, passed + regate)
    plan = ([regate] if regate else []) + rest
    wave_of = dict((host, number) for number, wave in enumerate(plan, 1) for host in wave)
    rows = {}
    outside = []
    for host in hosts:
        fqdn = fqdn_of[host]
        row = dict(wave=wave_of.get(host), run_id=None, duration=None, in_allowlist=fqdn in allowlisted, detail='')
        if host in passed:
            entry = record.get(fqdn) or {}
            row.update(status='already passed', run_id=entry.get('run_id'),
                       detail='passed its gate in wave %s of an earlier run' % entry.get('wave', '?'))
        elif host in wave_of:
            row['status'] = 'not run'
            if host in regate:
                before = (record.get(fqdn) or {}).get('status')
                row['detail'] = ('in the allowlist without a passed gate (%s): gated again first'
                                 % ('record: %s' % before if before else 'no record'))
        else:
            row['status'] = 'not in this ramp'
            row['detail'] = 'beyond the last wave of rollout_waves'
            outside.append(host)
        rows[host] = row
    return dict(waves=plan, regate=regate, passed=passed, outside=outside, rows=rows)


class FilterModule:
    """Planning of allowlisted rollouts from the Chef server's state."""

    def filters(self):
        return {'rollout_plan': rollout_plan}
