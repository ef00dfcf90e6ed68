"""Every variable the docs name exists: a name in backquotes in the README, the docs site's pages, the roles' and the
AWX project's READMEs is an option of a role's argument spec, a variable a playbook (or awx/configure.yml) reads, or a
module, option, return value or filter of the collection's plugins. A renamed or removed variable left in the docs
fails here, naming the page."""

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


def known_names():
    names = set()
    for spec in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        for entry_point in (yaml.safe_load(read(spec)).get("argument_specs") or {}).values():
            names.update((entry_point or {}).get("options") or {})
    words = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
    sources = (glob.glob(os.path.join(ROOT, "playbooks", "**", "*.yml"), recursive=True)
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
    assert NAMED.findall("set `chef_ha_backup_dir=/srv` or ``rollout_waves``") == ["chef_ha_backup_dir",
                                                                                  "rollout_waves"]
    assert "chef_ha_no_such_variable" not in KNOWN
