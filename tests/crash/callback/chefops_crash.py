# Test-only: never shipped (tests/ is in galaxy.yml's build_ignore), never in plugins/.
"""chefops_crash: kill ansible-playbook right after the Nth changed task result, as a dead controller would.

Enable it with ANSIBLE_CALLBACK_PLUGINS=<this directory> ANSIBLE_CALLBACKS_ENABLED=chefops_crash, then:

  CHEFOPS_CRASH_AFTER=N        after the Nth task result that reported changed (one per host per task: a loop
                               task counts once per host), SIGKILL the whole process group and every worker with
                               the group it leads: the controller, its workers and what they run die at once, so
                               no rescue, no always, no handler and no recap runs. The process must lead its own
                               process group (start it with setsid or start_new_session=True); otherwise the
                               plugin refuses at the start of the playbook rather than kill whatever started it.
  CHEFOPS_CRASH_COUNT_FILE=P   at the end of the playbook write the number of changed results (K) to P.
  CHEFOPS_CRASH_LOG=P          append one JSON line per changed result: {"n", "host", "task", "path"}; the line of
                               the result that triggers the kill is written (and flushed) before the kill.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: chefops_crash
type: aggregate
short_description: test-only, SIGKILLs the playbook's process group after the Nth changed result
description:
  - Counts task results that reported changed, one per host and task, and SIGKILLs the process group of
    ansible-playbook right after the Nth (CHEFOPS_CRASH_AFTER), or writes the count at the end
    (CHEFOPS_CRASH_COUNT_FILE). For the crash harness of the chefops.chef_ha collection only.
requirements:
  - enabled in callbacks_enabled
"""


def _processes():
    """{pid: (ppid, pgid)} of every process, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def kill_everything():
    """SIGKILL this process's group and every descendant with the group it leads: ansible-core's workers call
    setsid, so each leads a group of its own (its connection and module processes) outside ours."""
    me = os.getpid()
    for unused_pass in range(2):  # a second pass for a worker forked while the first ran
        table = _processes()
        children = {}
        for pid, (ppid, unused_pgid) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo, found = [me], []
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        for pid in found:
            try:
                if table[pid][1] == pid:
                    os.killpg(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    os.killpg(os.getpgrp(), signal.SIGKILL)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "chefops_crash"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._changed = 0
        after = os.environ.get("CHEFOPS_CRASH_AFTER", "").strip()
        self._error = None
        if after and not (after.isdigit() and int(after) >= 1):
            self._error = ("CHEFOPS_CRASH_AFTER = %r is not a positive whole number; set it to the changed result "
                           "after which to kill (1 for the first), or unset it" % after)
        self._after = int(after) if after and not self._error else None
        self._count_file = os.environ.get("CHEFOPS_CRASH_COUNT_FILE") or None
        self._log = os.environ.get("CHEFOPS_CRASH_LOG") or None

    def v2_playbook_on_start(self, playbook):
        # An error here ends the run before any task: a harness must never take a run it could not kill for a kill.
        if self._error:
            sys.stderr.write("chefops_crash: %s\n" % self._error)
            sys.stderr.flush()
            os._exit(3)
        if self._after is not None and os.getpgrp() != os.getpid():
            # Killing a group we do not lead would kill the caller (make, a shell, the test runner).
            sys.stderr.write("chefops_crash: CHEFOPS_CRASH_AFTER=%d is set but ansible-playbook (pid %d) does not "
                             "lead its process group (%d); start it with setsid or start_new_session=True, or unset "
                             "CHEFOPS_CRASH_AFTER\n" % (self._after, os.getpid(), os.getpgrp()))
            sys.stderr.flush()
            os._exit(3)

    def _record(self, result):
        if not result._result.get("changed", False):
            return
        self._changed += 1
        if self._log:
            line = {"n": self._changed, "host": result._host.get_name(), "task": result._task.get_name(),
                    "path": result._task.get_path()}
            with open(self._log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        if self._after is not None and self._changed >= self._after:
            sys.stdout.write("\nchefops_crash: SIGKILL after changed result %d (%s on %s)\n"
                             % (self._changed, result._task.get_name(), result._host.get_name()))
            sys.stdout.flush()
            kill_everything()

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        # a failed result may have changed something (a command that failed after its change); it counts too
        self._record(result)

    def v2_playbook_on_stats(self, stats):
        if self._count_file:
            with open(self._count_file, "w", encoding="utf-8") as handle:
                handle.write("%d\n" % self._changed)
