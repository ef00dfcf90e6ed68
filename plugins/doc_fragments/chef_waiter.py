# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # How the modules reach the Chef Waiter agent's HTTP(S) API.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the agent, for example C(https://node1.example.com:8901).
      - When set, O(host), O(port) and O(use_tls) are not used.
    type: str
  host:
    description:
      - Host name or address of the agent.
    type: str
    default: localhost
  port:
    description:
      - TCP port of the agent (its C(listen_port)).
    type: int
    default: 8901
  use_tls:
    description:
      - Talk HTTPS to the agent, for an agent configured with C(enable_tls=true).
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the agent's TLS certificate (chain and host name).
      - Turn it off only for a quick test; prefer O(ca_path) for a private or self-signed certificate.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority (or the self-signed certificate) that signed the agent's certificate.
    type: path
  timeout:
    description:
      - Timeout in seconds of each HTTP request to the agent.
    type: int
    default: 10
notes:
  - The agent has no authentication. Restrict its port to trusted networks.
"""

    # The options of the modules that start runs (chef_waiter_run, chef_waiter_batch_run).
    RUN = r"""
options:
  run_list:
    description:
      - Custom run list, passed to C(chef-client -o), for example V(recipe[app::deploy]).
      - Sent as the raw request body; it must match an entry of the agent's C(allowed_custom_runs) exactly when the
        agent whitelists custom runs. At most 512 bytes.
      - Without it a run uses its node's own run list.
    type: str
  force:
    description:
      - Run the custom O(run_list) even when the agent is locked (C(?force=true)). Only custom runs can be forced.
    type: bool
    default: false
  log_lines:
    description:
      - How many lines of the end of each run log to return and show in a failure message. V(0) returns none,
        V(-1) the whole log.
    type: int
    default: 40
"""
