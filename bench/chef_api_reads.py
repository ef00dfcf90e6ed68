#!/usr/bin/env python3
"""Chef API reads against goiardi on loopback (authentication on, every request signed): BENCH_NODES (200) GETs of
a node one after the other, and chef_node_info over the same nodes; then chef_node_info against the unit tests'
loopback Chef server answering each request after BENCH_LATENCY_MS (20, a server farther away than loopback).
With the collection at a git revision (argument, default HEAD) and with this working tree's, read one at a time
(PARALLEL_READS 1) and concurrently; each in a process of its own.

Reuses chef_run_fleet.py's goiardi (started on a free loopback port, its data in memory) and node registration.
Prints, per collection, the wall time and the CPU time of the process (every thread) of the best of BENCH_REPEAT
(3) rounds, the rounds alternating between the collections.

  .venv/bin/python bench/chef_api_reads.py [REV]
"""

import atexit
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

import chef_run_fleet as fleet  # noqa: E402 pylint: disable=wrong-import-position


def expose(collection_root, base):
    """Make collection_root importable as ansible_collections.chefops.chef_ha (a symlink under base)."""
    namespace = os.path.join(base, 'ansible_collections', 'chefops')
    os.makedirs(namespace, exist_ok=True)
    os.symlink(collection_root, os.path.join(namespace, 'chef_ha'))
    sys.path.insert(0, base)


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def child(collection_root, url, key, count, register, parallel_reads, latency):
    for name in fleet.PROXY_VARIABLES:
        os.environ.pop(name, None)
    base = tempfile.mkdtemp(prefix='chef-api-reads-')
    atexit.register(shutil.rmtree, base, True)
    expose(collection_root, base)
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'unit', 'plugins'))
    from chef_api_replay import KEY_FILE, LoopbackChefServer
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.chefops.chef_ha.plugins.module_utils import _chef_api
    from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import client_from_params
    from ansible_collections.chefops.chef_ha.plugins.modules import chef_node_info

    if parallel_reads:
        _chef_api.PARALLEL_READS = parallel_reads

    params = {'server_url': url, 'client_name': 'admin', 'client_key': key, 'sign_version': '1.3',
              'server_api_version': 1, 'validate_certs': True, 'timeout': 30, 'retries': 3}
    names = ['bench%03d' % n for n in range(count)]
    client = client_from_params(params)
    if register:
        fleet.register_nodes(client, names)

    def gets():
        for name in names:
            assert client.get(client.path('nodes', name))['name'] == name

    def node_info(params=params):
        out = io.StringIO()
        with patch_module_args(dict(params, names=names)), redirect_stdout(out):
            try:
                chef_node_info.main()
            except SystemExit:
                pass
        result = json.loads(out.getvalue())
        assert not result.get('failed') and [n['name'] for n in result['nodes']] == names, result.get('msg')
        return result

    seconds = {}
    dummy, seconds['gets_wall'], seconds['gets_cpu'] = timed(gets)
    dummy, seconds['node_info_wall'], seconds['node_info_cpu'] = timed(node_info)
    with LoopbackChefServer(delay=latency) as server:
        far = dict(params, server_url=server.url, client_name='deployer', client_key=KEY_FILE)
        dummy, seconds['far_wall'], seconds['far_cpu'] = timed(lambda: node_info(far))
    print(json.dumps(seconds))


def main():
    if sys.argv[1:2] == ['--child']:
        root, url, key, count, register, parallel_reads, latency = sys.argv[2:9]
        return child(root, url, key, int(count), register == '1', int(parallel_reads), float(latency))
    rev = sys.argv[1] if len(sys.argv) > 1 else 'HEAD'
    count = fleet.env_int('BENCH_NODES', 200, 1)
    repeat = fleet.env_int('BENCH_REPEAT', 3, 1)
    latency = fleet.env_int('BENCH_LATENCY_MS', 20) / 1000.0
    base = tempfile.mkdtemp(prefix='bench-chef-api-reads-')
    atexit.register(shutil.rmtree, base, True)
    program, why_not = fleet.install_goiardi(os.path.join(base, 'apt-get.log'))
    if program is None:
        sys.exit(why_not)
    old = os.path.join(base, 'at-%s' % rev.replace('/', '_'))
    os.makedirs(old)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', rev, 'plugins'], check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', old], input=archive, check=True)
    commit = subprocess.check_output(['git', '-C', ROOT, 'rev-parse', '--short', rev], text=True).strip()
    collections = [('%s (git %s)' % (rev, commit), old, 0),
                   ('working tree, 1 at a time', ROOT, 1),
                   ('working tree', ROOT, 0)]
    goiardi = fleet.Goiardi(program, os.path.join(base, 'goiardi'))
    best = {}
    try:
        goiardi.start()
        for round_number in range(repeat):
            for index, (label, root, parallel_reads) in enumerate(collections):
                register = '1' if round_number == 0 and index == 0 else '0'
                out = subprocess.run([sys.executable, __file__, '--child', root, goiardi.url, goiardi.admin_key,
                                      str(count), register, str(parallel_reads), str(latency)],
                                     check=True, capture_output=True, text=True).stdout
                seconds = json.loads(out.strip().splitlines()[-1])
                for key, value in seconds.items():
                    best.setdefault(label, {})[key] = min(value, best.get(label, {}).get(key, value))
    finally:
        goiardi.stop()
    print('goiardi %s on loopback, authentication on; %d nodes; best of %d rounds; load average %s'
          % (goiardi.url, count, repeat, ' '.join('%.2f' % n for n in os.getloadavg())))
    columns = ('GETs wall', 'GETs CPU', 'node_info wall', 'node_info CPU', '+%d ms wall' % (latency * 1000),
               '+%d ms CPU' % (latency * 1000))
    print('%-28s' % 'collection' + ''.join('%16s' % c for c in columns))
    keys = ('gets_wall', 'gets_cpu', 'node_info_wall', 'node_info_cpu', 'far_wall', 'far_cpu')
    for label, dummy, dummy in collections:
        print('%-28s' % label + ''.join('%15.2fs' % best[label][key] for key in keys))


if __name__ == '__main__':
    main()
