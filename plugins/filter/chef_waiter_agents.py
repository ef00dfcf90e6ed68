# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agents option of chef_waiter_batch_run for inventory hosts, from their variables."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

DOCUMENTATION = r"""
name: chef_waiter_agents
short_description: The Chef Waiter agents of inventory hosts, as chef_waiter_batch_run takes them
version_added: 0.1.0
description:
  - Turns inventory host names into the O(chefops.chef_ha.chef_waiter_batch_run#module:agents) entries of
    M(chefops.chef_ha.chef_waiter_batch_run), one per host, in the order given, so that every playbook reaches an
    agent the same way.
  - "Each host's agent is reached at its C(chef_run_address), else its C(ansible_host), else its name; on its
    C(chef_run_port) (default V(8901)), over HTTPS when C(chef_run_use_tls) is true (default V(false)), verifying the
    certificate unless C(chef_run_validate_certs) is false (default V(true)). Values given as strings, as AWX sends
    them, are accepted."
  - With O(run_options=true), each entry also carries the host's C(chef_run_run_list) (a custom run list; empty
    runs the node's own run list) and C(chef_run_force), as C(chef_run.yml) passes them.
positional: hostvars, run_options
options:
  _input:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) of the play.
    type: raw
    required: true
  run_options:
    description: Add each host's C(chef_run_run_list) and C(chef_run_force) to its entry.
    type: bool
    default: false
author:
  - chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Run chef-client on every host of the batch at once
  chefops.chef_ha.chef_waiter_batch_run:
    agents: "{{ ansible_play_batch | chefops.chef_ha.chef_waiter_agents(hostvars, true) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: One entry per host with C(name), C(host), C(port), C(use_tls), C(validate_certs), and with
    O(run_options) C(run_list) (V(null) for the node's own run list) and C(force).
  type: list
  elements: dict
"""


def _setting(variables, key, default):
    """A host variable, or the default when it is missing or null."""
    value = variables.get(key) if hasattr(variables, 'get') else None
    return default if value is None else value


def _flag(host, variables, key, default):
    value = _setting(variables, key, default)
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise AnsibleFilterError('%s of host %s is %r, not a boolean; set it to true or false' % (key, host, value))


def chef_waiter_agents(hosts, hostvars, run_options=False):
    """The agents entries of chef_waiter_batch_run for the given inventory hosts."""
    if isinstance(hosts, str):
        hosts = [hosts]
    agents = []
    for host in hosts or []:
        try:
            variables = hostvars[host]
        except KeyError:
            raise AnsibleFilterError('%s is not a host of the inventory' % host)
        port = _setting(variables, 'chef_run_port', 8901)
        try:
            port = int(str(port).strip())
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            given = _setting(variables, 'chef_run_port', 8901)
            raise AnsibleFilterError('chef_run_port of host %s is %r, not a TCP port; set it to the port Chef '
                                     'Waiter listens on (default 8901)' % (host, given))
        entry = dict(
            name=host,
            host=str(_setting(variables, 'chef_run_address', _setting(variables, 'ansible_host', host))),
            port=port,
            use_tls=_flag(host, variables, 'chef_run_use_tls', False),
            validate_certs=_flag(host, variables, 'chef_run_validate_certs', True),
        )
        if run_options:
            run_list = str(_setting(variables, 'chef_run_run_list', '')).strip()
            entry.update(run_list=run_list or None, force=_flag(host, variables, 'chef_run_force', False))
        agents.append(entry)
    return agents


class FilterModule:
    """Chef Waiter agents of inventory hosts."""

    def filters(self):
        return {"chef_waiter_agents": chef_waiter_agents}
