"""Helpers every scenario's tests share: a lab host over docker, the stand-ins' invocation logs, playbook runs."""
import itertools
import json
import os
import random
import subprocess
import time

import testinfra

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# The test modules run in an order drawn from a seed, printed before the tests run: every module passes after any
# other. make test draws the seed once for all its scenarios and prints it in its summary; CHEFOPS_TEST_SEED=N
# replays an order; unset, the seed is drawn here.
TEST_SEED = int(os.environ.get("CHEFOPS_TEST_SEED") or random.SystemRandom().randint(1, 999999))
_module_order = []


def order_modules(items):
    """Put the collected tests in the order of their modules (each module's tests stay in file order, so a
    module-scoped fixture is set up once); returns the modules' names in that order."""
    modules = sorted({item.module.__name__ for item in items})
    random.Random(TEST_SEED).shuffle(modules)
    position = {name: index for index, name in enumerate(modules)}
    items.sort(key=lambda item: position[item.module.__name__])  # stable: file order within a module
    return [name.rsplit(".", 1)[-1] for name in modules]


def pytest_collection_modifyitems(items):
    """A scenario's conftest imports this hook and the next: the modules in order, the order printed."""
    _module_order[:] = order_modules(items)


def pytest_report_collectionfinish():
    return ["test modules in the order drawn from seed %d (CHEFOPS_TEST_SEED=%d replays it): %s"
            % (TEST_SEED, TEST_SEED, ", ".join(_module_order))]


def lab_host(name):
    return testinfra.get_host("docker://" + name)


def invocations(name, command):
    """The calls of a stand-in CLI on a host, as a list of {"time", "argv", "rc"}."""
    log = lab_host(name).file("/var/log/%s.invocations.jsonl" % command)
    if not log.exists:
        return []
    return [json.loads(line) for line in log.content_string.splitlines() if line.strip()]


def chef_client_runs(name):
    """The chef-client runs on a host: its calls without the `chef-client -v` Chef Waiter makes on its own (at its
    start and every 15 minutes), which would count as a run otherwise."""
    return [call for call in invocations(name, "chef-client") if call["argv"] != ["-v"]]


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
    is given); returns the CompletedProcess (all output in .stdout), its output kept and scanned (keep_run)."""
    cmd = playbook_command(playbook, args, inventory)
    if extra_vars_file:
        cmd += ["-e", "@" + extra_vars_file]
    # stderr into stdout: under molecule, failed results go to stderr (display_failed_stderr)
    result = subprocess.run(cmd, env=ansible_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=1200, check=False)
    keep_run(cmd, result.stdout)
    return result


def start_playbook(playbook, *args, inventory=None):
    """A playbook run in the background, leading its own process group (so a test can kill it as a controller dies);
    finish_run(proc) waits for it and keeps its output."""
    return subprocess.Popen(playbook_command(playbook, args, inventory), env=ansible_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def finish_run(proc, timeout=600):
    """The output of a background run once it has ended (what it wrote before it was killed, if it was), kept and
    scanned (keep_run)."""
    output, _unused = proc.communicate(timeout=timeout)
    keep_run(proc.args, output)
    return output


def playbook_command(playbook, args, inventory=None):
    return ["ansible-playbook", "-i", inventory or os.path.join(ROOT, "lab", "inventory.yml"),
            os.path.join(ROOT, "playbooks", playbook)] + list(args)


def ansible_env():
    """The environment for an Ansible command a test runs: no colour, and not molecule's log file (the test keeps
    the output itself, keep_run)."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true")
    env.pop("ANSIBLE_LOG_PATH", None)
    return env


def keep_run(cmd, output):
    """Every Ansible run a test makes (a playbook, an ad-hoc module, an AWX job) comes here with its output: kept in
    .build/logs/runs/<scenario>/, and failing the test when it shows a secret value of the lab."""
    runs = os.path.join(ROOT, ".build", "logs", "runs", os.environ.get("MOLECULE_SCENARIO_NAME", "manual"))
    os.makedirs(runs, exist_ok=True)
    # the playbook (not the inventory given with -i), else the command's name
    name = os.path.basename(next((arg for before, arg in zip([""] + list(cmd), cmd)
                                  if arg.endswith(".yml") and before != "-i"), cmd[0]))
    log = os.path.join(runs, "%s-%d-%03d-%s.log" % (time.strftime("%Y%m%dT%H%M%S"), os.getpid(), next(_run_number),
                                                    name))
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ %s\n%s" % (" ".join(cmd), output))
    assert_no_secret(output, "%s (kept in %s)" % (name, os.path.relpath(log, ROOT)))


def assert_converge_log_clean(a_task):
    """What molecule's converge (and check) runs of this scenario wrote (ANSIBLE_LOG_PATH of
    .config/molecule/config.yml) shows no secret of the lab; a_task, a task name the converge runs, proves the log
    is the whole run."""
    path = os.path.join(ROOT, ".build", "logs", "%s.log" % os.environ.get("MOLECULE_SCENARIO_NAME", "default"))
    with open(path, encoding="utf-8") as handle:
        output = handle.read()
    assert "PLAY RECAP" in output and "TASK [%s]" % a_task in output, path
    assert_no_secret(output, "the converge log " + os.path.relpath(path, ROOT))
