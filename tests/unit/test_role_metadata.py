"""Role and collection metadata agree with what the content does.

- Every variable a role sets in defaults/main.yml is declared as an option of at least one entry point of that
  role's meta/argument_specs.yml, so ansible-doc and AWX users see every knob.
- Every declared option has a default (in the spec or in defaults/main.yml) or is required: an option that is
  neither would reach the tasks undefined.
- Where both the argument spec and defaults/main.yml give a plain default, they are the same value.
- galaxy.yml's dependencies name every collection whose modules, filters, tests or lookups the roles and
  playbooks call by their FQCN, and nothing the content does not use.
"""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = os.path.join(ROOT, "roles")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
PLUGINS = os.path.join(ROOT, "plugins")
THIS_COLLECTION = "chefops.chef_ha"
# Collections every Ansible installation has; galaxy.yml cannot and need not declare them.
BUILT_IN = {"ansible.builtin", "ansible.legacy"}

_NAME = r"[a-z_][a-z0-9_]*"
FQCN = re.compile(r"^(%s)\.(%s)\.(%s)$" % (_NAME, _NAME, _NAME))
# Jinja uses of a plugin by FQCN: a filter after a pipe, a test after is / is not, a lookup by name.
_JINJA_FQCN = r"(%s\.%s)\.%s" % (_NAME, _NAME, _NAME)
JINJA_USES = [
    re.compile(r"\|\s*" + _JINJA_FQCN + r"\b"),
    re.compile(r"\bis\s+(?:not\s+)?" + _JINJA_FQCN + r"\b"),
    re.compile(r"\b(?:lookup|query|q)\(\s*['\"]" + _JINJA_FQCN + r"['\"]"),
]
# Task keywords whose value names a module.
ACTION_KEYWORDS = ("action", "local_action")


def role_names():
    return sorted(d for d in os.listdir(ROLES) if os.path.isdir(os.path.join(ROLES, d)))


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def role_defaults(role):
    path = os.path.join(ROLES, role, "defaults", "main.yml")
    return (load_yaml(path) or {}) if os.path.exists(path) else {}


def role_entry_points(role):
    path = os.path.join(ROLES, role, "meta", "argument_specs.yml")
    if not os.path.exists(path):
        return {}
    return (load_yaml(path) or {}).get("argument_specs") or {}


def test_every_role_has_argument_specs():
    missing = [r for r in role_names() if not role_entry_points(r)]
    assert not missing, "roles without meta/argument_specs.yml entry points: %s" % missing


@pytest.mark.parametrize("role", role_names())
def test_every_default_is_declared(role):
    declared = set()
    for spec in role_entry_points(role).values():
        declared.update((spec or {}).get("options") or {})
    undeclared = sorted(set(role_defaults(role)) - declared)
    assert not undeclared, (
        "roles/%s/defaults/main.yml sets %s, which no entry point of roles/%s/meta/argument_specs.yml declares; "
        "declare each as an option with its type, default and a description" % (role, undeclared, role)
    )


@pytest.mark.parametrize("role", role_names())
def test_every_option_has_a_default_or_is_required(role):
    defaults = role_defaults(role)
    bare = []
    for entry_point, spec in sorted(role_entry_points(role).items()):
        for name, option in sorted(((spec or {}).get("options") or {}).items()):
            option = option or {}
            if option.get("required") or "default" in option or name in defaults:
                continue
            bare.append("%s.%s" % (entry_point, name))
    assert not bare, (
        "roles/%s/meta/argument_specs.yml declares %s with no default (neither in the spec nor in "
        "defaults/main.yml) and not required: give each a default or mark it required" % (role, bare)
    )


def content_files():
    """The YAML and template files of the roles and playbooks."""
    for top in (ROLES, PLAYBOOKS):
        for base, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".yml", ".yaml", ".j2")):
                    yield os.path.join(base, name)


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def collections_used_in_yaml(data):
    """Collections of the modules that task mappings name by FQCN (as a key, or in action / local_action)."""
    used = set()
    for mapping in _walk(data):
        names = [key for key in mapping if isinstance(key, str)]
        for keyword in ACTION_KEYWORDS:
            value = mapping.get(keyword)
            if isinstance(value, str) and value.split():
                names.append(value.split()[0])
            elif isinstance(value, dict) and isinstance(value.get("module"), str):
                names.append(value["module"])
        for name in names:
            match = FQCN.match(name)
            if match:
                used.add("%s.%s" % match.group(1, 2))
    return used


def collections_used_in_text(text):
    """Collections of the filters, tests and lookups that Jinja expressions name by FQCN."""
    used = set()
    for pattern in JINJA_USES:
        used.update(pattern.findall(text))
    return used


def collections_used(paths):
    used = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        found = collections_used_in_text(text)
        if path.endswith((".yml", ".yaml")):
            found |= collections_used_in_yaml(yaml.safe_load(text))
        for collection in found - BUILT_IN - {THIS_COLLECTION}:
            used.setdefault(collection, []).append(os.path.relpath(path, ROOT))
    return used


def galaxy_dependencies():
    return load_yaml(os.path.join(ROOT, "galaxy.yml")).get("dependencies") or {}


def test_galaxy_declares_every_collection_the_content_calls():
    declared = set(galaxy_dependencies())
    used = collections_used(content_files())
    missing = {c: files for c, files in sorted(used.items()) if c not in declared}
    assert not missing, "galaxy.yml dependencies lack collections the roles and playbooks call: %s" % missing


def test_galaxy_declares_no_collection_nothing_calls():
    plugin_files = []
    for base, dirs, files in os.walk(PLUGINS):
        plugin_files.extend(os.path.join(base, f) for f in files if f.endswith(".py"))
    used = set(collections_used(content_files()))
    plugin_text = []
    for path in sorted(plugin_files):
        with open(path, encoding="utf-8") as f:
            plugin_text.append(f.read())
    with_plugins = "\n".join(plugin_text)
    unused = sorted(
        c for c in galaxy_dependencies()
        if c not in used and "ansible_collections.%s" % c not in with_plugins
    )
    assert not unused, "galaxy.yml declares collections nothing in roles/, playbooks/ or plugins/ uses: %s" % unused


def test_galaxy_dependencies_have_version_ranges():
    for collection, version in galaxy_dependencies().items():
        assert FQCN.match(collection + ".x"), collection
        assert isinstance(version, str) and version.strip() not in ("", "*"), (
            "galaxy.yml: %s needs a version range, not %r" % (collection, version)
        )


@pytest.mark.parametrize("text, expected", [
    ("{{ x | ansible.utils.ipaddr('net') }}", {"ansible.utils"}),
    ("{{ x is ansible.utils.ip_address }}", {"ansible.utils"}),
    ("{{ x is not community.general.a_test }}", {"community.general"}),
    ("{{ lookup('community.general.a_lookup', 'k') }}", {"community.general"}),
    ("{{ query(\"community.dns.lookup\", 'k') }}", {"community.dns"}),
    ("{{ __result.stat.checksum }}", set()),
    ("file backend.rb.j2, host chef1.example.com", set()),
])
def test_jinja_uses_are_found(text, expected):
    assert collections_used_in_text(text) == expected


def test_module_uses_are_found():
    tasks = yaml.safe_load(
        "- name: a\n"
        "  community.general.haproxy: {state: drain}\n"
        "- name: b\n"
        "  block:\n"
        "    - community.crypto.x509_certificate_info: {path: /x}\n"
        "- name: c\n"
        "  action: community.docker.docker_container name=x\n"
        "- name: d\n"
        "  ansible.builtin.debug: {msg: x}\n"
        "  register: a.b.c_not_a_key\n"
    )
    assert collections_used_in_yaml(tasks) == {
        "community.general", "community.crypto", "community.docker", "ansible.builtin",
    }


# Commands of the vendor software the collection drives; roles reach them only through the collection's modules.
VENDOR_COMMANDS = ("chef-backend-ctl", "chef-server-ctl", "knife", "chef-client")
_PRIVATE_VAR = re.compile(r"\b__([a-z][a-z0-9_]*)")
_COMMAND_MODULES = ("ansible.builtin.command", "ansible.builtin.shell", "command", "shell")


def role_files(role):
    for directory, _dirs, files in os.walk(os.path.join(ROLES, role)):
        for name in sorted(files):
            if name.endswith((".yml", ".yaml", ".j2")):
                yield os.path.join(directory, name)


@pytest.mark.parametrize("role", role_names())
def test_a_role_reads_only_its_own_private_variables(role):
    """A role's __ variables start with __<role>_; another role's internals are never read (the shared facts of
    the chef_ha role have public names)."""
    foreign = set()
    for path in role_files(role):
        with open(path, encoding="utf-8") as f:
            foreign.update(name for name in _PRIVATE_VAR.findall(f.read()) if not name.startswith(role + "_"))
    assert not foreign, "roles/%s reads private variables of other roles or without its prefix: %s" % (
        role, sorted("__" + name for name in foreign))


def command_tasks(tasks):
    """Every task of a task list (blocks included) that runs a command module, with its argv or command line."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            yield from command_tasks(task.get(key))
        for module in _COMMAND_MODULES:
            if module in task:
                args = task[module]
                yield task.get("name", "?"), (args.get("argv") or args.get("cmd") if isinstance(args, dict) else args)


@pytest.mark.parametrize("role", role_names())
def test_roles_call_vendor_commands_through_modules(role):
    calls = []
    for path in role_files(role):
        if not path.endswith(".yml") or os.sep + "tasks" + os.sep not in path:
            continue
        for name, argv in command_tasks(load_yaml(path)):
            text = " ".join(argv) if isinstance(argv, list) else str(argv)
            program = os.path.basename(text.split()[0]) if text.split() else ""
            if program in VENDOR_COMMANDS:
                calls.append("%s: %s (%s)" % (os.path.relpath(path, ROOT), name, text))
    assert not calls, "vendor commands run through command/shell instead of a module: %s" % calls


def test_the_vendor_command_check_finds_one():
    tasks = yaml.safe_load(
        "- name: a\n"
        "  block:\n"
        "    - name: b\n"
        "      ansible.builtin.command:\n"
        "        argv: [chef-backend-ctl, cleanse, 'yes']\n"
        "- name: c\n"
        "  ansible.builtin.command: df -Pk /\n"
    )
    assert list(command_tasks(tasks)) == [("b", ["chef-backend-ctl", "cleanse", "yes"]), ("c", "df -Pk /")]


def literal_default_mismatches(role):
    """(entry point, option, spec default, defaults/main.yml value) where both are written and the role default is
    a plain value (not a template, which the spec can only describe) that differs from the spec's."""
    defaults = role_defaults(role)
    found = []
    for entry_point, spec in sorted(role_entry_points(role).items()):
        for name, option in sorted(((spec or {}).get("options") or {}).items()):
            option = option or {}
            if "default" not in option or name not in defaults:
                continue
            value = defaults[name]
            if isinstance(value, str) and "{{" in value or any("{{" in str(v) for v in
                                                               (value if isinstance(value, list) else [])):
                continue
            spec_value = option["default"]
            if option.get("type") == "str" and not isinstance(value, str):
                value = str(value)
            if option.get("type") == "list" and option.get("elements") == "str" and isinstance(value, list):
                value = [str(v) for v in value]
            if spec_value != value:
                found.append((entry_point, name, spec_value, defaults[name]))
    return found


@pytest.mark.parametrize("role", role_names())
def test_every_spec_default_equals_the_role_default(role):
    mismatches = literal_default_mismatches(role)
    assert not mismatches, (
        "roles/%s: the argument spec and defaults/main.yml give different defaults (entry point, option, spec, "
        "defaults): %s; make them one value" % (role, mismatches))


def test_a_spec_default_that_differs_is_found(tmp_path, monkeypatch):
    (tmp_path / "r" / "defaults").mkdir(parents=True)
    (tmp_path / "r" / "meta").mkdir()
    (tmp_path / "r" / "defaults" / "main.yml").write_text(
        "r_port: 8901\nr_name: '{{ other }}'\nr_list: [80, 443]\nr_retries: 60\n")
    (tmp_path / "r" / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n"
        "      r_port: {type: str, default: '8901'}\n      r_name: {type: str, default: x}\n"
        "      r_list: {type: list, elements: str, default: ['80', '443']}\n      r_retries: {type: int, default: 30}\n")
    monkeypatch.setitem(globals(), "ROLES", str(tmp_path))
    assert literal_default_mismatches("r") == [("main", "r_retries", 30, 60)]
