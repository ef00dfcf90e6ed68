# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report rows of one rollout wave, judged from what was read back."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_outcome
short_description: Judge the hosts of one rollout wave from their runs, their check URL and the allowlist read back
version_added: 0.1.0
description:
- One report row per host of the wave, from what was read back, never from what was requested.
- A host passes when its Chef Waiter run is C(complete), its check URL (when there was one) answered 2xx, and the allowlist
  read back after the runs still matches its fqdn; a host another writer dropped from the allowlist during the wave is V(dropped
  from allowlist).
- With O(gate=false) (a rollback run) the rows say V(rolled back) when the run completed and the host is out of the allowlist,
  else V(rollback run failed).
positional: runs, checks, fqdn_of, allowlisted, wave, check_mode, gate, previous
options:
  _input:
    description: The hosts of the wave.
    type: list
    elements: str
    required: true
  runs:
    description: RV(chefops.chef_ha.chef_waiter_batch_run#module:runs) of the wave.
    type: dict
    required: true
  checks:
    description: The results of the check URL loop (each with C(item), C(status), C(url)).
    type: list
    elements: dict
    required: true
  fqdn_of:
    description: The fqdn of each host.
    type: dict
    required: true
  allowlisted:
    description: The fqdns the allowlist read back after the runs matches.
    type: list
    elements: str
    required: true
  wave:
    description: The wave number for the rows.
    type: int
  check_mode:
    description: The runs were only predicted.
    type: bool
    default: false
  gate:
    description: V(false) for a rollback run.
    type: bool
    default: true
  previous:
    description: The report rows before this run, by host (their status and detail lead a rollback row's detail).
    type: dict
author:
- chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Judge the wave
  ansible.builtin.set_fact:
    outcome: "{{ wave | chefops.chef_ha.rollout_outcome(batch.runs, checks.results, fqdn_of, reread.matched, 1) }}"
"""

RETURN = r"""
_value:
  description: By host, C(ok), C(status), C(wave), C(run_id), C(duration), C(detail) and C(in_allowlist).
  type: dict
"""


def _first_line(text):
    lines = (text or '').strip().splitlines()
    line = lines[0] if lines else ''
    for tail in ('; last lines of its log:', '; last lines of its log', ' last lines of its log:'):
        if line.endswith(tail):
            line = line[:-len(tail)]
    return line.rstrip(';:,. ')


def rollout_outcome(hosts, runs, checks, fqdn_of, allowlisted, wave=None, check_mode=False, gate=True,
                    previous=None):
    """Report rows of the hosts of one wave from the real state: their runs, their check URL answers and the
    allowlist read back after the runs (see the rollout_outcome filter's documentation)."""
    runs = runs if isinstance(runs, dict) else {}
    answers = {}
    for check in checks or []:
        if isinstance(check, dict) and 'item' in check and 'status' in check:
            answers[check['item']] = check
    allowlisted = set(allowlisted or [])
    previous = previous if isinstance(previous, dict) else {}
    rows = {}
    for host in hosts or []:
        run = runs.get(host) or {'failed': True, 'msg': 'no run result'}
        check = answers.get(host)
        in_list = fqdn_of[host] in allowlisted
        if run.get('failed'):
            ok, status, detail = False, 'failed', _first_line(run.get('msg')) or 'the run failed'
        elif check_mode:
            ok, status, detail = True, 'would run', 'check mode'
        elif run.get('status') != 'complete':
            ok, status, detail = False, 'failed', 'run status %s' % run.get('status', 'unknown')
        elif check is not None and not 200 <= int(check.get('status') or 0) < 300:
            ok, status = False, 'check failed'
            detail = '%s answered %s' % (check.get('url'), check.get('status') if int(check.get('status') or 0) > 0
                                         else check.get('msg') or 'nothing')
        elif gate and not in_list:
            ok, status = False, 'dropped from allowlist'
            detail = ('dropped from the allowlist by another writer during the wave: its run did not take the '
                      'change; the allowlist read back after the runs does not match %s' % fqdn_of[host])
        else:
            ok, status, detail = True, 'passed', ''
        if not gate:
            before = previous.get(host) or {}
            status = 'rolled back' if ok and not in_list else 'rollback run failed'
            if ok and in_list:
                detail = 'still in the allowlist after the rollback (another writer added it back)'
            detail = '; '.join(part for part in [
                '%s in run %s%s' % (before.get('status'), before.get('run_id') or '-',
                                    ': ' + before['detail'] if before.get('detail') else ''),
                'rollback run: ' + detail if detail else ''] if part)
        rows[host] = dict(ok=ok and (gate or not in_list), status=status, detail=detail,
                          run_id=run.get('guid'), duration=run.get('duration'), in_allowlist=in_list,
                          wave=wave if wave is not None else (previous.get(host) or {}).get('wave'))
    return rows


class FilterModule:
    """The report rows of one rollout wave, judged from what was read back."""

    def filters(self):
        return {'rollout_outcome': rollout_outcome}
