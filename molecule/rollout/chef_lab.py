#!/usr/bin/env python3
"""The rollout lab's Chef API helper, run on the controller with the collection's own signed client.

  chef_lab.py register SERVER_URL ADMIN_KEY NODE_NAME KEY_OUT
      Creates the API client NODE_NAME (unless it exists) and writes its new private key to KEY_OUT (0600); creates
      the node NODE_NAME in _default with an empty run list (unless it exists). Prints what it created, as JSON.
  chef_lab.py get SERVER_URL ADMIN_KEY PATH
      Prints the JSON at PATH (for example /nodes/node1.chefops.test), or null when it is missing.

The tests and the scenario's converge use it for what no module of the collection does (clients) and to read the
server's state; every request is signed and checked by the server.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", ".build", "collections"))

from ansible_collections.chefops.chef_ha.plugins.module_utils._chef_api import (  # noqa: E402
    ChefAPIError,
    client_from_params,
)


def client(server_url, admin_key):
    return client_from_params({"server_url": server_url, "client_name": "admin", "client_key": admin_key,
                               "sign_version": "1.3", "server_api_version": 1, "validate_certs": True,
                               "timeout": 30, "retries": 3})


def register(api, name, key_out):
    created = []
    if api.get(api.path("clients", name), missing_ok=True) is None:
        answer = api.post("/clients", {"name": name, "admin": False, "validator": False, "create_key": True})
        key = answer.get("private_key") or (answer.get("chef_key") or {}).get("private_key")
        if not key:
            raise ChefAPIError("the server created client %s but returned no private key" % name)
        fd = os.open(key_out + ".part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        os.rename(key_out + ".part", key_out)
        created.append("client")
    elif not os.path.exists(key_out):
        raise ChefAPIError("client %s exists but its key %s is gone: delete the client and register again"
                           % (name, key_out))
    if api.get(api.path("nodes", name), missing_ok=True) is None:
        api.post("/nodes", {"name": name, "chef_type": "node", "json_class": "Chef::Node",
                            "chef_environment": "_default", "run_list": [], "normal": {}, "default": {},
                            "override": {}, "automatic": {}})
        created.append("node")
    return created


def main(argv):
    if len(argv) < 4 or argv[0] not in ("register", "get"):
        sys.stderr.write(__doc__)
        return 2
    api = client(argv[1], argv[2])
    try:
        if argv[0] == "register":
            print(json.dumps({"created": register(api, argv[3], argv[4])}))
        else:
            print(json.dumps(api.get(argv[3], missing_ok=True), sort_keys=True))
    except ChefAPIError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
