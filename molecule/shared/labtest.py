"""Helpers every scenario's tests share: a lab host over docker, the stand-ins' invocation logs, playbook runs."""
import itertools
import json
import os
import random
import subprocess
import time

import testinfra

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# The order of the test modules. With CHEFOPS_TEST_SEED=N set, an order drawn from that seed (printed before the tests
# run); without it, a scenario's conftest may name the modules to run first (MODULE_ORDER), as the main scenario still
# does until every module is shown to pass after any other.
TEST_SEED = int(os.environ.get("CHEFOPS_TEST_SEED") or 0)
MODULE_ORDER = []
_module_order = []


def order_modules(items):
    """Put the collected tests in the order of their modules (each module's tests stay in file order, so a
    module-scoped fixture is set up once); returns the modules' names in that order."""
    modules = sorted({item.module.__name__ for item in items})
    if TEST_SEED:
        random.Random(TEST_SEED).shuffle(modules)
    else:
        def rank(name):
            short = name.rsplit(".", 1)[-1]
            return MODULE_ORDER.index(short) if short in MODULE_ORDER else len(MODULE_ORDER)
        modules.sort(key=rank)
    position = {name: index for index, name in enumerate(modules)}
    items.sort(key=lambda item: position[item.module.__name__])  # stable: file order within a module
    return [name.rsplit(".", 1)[-1] for name in modules]


def pytest_collection_modifyitems(items):
    """A scenario's conftest imports this hook and the next: the modules in order, the order printed."""
    _module_order[:] = order_modules(items)


def pytest_report_collectionfinish():
    how = ("drawn from seed %d (CHEFOPS_TEST_SEED=%d replays it)" % (TEST_SEED, TEST_SEED) if TEST_SEED
           else "of the scenario (CHEFOPS_TEST_SEED=N draws one)")
    return ["test modules in the order %s: %s" % (how, ", ".join(_module_order))]


def lab_host(name):
    return testinfra.get_host("docker://" + name)


def invocations(name, command):
    """The calls of a stand-in CLI on a host, as a list of {"time", "argv", "rc"}."""
    log = lab_host(name).file("/var/log/%s.invocations.jsonl" % command)
    if not log.exists:
        return []
    return [json.loads(line) for line in log.content_string.splitlines() if line.strip()]


def subcommand_calls(name, command, subcommand):
    return [call for call in invocations(name, command) if subcommand in call["argv"][:1]]


# The secrets a scenario's lab holds, set by its conftest: {host: [path, ...]} (host None: this controller).
# Every playbook run's output is kept in .build/logs/runs/ and must show none of their values.
SECRET_FILES = {}
SECRET_VALUES = ["lab-admin-Pa55word"]  # the lab's first admin password (lab/group_vars/all.yml)
_secrets = {}
_run_number = itertools.count(1)


# Veil's class names in private-chef-secrets.json: long strings, no secrets
NOT_SECRET_KEYS = ("type", "hash_function")


def secrets_in(text):
    """The values of a secret file worth looking for: a private key's body lines (a public key is no secret), a
    JSON document's long strings (and the keys it holds), or the whole text."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return private_key_lines(text)
    try:
        document = json.loads(text)
    except ValueError:
        return {text} if len(text) >= 16 else set()
    found = set()
    for key, value in leaves(document):
        if value.startswith("-----BEGIN"):
            found |= private_key_lines(value)
        elif len(value) >= 16 and key not in NOT_SECRET_KEYS:
            found.add(value)
    return found


def private_key_lines(pem):
    lines = pem.strip().splitlines()
    if "PRIVATE KEY" not in lines[0]:
        return set()
    return {line for line in lines[1:] if len(line) >= 40 and not line.startswith("-----")}


def leaves(value, key=None):
    """(key, string) for every string in a JSON document, with the key it is under."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from leaves(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, key)
    elif isinstance(value, str):
        yield key, value


def leaf_strings(value):
    return (string for _, string in leaves(value))


def lab_secrets():
    """{value: where it is kept} for every secret of SECRET_FILES found so far (a file missing now is read again
    next time) and SECRET_VALUES."""
    found = {value: "a lab variable" for value in SECRET_VALUES}
    for host, paths in SECRET_FILES.items():
        for path in paths:
            where = "%s:%s" % (host or "controller", path)
            if where not in _secrets:
                if host is None:
                    text = open(path, encoding="utf-8").read() if os.path.exists(path) else None
                else:
                    result = lab_host(host).run("cat %s" % path)
                    text = result.stdout if result.rc == 0 else None
                if text is None:
                    continue
                _secrets[where] = secrets_in(text)
            found.update((value, where) for value in _secrets[where])
    return found


def assert_no_secret(output, what):
    """Fails, naming the file each leaked value comes from (not the value), when output shows a lab secret."""
    leaked = sorted({where for value, where in lab_secrets().items() if value in output})
    assert not leaked, "%s shows secret values of %s" % (what, ", ".join(leaked))


def run_playbook(playbook, *args, inventory=None, extra_vars_file=None):
    """Run a playbook of the collection against a lab that is up (the main lab's static inventory unless another
    is given); returns the CompletedProcess (all output in .stdout). The output is kept in .build/logs/runs/ and
    checked for the lab's secrets."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true")
    env.pop("ANSIBLE_LOG_PATH", None)
    cmd = ["ansible-playbook", "-i", inventory or os.path.join(ROOT, "lab", "inventory.yml"),
           os.path.join(ROOT, "playbooks", playbook)] + list(args)
    if extra_vars_file:
        cmd += ["-e", "@" + extra_vars_file]
    # stderr into stdout: under molecule, failed results go to stderr (display_failed_stderr)
    result = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=1200, check=False)
    runs = os.path.join(ROOT, ".build", "logs", "runs", os.environ.get("MOLECULE_SCENARIO_NAME", "manual"))
    os.makedirs(runs, exist_ok=True)
    log = os.path.join(runs, "%s-%d-%03d-%s.log" % (time.strftime("%Y%m%dT%H%M%S"), os.getpid(), next(_run_number),
                                                    os.path.basename(playbook)))
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ %s\n%s" % (" ".join(cmd), result.stdout))
    assert_no_secret(result.stdout, "%s (kept in %s)" % (playbook, os.path.relpath(log, ROOT)))
    return result
