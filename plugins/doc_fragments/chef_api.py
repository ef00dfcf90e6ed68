# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # How the modules reach and authenticate to the Chef Infra Server API.
    DOCUMENTATION = r"""
options:
  server_url:
    description:
      - URL of the Chef Infra Server API, with the organization, for example
        V(https://chef.example.com/organizations/acme); without C(/organizations/ORG) for a server that has no
        organizations (Chef Server 11 and servers compatible with it).
      - Falls back to the E(CHEF_SERVER_URL) environment variable, then to C(chef_server_url) in the profile of
        the credentials file (see O(profile)).
      - Must start with C(http://) or C(https://).
    type: str
  client_name:
    description:
      - Name of the API client (or user) the requests are signed as, what knife calls C(node_name).
      - Falls back to E(CHEF_CLIENT_NAME), then E(CHEF_NODE_NAME), then C(client_name) or C(node_name) in the
        profile of the credentials file.
    type: str
  client_key:
    description:
      - Path of the client's RSA private key (PEM) on the host that runs the module.
      - Falls back to the path in E(CHEF_CLIENT_KEY), then to C(client_key) in the profile of the credentials file
        (a path relative to the file's directory, or the key itself).
      - Mutually exclusive with O(client_key_content).
    type: path
  client_key_content:
    description:
      - The client's RSA private key itself (PEM), for example from a vault or an AWX credential.
      - Never logged.
    type: str
  profile:
    description:
      - Profile (section) of the credentials file to read the settings not given as options from, as knife's
        C(--profile) does.
      - Falls back to E(CHEF_PROFILE), then V(default). Naming a profile that the file lacks is an error.
    type: str
  credentials_file:
    description:
      - The knife credentials file (TOML, one C([profile]) section per profile with C(chef_server_url),
        C(client_name) and C(client_key)).
      - Defaults to C(~/.chef/credentials) of the user that runs the module.
    type: path
  sign_version:
    description:
      - Version of the C(Mixlib::Authentication) signing protocol. V(1.3) (SHA-256) needs Chef Infra Server 12.4 or
        later; V(1.1) (SHA-1) works with every server.
    type: str
    choices: ['1.1', '1.3']
    default: '1.3'
  server_api_version:
    description:
      - The E(X-Ops-Server-API-Version) header sent with every request (and signed with protocol 1.3).
    type: int
    default: 1
  validate_certs:
    description:
      - Verify the server's TLS certificate (chain and host name).
      - Turn it off only for a quick test; prefer O(ca_path) for a private certificate authority.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority that signed the server's certificate.
    type: path
  timeout:
    description:
      - Timeout in seconds of each HTTP request.
    type: int
    default: 30
  retries:
    description:
      - How many times a request is repeated after a connection error or an HTTP 5xx answer, with a doubling
        pause (about 1, 2, 4 seconds). Other answers are never repeated.
    type: int
    default: 3
requirements:
  - cryptography (a requirement of ansible-core, so present on the controller)
notes:
  - Run the module where the key is, usually the controller (C(delegate_to=localhost), C(run_once=true) where one
    request serves every host).
  - Options, environment variables and the credentials file are looked at in that order, each setting on its own.
  - Failure messages name the client, the key's source and the object; they never contain the key or the
    request signature.
"""
