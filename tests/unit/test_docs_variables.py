"""Every variable the docs name exists: a name in backquotes in the README, the docs site's pages, the roles' and the
AWX project's READMEs is an option of a role's argument spec, a variable a playbook (or awx/configure.yml) or a role's
tasks read, or a module, option, return value or filter of the collection's plugins. A renamed or removed variable left in the docs
fails here, naming the page. The getting-started page's example inventory sets only variables that an argument spec
declares (and ansible_* connection variables), on the four groups."""

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = sorted(
    [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "awx", "project", "README.md")]
    + glob.glob(os.path.join(ROOT, "docs", "docsite", "rst", "*.rst"))
    + glob.glob(os.path.join(ROOT, "roles", "*", "README.md")))
# `name` or ``name`` (reST), optionally followed by =value: snake_case with at least one underscore
NAMED = re.compile(r"(?<!`)``?([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?:=[^`\n]*)?``?(?!`)")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def declared_options():
    """Every option of every entry point of every role's argument spec."""
    names = set()
    for spec in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        for entry_point in (yaml.safe_load(read(spec)).get("argument_specs") or {}).values():
            names.update((entry_point or {}).get("options") or {})
    return names


def known_names():
    names = declared_options()
    words = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
    # a role's tasks and vars read some variables from other hosts' hostvars, which no argument spec can declare
    sources = (glob.glob(os.path.join(ROOT, "playbooks", "**", "*.yml"), recursive=True)
               + glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
               + glob.glob(os.path.join(ROOT, "roles", "*", "vars", "*.yml"))
               + [os.path.join(ROOT, "awx", "configure.yml")]
               + glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True))
    for path in sources:
        names.update(words.findall(read(path)))
    return names


KNOWN = known_names()


@pytest.mark.parametrize("page", PAGES, ids=lambda path: os.path.relpath(path, ROOT))
def test_every_variable_a_page_names_exists(page):
    unknown = sorted({name for name in NAMED.findall(read(page)) if name not in KNOWN})
    assert not unknown, "%s names %s, which no argument spec, playbook or plugin of the collection has" % (
        os.path.relpath(page, ROOT), ", ".join(unknown))


def test_the_check_finds_names_in_both_markups():
    found = NAMED.findall("set `chef_ha_backup_dir=/srv` or ``rollout_waves``")
    assert found == ["chef_ha_backup_dir", "rollout_waves"]
    assert "chef_ha_no_such_variable" not in KNOWN


def getting_started_inventory():
    """The example inventory of the getting-started page: the code block that starts with its marker comment."""
    text = read(os.path.join(ROOT, "docs", "docsite", "rst", "getting_started.rst"))
    start = text.index("    # getting-started inventory\n")
    block = []
    for line in text[start:].splitlines():
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return yaml.safe_load("\n".join(block))


def inventory_variables(group):
    names = set((group.get("vars") or {}))
    for host_vars in (group.get("hosts") or {}).values():
        names.update(host_vars or {})
    for child in (group.get("children") or {}).values():
        names.update(inventory_variables(child or {}))
    return names


def test_the_getting_started_inventory_sets_only_declared_variables_on_the_four_groups():
    inventory = getting_started_inventory()
    assert sorted(inventory["all"]["children"]) == ["chef_backends", "chef_frontends", "chef_load_balancers",
                                                    "chef_nodes"]
    assert len(inventory["all"]["children"]["chef_backends"]["hosts"]) == 3
    names = {name for name in inventory_variables(inventory["all"]) if not name.startswith("ansible_")}
    declared = declared_options()
    assert names and not names - declared, sorted(names - declared)
