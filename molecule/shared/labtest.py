"""Helpers every scenario's tests share: a lab host over docker, the stand-ins' invocation logs, playbook runs."""
import json
import os
import subprocess

import testinfra

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


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


def run_playbook(playbook, *args, inventory=None, extra_vars_file=None):
    """Run a playbook of the collection against a lab that is up (the main lab's static inventory unless another
    is given); returns the CompletedProcess (all output in .stdout)."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true")
    env.pop("ANSIBLE_LOG_PATH", None)
    cmd = ["ansible-playbook", "-i", inventory or os.path.join(ROOT, "lab", "inventory.yml"),
           os.path.join(ROOT, "playbooks", playbook)] + list(args)
    if extra_vars_file:
        cmd += ["-e", "@" + extra_vars_file]
    # stderr into stdout: under molecule, failed results go to stderr (display_failed_stderr)
    return subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=1200, check=False)
