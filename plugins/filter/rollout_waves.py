# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The waves of an allowlisted rollout: which hosts each wave adds."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: rollout_waves
short_description: Split the hosts of a rollout into waves, each a list of the hosts it adds
version_added: 0.1.0
description:
  - Takes the hosts of a rollout in the order they are to be ramped, the wave sizes, and the hosts the allowlist
    already covers, and returns the waves, each the list of hosts that wave adds, in the order of O(_input).
  - Wave sizes are cumulative targets over all the hosts of O(_input), covered ones included; V(1) then V(10%) then
    V(100%) means one host, then one tenth of the hosts in all, then every host. A percentage is rounded up; a
    number larger than the hosts means all of them.
  - Every wave adds at least one host while any is left, so V([1, 1, '100%']) adds one host, one more, then the
    rest.
  - Hosts in O(covered) are never added again, and count towards the targets, so a ramp that stopped half way
    resumes where it stopped; a wave whose target they already meet is left out, and when every host is covered
    the result is empty.
  - Errors name the variables C(rollout_waves) and C(rollout_hosts), as the rollout playbook calls them.
positional: waves, covered
options:
  _input:
    description:
      - The hosts to roll out to, in order; duplicates after the first are dropped.
      - A comma-separated string is split.
    type: raw
    required: true
  waves:
    description:
      - The cumulative wave targets, each a number of hosts (V(1) or more) or a percentage of the hosts (above
        V(0%), at most V(100%)), in an order that never goes down (numbers compared with numbers, percentages with
        percentages).
      - A list such as V([1, '10%', '100%']), or as an AWX survey sends it, a string such as V(1,10%,100%) or the
        JSON text V([1, "10%", "100%"]).
    type: raw
    required: true
  covered:
    description:
      - Hosts the allowlist already covers. Hosts not in O(_input) are ignored.
    type: list
    elements: str
    default: []
author:
  - chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Plan the waves of the ramp
  ansible.builtin.set_fact:
    waves: "{{ rollout_fqdns | chefops.chef_ha.rollout_waves(rollout_waves, allowlist.matched) }}"
  # rollout_fqdns: [a, b, c, d, e, f, g, h, i, j, k, l]; rollout_waves: "1,25%,100%"; nothing covered yet
  # waves: [[a], [b, c], [d, e, f, g, h, i, j, k, l]]
"""

RETURN = r"""
_value:
  description: The waves in order, each a non-empty list of the hosts it adds; empty when every host is covered.
  type: list
  elements: list
"""

EXAMPLE_FIX = "for example [1, '10%', '100%'] or the text 1,10%,100%"
_NUMBER = re.compile(r'^\+?(\d+)$')
_PERCENT = re.compile(r'^\+?(\d+(?:\.\d+)?|\.\d+)\s*%$')


def _shown(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else repr(value)


def _wave_list(waves):
    """The wave values as a list, from a list, a comma-separated string or a JSON (or YAML-like) list text."""
    if isinstance(waves, (list, tuple)):
        return list(waves)
    if isinstance(waves, bool) or waves is None:
        return [waves] if waves is not None else []
    if isinstance(waves, (int, float)):
        return [waves]
    if not isinstance(waves, str):
        raise AnsibleFilterError('rollout_waves must be a list of wave sizes, got %s (%s); give a list, %s'
                                 % (_shown(waves), type(waves).__name__, EXAMPLE_FIX))
    text = waves.strip()
    if text.startswith('['):
        try:
            parsed = json.loads(text)
        except ValueError:
            if not text.endswith(']'):
                raise AnsibleFilterError('rollout_waves %r is not a list: it opens with "[" but does not close it; '
                                         'give %s' % (waves, EXAMPLE_FIX))
            parsed = [p.strip().strip('"\'') for p in text[1:-1].split(',')]
            if parsed == ['']:
                parsed = []
        if not isinstance(parsed, list):
            raise AnsibleFilterError('rollout_waves %r is not a list; give %s' % (waves, EXAMPLE_FIX))
        return parsed
    if not text:
        return []
    return [p.strip() for p in text.split(',')]


def _wave(value, waves):
    """('count', n) or ('percent', Fraction) for one wave value; AnsibleFilterError naming rollout_waves."""
    where = 'rollout_waves %s' % _shown(waves)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnsibleFilterError('%s has %s, which is not a number of hosts or a percentage; give numbers of '
                                 'hosts and percentages, %s' % (where, _shown(value), EXAMPLE_FIX))
    if isinstance(value, str):
        text = value.strip()
        number, percent = _NUMBER.match(text), _PERCENT.match(text)
        if percent:
            share = Fraction(percent.group(1))
            if share == 0:
                raise AnsibleFilterError('%s has a wave of %r, which adds no host; every wave must add hosts: give a '
                                         'percentage above 0%%, such as 1%%' % (where, value))
            if share > 100:
                raise AnsibleFilterError('%s has a wave of %r, more than all the hosts; percentages go up to 100%%, '
                                         'which is every host' % (where, value))
            return 'percent', share
        if not number:
            raise AnsibleFilterError('%s has %r, which is not a number of hosts or a percentage; write a whole '
                                     'number such as 5 or a percentage such as 10%%, %s' % (where, value, EXAMPLE_FIX))
        value = int(number.group(1))
    elif isinstance(value, float):
        if value != int(value):
            raise AnsibleFilterError('%s has %r, which is not a whole number of hosts; give a whole number, or a '
                                     'percentage such as "%s%%"' % (where, value, value))
        value = int(value)
    if value <= 0:
        raise AnsibleFilterError('%s has a wave of %r, which adds no host; every wave must add hosts: give 1 or more'
                                 % (where, value))
    return 'count', value


def _host_list(hosts, variable):
    if hosts is None:
        return []
    if isinstance(hosts, str):
        hosts = [h.strip() for h in hosts.split(',') if h.strip()]
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError('%s must be a list of hosts, got %s (%s)'
                                 % (variable, _shown(hosts), type(hosts).__name__))
    out = []
    for host in hosts:
        if not isinstance(host, str) or not host.strip():
            raise AnsibleFilterError('%s has %s, which is not a host name' % (variable, _shown(host)))
        if host not in out:
            out.append(host)
    return out


def rollout_waves(hosts, waves, covered=None):
    """The waves of a rollout: a list of non-empty lists of hosts to add, in order."""
    hosts = _host_list(hosts, 'rollout_hosts')
    if not hosts:
        raise AnsibleFilterError('rollout_hosts gives no host to roll out to; set rollout_hosts to hosts or a '
                                 'pattern of the inventory that matches at least one host')
    values = _wave_list(waves)
    if not values:
        raise AnsibleFilterError('rollout_waves is empty (%s); give at least one wave, %s'
                                 % (_shown(waves), EXAMPLE_FIX))
    parsed = [_wave(value, waves) for value in values]
    last = {}
    for (unit, size), value in zip(parsed, values):
        if unit in last and size < last[unit][0]:
            raise AnsibleFilterError(
                'rollout_waves %s goes down from %s to %s; each wave is a cumulative target (all the hosts '
                'reached so far), so a later wave must be at least as large as an earlier one of the same kind, '
                'for example [1, 5, "50%%", "100%%"]' % (_shown(waves), _shown(last[unit][1]), _shown(value)))
        last[unit] = (size, value)

    total = len(hosts)
    done = set(_host_list(covered, 'covered')) & set(hosts)
    pending = [host for host in hosts if host not in done]
    reached = len(done)
    target = 0
    plan = []
    for unit, size in parsed:
        wanted = size if unit == 'count' else math.ceil(size * total / 100)
        # the target of a fresh ramp: never below the last one, and one host more while any is left
        target = min(total, max(wanted, target + 1))
        wave = pending[:max(0, target - reached)]
        if wave:
            plan.append(wave)
            pending = pending[len(wave):]
            reached += len(wave)
    return plan


class FilterModule:
    """Wave planning of allowlisted rollouts."""

    def filters(self):
        return {"rollout_waves": rollout_waves}
