"""The playbook variable reference (docs/variable_reference.yml and the page written from it) agrees with the
playbooks: every variable a playbook reads with a default is described there or in a role's argument spec, every
variable described is read, and the page is what the source gives."""

import glob
import importlib.util
import json
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("playbook_variables",
                                               os.path.join(ROOT, "scripts", "playbook_variables.py"))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

SOURCE = reference.load_source()
PLAYBOOKS = reference.playbook_names()
TYPES = {"str", "int", "bool", "path", "raw"}


def role_options():
    declared = set()
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        with open(path, encoding="utf-8") as handle:
            for entry_point in yaml.safe_load(handle)["argument_specs"].values():
                declared |= set(entry_point.get("options") or {})
    return declared


def playbook_text(name):
    """The playbook without its comments."""
    with open(os.path.join(reference.PLAYBOOKS, name + ".yml"), encoding="utf-8") as handle:
        return "\n".join(line for line in handle.read().splitlines() if not line.lstrip().startswith("#"))


def assigned(node, found=None):
    """The names a playbook sets itself: registered results, set_fact keys, vars keys."""
    found = set() if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "register":
                found.add(value)
            elif key in ("vars", "set_fact", "ansible.builtin.set_fact") and isinstance(value, dict):
                found |= set(value)
            assigned(value, found)
    elif isinstance(node, list):
        for item in node:
            assigned(item, found)
    return found


def read_with_default(text):
    """The top-level names the text reads as `name | default(...)` (not an attribute, a key or a filter's name)."""
    names = set()
    for match in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*\|\s*default\(", text):
        before = text[:match.start()].rstrip()
        if before.endswith((".", "|", "[", "'", '"')) and not before.endswith(("{{", "{%")):
            continue
        names.add(match.group(1))
    return names


def described(name):
    """The variables described for a playbook: its own, its shared sets', and those of the playbooks it imports."""
    entry = SOURCE["playbooks"][name]
    names = set(entry["variables"])
    imports = reference.playbook_parts(name)[0]
    sets = list(entry.get("shared", [])) + [imp.split("/", 1)[1] for imp in imports if imp.startswith("shared/")]
    for set_name in sets:
        names |= set(SOURCE["shared"][set_name]["variables"])
    for imported in imports:
        if not imported.startswith("shared/"):
            names |= described(imported)
    return names


def reading_corpus(name):
    """The text that reads a playbook's variables: the playbook and the collection's plugins it names."""
    text = playbook_text(name)
    corpus = [text]
    for plugin in set(re.findall(r"chefops\.chef_ha\.([a-z_][a-z0-9_]*)", text)):
        for path in glob.glob(os.path.join(ROOT, "plugins", "*", plugin + ".py")):
            with open(path, encoding="utf-8") as handle:
                corpus.append(handle.read())
    return "\n".join(corpus)


def test_the_page_is_what_the_source_gives():
    with open(reference.PAGE, encoding="utf-8") as handle:
        assert handle.read() == reference.render(SOURCE), "run scripts/playbook_variables.py"


def test_every_playbook_has_an_entry_and_only_playbooks_have_one():
    assert sorted(SOURCE["playbooks"]) == PLAYBOOKS


@pytest.mark.parametrize("where, name, spec", [
    (where, var, spec)
    for where, entries in (("playbooks", SOURCE["playbooks"]), ("shared", SOURCE["shared"]))
    for entry in entries.values() for var, spec in entry["variables"].items()])
def test_each_variable_is_fully_described(where, name, spec):
    assert spec["type"] in TYPES, (where, name)
    assert spec.get("description", "").strip(), (where, name)
    if spec.get("required"):
        assert "default" not in spec and "default_note" not in spec, (where, name)
    else:
        assert ("default" in spec) != ("default_note" in spec), (where, name)
    assert name not in role_options(), "%s is a role's option: its argument spec describes it" % name


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_what_a_playbook_reads_is_described(name):
    with open(os.path.join(reference.PLAYBOOKS, name + ".yml"), encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    reads = read_with_default(playbook_text(name)) - assigned(plays) - role_options()
    reads = {var for var in reads if not var.startswith(("__", "ansible_")) and var not in ("item", "hostvars")}
    missing = reads - described(name)
    assert not missing, "%s.yml reads %s: describe them in docs/variable_reference.yml" % (name, sorted(missing))


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_what_is_described_is_read(name):
    corpus = reading_corpus(name)
    for var in SOURCE["playbooks"][name]["variables"]:
        assert re.search(r"\b%s\b" % var, corpus), "%s is described for %s.yml, which never reads it" % (var, name)


@pytest.mark.parametrize("set_name", sorted(SOURCE["shared"]))
def test_shared_variables_are_read_by_a_playbook_that_names_the_set(set_name):
    users = [name for name in PLAYBOOKS if set_name in SOURCE["playbooks"][name].get("shared", [])
             or "shared/%s" % set_name in reference.playbook_parts(name)[0]]
    assert users, set_name
    corpus = "\n".join(reading_corpus(name) for name in users)
    if set_name == "run_lock":
        with open(os.path.join(reference.PLAYBOOKS, "shared", "run_lock.yml"), encoding="utf-8") as handle:
            corpus += handle.read()
    for var in SOURCE["shared"][set_name]["variables"]:
        assert re.search(r"\b%s\b" % var, corpus), "%s (%s) is read by none of %s" % (var, set_name, users)


SURVEYS = sorted(os.path.basename(path)[:-5] for path in glob.glob(os.path.join(ROOT, "awx", "surveys", "*.json")))


@pytest.mark.parametrize("name", SURVEYS)
def test_every_survey_question_is_in_the_reference_or_a_role_spec(name):
    with open(os.path.join(ROOT, "awx", "surveys", name + ".json"), encoding="utf-8") as handle:
        asked = {question["variable"] for question in json.load(handle)["spec"]}
    unknown = asked - described(name) - role_options()
    assert not unknown, "the %s survey asks for %s, which no reference describes" % (name, sorted(unknown))
