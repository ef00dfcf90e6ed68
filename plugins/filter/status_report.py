# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster report of playbooks/status.yml, from the results of the info modules."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: status_report
short_description: One report of the whole cluster from the results of the info modules
version_added: 0.1.0
description:
  - Takes, per section, the registered results of M(chefops.chef_ha.chef_backend_info) (backends),
    M(chefops.chef_ha.chef_server_info) (frontends), M(ansible.builtin.uri) on C(/_status) (load balancers) and
    M(chefops.chef_ha.chef_waiter_info) (managed nodes), keyed by host; a host whose result is missing, failed or
    unreachable is reported as unhealthy with the reason.
  - Returns the report as data with one C(healthy) verdict and its C(problems), and as C(table), lines for a person.
  - A managed node's failed last chef-client run is shown but does not make the report unhealthy; an agent that does
    not answer does.
options:
  _input:
    description: A dict with the keys C(backends), C(frontends), C(load_balancers) and C(nodes), each a dict of host
      name to registered result.
    type: dict
    required: true
author:
  - chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Put the report together
  ansible.builtin.set_fact:
    report: "{{ {'backends': backend_results, 'frontends': {}, 'load_balancers': {}, 'nodes': {}}
                | chefops.chef_ha.status_report }}"
"""

RETURN = r"""
_value:
  description: C(healthy), C(problems), C(cluster) (leader and members), C(backends), C(frontends),
    C(load_balancers), C(nodes) (one dict per host) and C(table) (lines of text).
  type: dict
"""

SECTIONS = ('backends', 'frontends', 'load_balancers', 'nodes')


def _unread(result):
    """Why a host could not be read, or None when its result is usable."""
    if not isinstance(result, dict) or not result:
        return 'not read'
    if result.get('unreachable'):
        return 'unreachable: %s' % (result.get('msg') or 'no connection')
    if result.get('failed') or result.get('skipped'):
        return result.get('msg') or 'the read failed'
    return None


def _backend(host, result):
    why = _unread(result)
    if why:
        return dict(host=host, healthy=False, problems=[why])
    services = dict((name, (svc or {}).get('state')) for name, svc in sorted((result.get('services') or {}).items()))
    return dict(host=host, healthy=bool(result.get('healthy')), problems=list(result.get('problems') or []),
                services=services, etcd=result.get('etcd'), leaderl=result.get('leaderl'),
                postgresql=result.get('postgresql'), elasticsearch=result.get('elasticsearch'),
                in_cluster=result.get('in_cluster'), leader=result.get('leader'),
                members=list(result.get('members') or []))


def _frontend(host, result):
    why = _unread(result)
    if why:
        return dict(host=host, healthy=False, problems=[why])
    status = result.get('status') or {}
    return dict(host=host, healthy=bool(result.get('healthy')), problems=list(result.get('problems') or []),
                version=result.get('version'), migration_level=result.get('migration_level'),
                bootstrapped=result.get('bootstrapped'), status=status.get('status'),
                upstreams=status.get('upstreams'))


def _load_balancer(host, result):
    why = _unread(result)
    if why:
        return dict(host=host, healthy=False, problems=[why])
    answer = result.get('json') if isinstance(result.get('json'), dict) else {}
    status = answer.get('status')
    healthy = result.get('status') == 200 and status == 'pong'
    problems = [] if healthy else ['/_status through it answers %s (HTTP %s)' % (status, result.get('status'))]
    return dict(host=host, healthy=healthy, problems=problems, status=status, http_status=result.get('status'))


def _node(host, result):
    why = _unread(result)
    if why:
        return dict(host=host, healthy=False, problems=[why])
    if not result.get('reachable'):
        return dict(host=host, healthy=False, problems=list(result.get('problems') or ['the agent does not answer']))
    return dict(host=host, healthy=bool(result.get('healthy')), problems=list(result.get('problems') or []),
                version=result.get('version'), chef_version=result.get('chef_version'), locked=result.get('locked'),
                maintenance=(result.get('maintenance') or {}).get('in_maintenance'),
                periodic_runs=result.get('periodic_runs'), last_run=result.get('last_run'))


def _verdict(entry):
    return 'ok' if entry['healthy'] else 'UNHEALTHY'


def _table(report):
    lines = []
    cluster = report['cluster']
    leader = cluster.get('leader') or {}
    lines.append('Backends (leader: %s)' % ('%s %s' % (leader.get('name'), leader.get('ip')) if leader else 'none'))
    for member in cluster.get('members') or []:
        lines.append('  member %-16s %-15s %-9s pg %-9s es %s' % (member.get('name'), member.get('ip'),
                                                                  member.get('role'), member.get('pg'),
                                                                  member.get('es')))
    for entry in report['backends']:
        if 'services' in entry:
            running = sum(1 for state in entry['services'].values() if state == 'running')
            postgresql = entry['postgresql'] or {}
            lines.append('  %-20s services %d/%d running  etcd %s  postgresql %s synced, %s syncing, %s offline  '
                         'elasticsearch %s  %s' % (
                             entry['host'], running, len(entry['services']), (entry['etcd'] or {}).get('health'),
                             postgresql.get('synced'), postgresql.get('syncing'), postgresql.get('offline'),
                             (entry['elasticsearch'] or {}).get('state'), _verdict(entry)))
        else:
            lines.append('  %-20s %s' % (entry['host'], _verdict(entry)))
    lines.append('Frontends')
    for entry in report['frontends']:
        level = entry.get('migration_level') or {}
        lines.append('  %-20s %-12s migration level %-7s /_status %-11s %s' % (
            entry['host'], entry.get('version') or '-', '%s.%s' % (level['major'], level['minor']) if level else '-',
            entry.get('status') or '-', _verdict(entry)))
    if report['load_balancers']:
        lines.append('Load balancers')
        for entry in report['load_balancers']:
            lines.append('  %-20s /_status through it %-11s %s' % (entry['host'], entry.get('status') or '-',
                                                                   _verdict(entry)))
    if report['nodes']:
        lines.append('Managed nodes (Chef Waiter)')
        for entry in report['nodes']:
            if 'version' not in entry:
                lines.append('  %-20s %s' % (entry['host'], _verdict(entry)))
                continue
            last = entry.get('last_run') or {}
            lines.append('  %-20s %-8s %-8s %-14s last run %s  %s' % (
                entry['host'], entry['version'] or '-', 'locked' if entry['locked'] else 'unlocked',
                'maintenance' if entry['maintenance'] else 'no maintenance',
                '%s (exit %s)' % (last.get('status'), last.get('exitcode')) if last else 'none', _verdict(entry)))
    lines.append('Healthy' if report['healthy'] else 'UNHEALTHY: %s' % '; '.join(report['problems']))
    return lines


def status_report(results):
    if not isinstance(results, dict):
        raise AnsibleFilterError('status_report expects a dict of sections, got %s' % type(results).__name__)
    build = dict(backends=_backend, frontends=_frontend, load_balancers=_load_balancer, nodes=_node)
    report = dict(cluster={})
    problems = []
    for section in SECTIONS:
        entries = [build[section](host, result) for host, result in (results.get(section) or {}).items()]
        report[section] = entries
        problems += ['%s: %s' % (entry['host'], problem) for entry in entries for problem in entry['problems']]
    for entry in report['backends']:
        if entry.get('in_cluster') and not report['cluster']:
            report['cluster'] = dict(read_from=entry['host'], leader=entry.get('leader'), members=entry.get('members'))
    if report['backends'] and not report['cluster']:
        problems.append('no backend could read the cluster')
    report['problems'] = problems
    report['healthy'] = not problems
    report['table'] = _table(report)
    return report


class FilterModule:
    """The cluster report."""

    def filters(self):
        return {"status_report": status_report}
