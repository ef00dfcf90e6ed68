#!/usr/bin/env python3
"""The playbook variable reference: docs/docsite/rst/playbook_variables.rst, written from docs/variable_reference.yml
(the variables) and the playbooks themselves (the playbooks and roles each one runs).

Usage: scripts/playbook_variables.py           write the page
       scripts/playbook_variables.py --check   exit 1 when the page is not what the source gives
"""
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "docs", "variable_reference.yml")
PAGE = os.path.join(ROOT, "docs", "docsite", "rst", "playbook_variables.rst")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))
LABEL = "ansible_collections.chefops.chef_ha.docsite.playbook_variables"


def load_source():
    with open(SOURCE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def playbook_names():
    return sorted(f[:-4] for f in os.listdir(PLAYBOOKS) if f.endswith(".yml"))


def playbook_parts(name):
    """What a playbook runs, read from its file: the playbooks it imports (shared/run_lock included, as
    'shared/run_lock') and the collection's roles it names."""
    with open(os.path.join(PLAYBOOKS, name + ".yml"), encoding="utf-8") as handle:
        text = handle.read()
    imports = []
    for play in yaml.safe_load(text):
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            imports.append(os.path.splitext(imported)[0])
    named = set(re.findall(r"chefops\.chef_ha\.([a-z_][a-z0-9_]*)", text))
    return imports, [role for role in ROLES if role in named]


def _cell(value):
    return str(value).replace("\n", " ").strip() or "''"


def _table(variables):
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 28 8 24 40", "",
             "   * - Variable", "     - Type", "     - Default", "     - Description"]
    for var, spec in variables.items():
        if spec.get("required"):
            default = "required"
        elif "default_note" in spec:
            default = _cell(spec["default_note"])
        else:
            value = spec["default"]
            default = "``%s``" % (str(value).lower() if isinstance(value, bool) else _cell(value))
        lines += ["   * - ``%s``" % var, "     - %s" % spec["type"], "     - %s" % default,
                  "     - %s" % _cell(spec["description"])]
    return lines + [""]


def _heading(text, char):
    return [text, char * len(text), ""]


def render(source):
    out = [".. Written by scripts/playbook_variables.py from docs/variable_reference.yml: edit that file, then run the",
           "   script.", "", ".. _%s:" % LABEL, ""]
    out += _heading("Playbook variables", "=")
    out += ["The variables each playbook reads itself, as an extra variable (``-e``), an AWX survey answer or an",
            "inventory variable. Values given as text (``\"true\"``, ``\"3\"``), as AWX sends them, are accepted. The",
            "roles a playbook runs read their own variables, described on each role's page (its argument spec); the",
            "group names (``chef_ha_backend_group``, ``chef_ha_frontend_group``, ``chef_ha_load_balancer_group``,",
            "``chef_ha_node_group``) are the ``chef_ha`` role's, and reach the playbooks' host patterns only as",
            "extra variables.", ""]
    shared = source["shared"]
    for name in playbook_names():
        entry = source["playbooks"][name]
        imports, roles = playbook_parts(name)
        out += _heading("chefops.chef_ha.%s" % name, "-")
        out += [entry["summary"], ""]
        if roles:
            out += ["Roles: %s." % ", ".join(":ref:`%s <ansible_collections.chefops.chef_ha.%s_role>`" % (r, r)
                                             for r in roles), ""]
        sets = [imported.split("/", 1)[1] for imported in imports if imported.startswith("shared/")]
        sets += entry.get("shared", [])
        others = [imported for imported in imports if not imported.startswith("shared/")]
        if others:
            out += ["Also the variables of the playbooks it imports: %s." % ", ".join(
                "``%s``" % other for other in others), ""]
        if sets:
            out += ["Also: %s (below)." % "; ".join(shared[set_name]["title"] for set_name in sets), ""]
        out += _table(entry["variables"]) if entry["variables"] else ["No variables of its own.", ""]
    out += _heading("Variables several playbooks read", "-")
    for set_name, entry in shared.items():
        out += _heading(entry["title"][:1].upper() + entry["title"][1:], "^")
        if entry.get("description"):
            out += [_cell(entry["description"]), ""]
        if entry["variables"]:
            out += _table(entry["variables"])
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv):
    text = render(load_source())
    if "--check" in argv:
        with open(PAGE, encoding="utf-8") as handle:
            if handle.read() != text:
                sys.stderr.write("%s is not what %s gives: run scripts/playbook_variables.py\n"
                                 % (os.path.relpath(PAGE, ROOT), os.path.relpath(SOURCE, ROOT)))
                return 1
        return 0
    with open(PAGE, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
