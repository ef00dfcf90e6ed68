# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of chefops.chef_ha: pure parsers of chef-backend-ctl output and chef-backend files.

Not a public API: names may change between releases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import ipaddress
import json
import os
import re
import time

from ansible_collections.chefops.chef_ha.plugins.module_utils._atomic_file import read_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._ctl_runner import MASK, ChefCtlParseError

# What a member that serves is, in leaderl and in PostgreSQL (not waiting_for_leader, offline, unreachable...).
SERVING_ROLES = ('leader', 'follower')


# ---------------------------------------------------------------------------------------------------------------
# chef-backend-ctl status

_TIME_RE = re.compile(r'^(\d+)d (\d+)h (\d+)m (\d+)s$')
_STATUS_ROW_RE = re.compile(
    r'^(?P<name>[A-Za-z0-9_.-]+)\s+(?P<local>.+?)\s+(?P<time>\d+d \d+h \d+m \d+s)(?:\s+(?P<dist>.*?))?\s*$')
_RUNNING_RE = re.compile(r'^(run|running) \(pid (\d+)\)$')
_RATIO_RE = re.compile(r'^(\d+)/(\d+)$')
_INT_RE = re.compile(r'^\d+$')


def parse_duration(text):
    """`1d 5h 59m 41s` -> seconds."""
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ChefCtlParseError('not a time in state: %r' % text)
    days, hours, minutes, seconds = (int(g) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_distributed(text, snake_keys=True):
    """`health: green; healthy nodes: 3/3` -> {'health': 'green', 'healthy_nodes': '3/3'}.

    An `error: ...` cell becomes {'error': '...'} (the message may itself contain `;`).
    """
    text = (text or '').strip()
    if not text:
        return {}
    if text.startswith('error:'):
        return {'error': text[len('error:'):].strip()}
    result = {}
    for part in text.split(';'):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition(':')
        if not sep or not key.strip():
            raise ChefCtlParseError('unexpected distributed status %r' % text)
        key = key.strip()
        result[re.sub(r'\s+', '_', key) if snake_keys else key] = value.strip()
    return result


def _split_cells(line):
    return [cell for cell in re.split(r'\s{2,}', line.strip()) if cell]


def _parse_local_state(local):
    match = _RUNNING_RE.match(local)
    if match:
        return 'running', int(match.group(2))
    return local.split()[0] if local else 'unknown', None


def parse_status(text):
    """Parse `chef-backend-ctl status` (1.x four rows or 2.x with `epmd` and the `System` table).

    Returns {'services': {name: {state, pid, local_status, time_in_state, time_in_state_seconds, distributed,
                                 distributed_raw}},
             'system': {name: {local, local_raw, distributed, distributed_raw}}}.
    """
    services = {}
    system = {}
    section = None
    for raw in (text or '').splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        cells = _split_cells(line)
        if cells[0] == 'Service' and 'Local Status' in cells:
            section = 'services'
            continue
        if cells[0] == 'System' and 'Local Status' in cells:
            section = 'system'
            continue
        if section == 'services':
            match = _STATUS_ROW_RE.match(line.strip())
            if not match:
                raise ChefCtlParseError('unexpected status row %r' % line)
            state, pid = _parse_local_state(match.group('local').strip())
            dist_raw = (match.group('dist') or '').strip()
            services[match.group('name')] = {
                'state': state,
                'pid': pid,
                'local_status': match.group('local').strip(),
                'time_in_state': match.group('time'),
                'time_in_state_seconds': parse_duration(match.group('time')),
                'distributed': parse_distributed(dist_raw),
                'distributed_raw': dist_raw,
            }
        elif section == 'system':
            if len(cells) < 2:
                raise ChefCtlParseError('unexpected System row %r' % line)
            local_raw = cells[1]
            dist_raw = '  '.join(cells[2:])
            system[cells[0]] = {
                'local': parse_distributed(local_raw, snake_keys=False),
                'local_raw': local_raw,
                'distributed': parse_distributed(dist_raw),
                'distributed_raw': dist_raw,
            }
        else:
            raise ChefCtlParseError('status output does not start with the Service table header: %r' % line)
    if not services:
        raise ChefCtlParseError('no service rows in status output')
    return {'services': services, 'system': system}


def _ratio(value):
    match = _RATIO_RE.match(value or '')
    if not match:
        return None, None
    return int(match.group(1)), int(match.group(2))


def _int_or_none(value):
    return int(value) if value is not None and _INT_RE.match(value) else None


def summarize_status(services):
    """The distributed columns of the status table as typed facts per subsystem."""
    def dist(name):
        return (services.get(name) or {}).get('distributed') or {}

    es = dist('elasticsearch')
    online, es_total = _ratio(es.get('nodes_online'))
    etcd = dist('etcd')
    healthy, etcd_total = _ratio(etcd.get('healthy_nodes'))
    leaderl = dist('leaderl')
    pg = dist('postgresql')
    summary = {
        'elasticsearch': {'state': es.get('state'), 'online': online, 'total': es_total},
        'etcd': {'health': etcd.get('health'), 'healthy': healthy, 'total': etcd_total},
        'leaderl': dict((key, _int_or_none(leaderl.get(key))) for key in ('leader', 'waiting', 'follower', 'total')),
        'postgresql': dict((key, _int_or_none(pg.get(key))) for key in ('leader', 'offline', 'syncing', 'synced')),
    }
    for name, key in (('elasticsearch', 'elasticsearch'), ('etcd', 'etcd'), ('leaderl', 'leaderl'),
                      ('postgresql', 'postgresql')):
        if 'error' in dist(name):
            summary[key]['error'] = dist(name)['error']
    return summary


# ---------------------------------------------------------------------------------------------------------------
# chef-backend-ctl cluster-status --json

_GUID_RE = re.compile(r'^[0-9a-fA-F]{16,64}$')
_ALIASES = ('node_name', 'hostname', 'id', 'node_id', 'ip_address', 'publish_address', 'address', 'postgresql',
            'postgres', 'elasticsearch')


def _pick(node, *names):
    for name in names:
        if name in node and node[name] is not None:
            return node[name]
    return None


def _normalize_member(node, key=None):
    name = _pick(node, 'name', 'node_name', 'hostname')
    guid = _pick(node, 'guid', 'id', 'node_id')
    if key is not None:
        if guid is None and _GUID_RE.match(key) and (name is None or name != key):
            guid = key
        elif name is None:
            name = key
    ip = _pick(node, 'ip', 'ip_address', 'publish_address', 'address')
    member = {
        'name': None if name is None else str(name),
        'ip': None if ip is None else str(ip),
        'guid': None if guid is None else str(guid),
        'role': _pick(node, 'role'),
        'pg': _pick(node, 'pg', 'postgresql', 'postgres'),
        'es': _pick(node, 'es', 'elasticsearch'),
        'partially_synced': _pick(node, 'partially_synced'),
    }
    if member['name'] is None and member['ip'] is None and member['guid'] is None:
        raise ChefCtlParseError('cluster member without name, ip or guid: %r' % (node,))
    for extra_key, value in node.items():
        if extra_key not in member and extra_key not in _ALIASES:
            member[extra_key] = value
    return member


def _node_list(data):
    if isinstance(data, dict):
        for wrapper in ('nodes', 'members', 'cluster'):
            inner = data.get(wrapper)
            if isinstance(inner, list) or (isinstance(inner, dict) and inner
                                           and all(isinstance(v, dict) for v in inner.values())):
                return _node_list(inner)
        if data and all(isinstance(value, dict) for value in data.values()):
            return list(data.items())
        if not data:
            return []
        raise ChefCtlParseError('cluster-status --json: expected a list of nodes or an object of node objects')
    if isinstance(data, list):
        for item in data:
            if not isinstance(item, dict):
                raise ChefCtlParseError('cluster-status --json: node entry is not an object: %r' % (item,))
        return [(None, item) for item in data]
    raise ChefCtlParseError('cluster-status --json: expected a list or an object, got %s' % type(data).__name__)


def parse_cluster_status_json(text):
    """Parse `cluster-status --json` -> list of normalized members.

    Key names are not public beyond `partially_synced`; accepts `name`, `ip`, `guid`/`id`, `role`,
    `pg`/`postgresql`, `es`/`elasticsearch`, as a list of node objects or an object keyed by name or guid.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ChefCtlParseError('cluster-status --json did not print JSON: %s' % exc)
    return [_normalize_member(node, key) for key, node in _node_list(data)]


def read_members(runner, changed=False):
    """(in_cluster, members, (rc, out, err, cmd)); fails on garbled output of a successful call."""
    rc, out, err, cmd = runner.run('cluster-status', '--json')
    if rc != 0:
        return False, [], (rc, out, err, cmd)
    try:
        members = parse_cluster_status_json(out)
    except ChefCtlParseError as exc:
        runner.fail('cannot read the cluster members: %s' % exc, rc, out, err, cmd, changed=changed)
    return True, members, (rc, out, err, cmd)


def cluster_status_failure(out, err):
    """(message, members) from a failed `cluster-status --json`: the JSON `error` and any nodes it still lists."""
    members = []
    message = None
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if isinstance(data.get('error'), str):
            message = data['error']
        try:
            members = [_normalize_member(node, key) for key, node in _node_list(data)]
        except ChefCtlParseError:
            members = []
    if message is None:
        message = (err or '').strip() or (out or '').strip() or None
    return message, members


def find_leader(members):
    for member in members:
        if member.get('role') == 'leader':
            return member
    return None


def find_member(members, address=None, names=()):
    """The member whose ip equals address (compared as IP addresses), else whose name is one of names."""
    if address:
        for member in members:
            if member.get('ip') is not None and same_address(member['ip'], address):
                return member
        return None
    for member in members:
        if member.get('name') and member['name'] in names:
            return member
    return None


def _as_ip(value):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def same_address(first, second):
    """True when both name the same IP address (or are equal strings)."""
    if first == second:
        return True
    first_ip, second_ip = _as_ip(first), _as_ip(second)
    return first_ip is not None and first_ip == second_ip


def is_ip_address(value):
    return _as_ip(value) is not None


# ---------------------------------------------------------------------------------------------------------------
# chef-backend.rb

_RB_SETTING_RE = re.compile(r'''^\s*{key}\s*(?:=\s*|\s+)(?P<q>['"])(?P<value>[^'"]*)(?P=q)\s*(?:#.*)?$''')


def backend_rb_setting(text, key):
    """The last `key 'value'` / `key = "value"` assignment of a top-level string setting, or None."""
    pattern = re.compile(_RB_SETTING_RE.pattern.format(key=re.escape(key)))
    value = None
    for line in (text or '').splitlines():
        match = pattern.match(line)
        if match:
            value = match.group('value')
    return value


# ---------------------------------------------------------------------------------------------------------------
# gen-server-config

_PASSWORD_RE = re.compile(r'''^(?P<head>\s*postgresql\[(?P<q1>['"])db_superuser_password(?P=q1)\]\s*=\s*)'''
                          r'''(?P<q>['"])(?P<value>.*)(?P=q)(?P<tail>\s*(?:#.*)?)$''')
_FQDN_RE = re.compile(r'''^\s*fqdn\s*(?:=\s*|\s+)(['"])(?P<value>[^'"]*)\1\s*$''')
_MEMBERS_RE = re.compile(r'^\s*chef_backend_members\s*(?:=\s*|\s+)\[(?P<value>[^\]]*)\]\s*$')
_ASSIGN_RE = re.compile(r'''^\s*(?P<key>[a-z_0-9]+(?:\[['"][a-z_0-9]+['"]\])?)\s*(?:=\s*|\s+)(?P<value>\S.*?)\s*$''')


def server_config_passwords(text):
    """Every superuser password value in a chef-server.rb text."""
    values = []
    for line in (text or '').splitlines():
        match = _PASSWORD_RE.match(line)
        if match and match.group('value'):
            values.append(match.group('value'))
    return values


def mask_server_config(text, mask=MASK):
    """The text with the superuser password value replaced by mask (for diffs and messages)."""
    if text is None:
        return None
    lines = []
    for line in text.splitlines(True):
        body = line.rstrip('\r\n')
        ending = line[len(body):]
        match = _PASSWORD_RE.match(body)
        if match:
            body = '%s%s%s%s%s' % (match.group('head'), match.group('q'), mask, match.group('q'),
                                   match.group('tail'))
        lines.append(body + ending)
    return ''.join(lines)


def parse_server_config(text):
    """Parse gen-server-config output -> {fqdn, chef_backend_members, settings} (password masked in settings)."""
    fqdn = None
    members = None
    settings = {}
    for line in (text or '').splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        match = _FQDN_RE.match(stripped)
        if match:
            fqdn = match.group('value')
            continue
        match = _MEMBERS_RE.match(stripped)
        if match:
            members = [item.strip().strip('\'"') for item in match.group('value').split(',') if item.strip()]
            continue
        match = _ASSIGN_RE.match(mask_server_config(stripped))
        if not match:
            raise ChefCtlParseError('unexpected line in gen-server-config output: %r' % mask_server_config(line))
        settings[match.group('key').replace('"', "'")] = match.group('value')
    if fqdn is None and not settings:
        raise ChefCtlParseError('gen-server-config printed no chef-server.rb settings')
    return {'fqdn': fqdn, 'chef_backend_members': members, 'settings': settings}


# ---------------------------------------------------------------------------------------------------------------
# Health

def assess_health(services, summary, members):
    """(healthy, problems): all services running, etcd green with all nodes healthy, one leader and none waiting,
    every member leader or follower in leaderl and in PostgreSQL, PostgreSQL synced == members - 1 and no partially
    synced member, Elasticsearch green."""
    problems = []
    for name in sorted(services):
        if services[name].get('state') != 'running':
            problems.append('service %s is %s' % (name, services[name].get('local_status') or
                                                  services[name].get('state')))
    etcd = summary['etcd']
    if etcd.get('health') != 'green' or etcd.get('healthy') is None or etcd.get('healthy') != etcd.get('total'):
        problems.append('etcd health %s, healthy nodes %s/%s' % (etcd.get('health'), etcd.get('healthy'),
                                                                 etcd.get('total')))
    leaders = summary['leaderl'].get('leader')
    if leaders != 1:
        problems.append('leaderl reports %s leaders (want 1)' % leaders)
    waiting = summary['leaderl'].get('waiting')
    if waiting:
        problems.append('leaderl reports %s member(s) waiting' % waiting)
    if not members:
        problems.append('node is not a member of a cluster')
    else:
        for member in members:
            name = member.get('name') or member.get('ip')
            if member.get('role') not in SERVING_ROLES:
                problems.append('member %s is %s' % (name, member.get('role')))
            elif member.get('pg') not in SERVING_ROLES:
                problems.append('member %s has PostgreSQL %s' % (name, member.get('pg')))
        synced = summary['postgresql'].get('synced')
        if synced != len(members) - 1:
            problems.append('postgresql synced followers %s (want %d)' % (synced, len(members) - 1))
        for member in members:
            if member.get('partially_synced') is True:
                problems.append('member %s is partially synced' % (member.get('name') or member.get('ip')))
    if 'error' in summary['postgresql']:
        problems.append('postgresql: %s' % summary['postgresql']['error'])
    es = summary['elasticsearch']
    if es.get('state') != 'green':
        problems.append('elasticsearch state %s' % es.get('state'))
    return not problems, problems


def installed_version(path):
    """The build_version of an omnibus version manifest (the installed package), or None when unreadable."""
    try:
        return str(json.loads(read_text(path) or '')['build_version'])
    except (ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------------------------
# chef-backend-ctl cleanse

# where chef-backend-ctl cleanse backs up /etc/chef-backend (omnibus-ctl: /root/<name>-cleanse-%FT%R)
CLEANSE_BACKUPS = '/root/chef-backend-cleanse-*'


def cleanse_node(runner, secrets_file):
    """`chef-backend-ctl cleanse yes` (nothing in check mode), then the copy of the cluster secrets it saved removed.

    Returns (stdout, removed copies). Fails the module when cleanse fails.
    """
    before = set(glob.glob(CLEANSE_BACKUPS))
    started = time.time()
    out = runner.change('cleanse', 'yes')
    if out is None:
        return None, []
    return out, remove_backed_up_secrets(secrets_file, before, started)


def remove_backed_up_secrets(secrets_file, before, since):
    """cleanse copies /etc/chef-backend, the cluster secrets with it, to /root/chef-backend-cleanse-<%FT%R>: the
    copy this cleanse wrote loses its secrets file (the next join places them again); its chef-backend.rb and the
    rest stay for the operator. This cleanse's directory is a new one, or one named by a minute it ran in (a
    cleanse earlier in the same minute wrote there too); the copy keeps the files' times, so they cannot tell."""
    minutes = set()
    moment = since - since % 60
    while moment <= time.time():
        minutes.add(time.strftime('%Y-%m-%dT%H:%M', time.localtime(moment)))
        moment += 60
    removed = []
    for backup in sorted(glob.glob(CLEANSE_BACKUPS)):
        copy = os.path.join(backup, os.path.basename(secrets_file))
        ours = backup not in before or backup.rsplit('-cleanse-', 1)[-1] in minutes
        if ours and os.path.exists(copy):
            os.remove(copy)
            removed.append(copy)
    return removed
