# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore drill's comparison of a restored server with the manifest its backup set recorded."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: manifest_differences
short_description: What a restored Chef Infra Server holds that differs from a backup set's manifest
version_added: 0.1.0
description:
  - Compares the object lists of a backup set's C(manifest.json) (as C(playbooks/backup.yml) writes it) with what a
    restored server holds (as C(chefops.chef_ha.chef_server_info) with C(objects=true) returns it), kind by kind
    (C(users), C(organizations)), in one pass.
  - Returns one sentence per kind and direction that differs; an empty list means the server holds exactly what
    the backup recorded.
positional: held
options:
  _input:
    description: The manifest, a dict with a list of names per kind.
    type: dict
    required: true
  held:
    description: What the restored server holds, a dict with a list of names per kind.
    type: dict
    required: true
  kinds:
    description: The kinds compared.
    type: list
    elements: str
    default: [users, organizations]
author:
  - chefops maintainers (@chefops)
"""

EXAMPLES = r"""
- name: Fail the drill on any difference
  ansible.builtin.assert:
    that: differences | length == 0
    fail_msg: "The restored server differs from the backup: {{ differences | join('; ') }}"
  vars:
    differences: "{{ backup_set.manifest | chefops.chef_ha.manifest_differences(restored) }}"
"""

RETURN = r"""
_value:
  description: "Sentences such as C(users missing: alice, bob) or C(organizations not in the backup: acme)."
  type: list
  elements: str
"""

DEFAULT_KINDS = ("users", "organizations")


def names_of(doc, kind, what):
    if not isinstance(doc, dict):
        raise AnsibleFilterError("manifest_differences: %s must be a dict of lists, got %s" % (what, type(doc).__name__))
    names = doc.get(kind)
    if names is None:
        raise AnsibleFilterError("manifest_differences: %s has no %s list" % (what, kind))
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise AnsibleFilterError("manifest_differences: %s[%s] must be a list of names" % (what, kind))
    return set(names)


def manifest_differences(manifest, held, kinds=DEFAULT_KINDS):
    differences = []
    for kind in kinds:
        wanted, have = names_of(manifest, kind, "the manifest"), names_of(held, kind, "the restored server")
        if wanted - have:
            differences.append("%s missing: %s" % (kind, ", ".join(sorted(wanted - have))))
        if have - wanted:
            differences.append("%s not in the backup: %s" % (kind, ", ".join(sorted(have - wanted))))
    return differences


class FilterModule:
    """Restore drill filters."""

    def filters(self):
        return {"manifest_differences": manifest_differences}
