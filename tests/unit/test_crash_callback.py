"""The crash harness's callback (tests/crash/callback/chefops_crash.py) on a tiny local playbook: killed after the
Nth changed result it ran exactly N, no later task, no handler, no always section, and nothing of its process group
survives; the counting mode gives K, a loop task counting once per host."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CALLBACK_DIR = os.path.join(HERE, "..", "crash", "callback")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

PLAYBOOK = """
- name: Crash harness probe
  hosts: all
  gather_facts: false
  tasks:
    - name: t1 (slow on h2, whose worker and module are still running when h1's result arrives)
      ansible.builtin.shell: >-
        echo $$ > {{ marks }}/../{{ inventory_hostname }}-t1.pid;
        {{ 'sleep 6;' if inventory_hostname == 'h2' else '' }} touch {{ marks }}/{{ inventory_hostname }}-t1
      changed_when: true
      notify: h
    - name: t2 (a loop, one result per host)
      ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-t2-{{ item }}
      changed_when: true
      loop: [a, b, c]
    - name: t3 (unchanged)
      ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-t3
      changed_when: false
    - name: t4 in a block with rescue and always
      block:
        - name: t4
          ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-t4
          changed_when: true
      rescue:
        - name: rescue
          ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-rescue
          changed_when: false
      always:
        - name: always
          ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-always
          changed_when: false
    - name: t5
      ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-t5
      changed_when: true
  handlers:
    - name: h
      ansible.builtin.command: touch {{ marks }}/{{ inventory_hostname }}-handler
      changed_when: true
"""

# the marks a clean run leaves on one host, in order, and whether each is a changed result
CLEAN = [("t1", True), ("t2-a", False), ("t2-b", False), ("t2-c", True), ("t3", False), ("t4", True),
         ("always", False), ("t5", True), ("handler", True)]


def run(tmp_path, hosts, env, new_session=True):
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.ini").write_text("".join("%s ansible_connection=local ansible_python_interpreter=%s\n"
                                                % (host, sys.executable) for host in hosts))
    full = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=CALLBACK_DIR, ANSIBLE_CALLBACKS_ENABLED="chefops_crash",
                ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="true", ANSIBLE_FORKS="1",
                CHEFOPS_CRASH_LOG=str(tmp_path / "changed.jsonl"))
    full.update(env)
    for name in ("CHEFOPS_CRASH_AFTER", "CHEFOPS_CRASH_COUNT_FILE", "ANSIBLE_LOG_PATH"):
        if name not in env:
            full.pop(name, None)
    proc = subprocess.Popen([PLAYBOOK_BIN, "-i", str(tmp_path / "hosts.ini"), str(tmp_path / "play.yml"),
                             "-e", "marks=%s" % marks], env=full, cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=new_session)
    try:
        out = proc.communicate(timeout=300)[0]
    finally:
        proc.left_behind = []
        for pid_file in tmp_path.glob("*-t1.pid"):
            pid = int(pid_file.read_text())
            if alive(pid):
                proc.left_behind.append(pid)
                os.kill(pid, signal.SIGKILL)  # the shell this test's playbook started
    logged = []
    if (tmp_path / "changed.jsonl").exists():
        logged = [json.loads(line) for line in (tmp_path / "changed.jsonl").read_text().splitlines()]
    return proc, out, sorted(p.name for p in marks.iterdir()), logged


def alive(pid):
    """Whether pid still runs (a zombie waiting for its parent to reap it counts as dead), after up to 2 s."""
    for unused_try in range(20):
        try:
            with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except FileNotFoundError:
            return False
        time.sleep(0.1)
    return True


def test_counting_mode_writes_k_one_result_per_host_and_task(tmp_path):
    count = tmp_path / "k"
    proc, out, marks, logged = run(tmp_path, ["h1", "h2"], {"CHEFOPS_CRASH_COUNT_FILE": str(count)})
    assert proc.returncode == 0, out
    # t1, the loop t2 (once per host, not per item), t4, t5 and the handler, on each of two hosts
    assert count.read_text() == "10\n"
    assert len(logged) == 10 and [row["n"] for row in logged] == list(range(1, 11))
    assert sorted((row["task"], row["host"]) for row in logged if row["task"].startswith("t2")) == \
        [("t2 (a loop, one result per host)", "h1"), ("t2 (a loop, one result per host)", "h2")]
    assert "h1-handler" in marks and "h2-handler" in marks


@pytest.mark.parametrize("after, done", [(1, "t1"), (2, "t2-c"), (3, "t4"), (4, "t5")])
def test_killed_after_n_ran_exactly_n_changed_results_and_nothing_after(tmp_path, after, done):
    proc, out, marks, logged = run(tmp_path, ["h1"], {"CHEFOPS_CRASH_AFTER": str(after)})
    assert proc.returncode == -signal.SIGKILL, out
    assert [row["n"] for row in logged] == list(range(1, after + 1))
    assert "chefops_crash: SIGKILL after changed result %d" % after in out
    # the tasks up to the Nth changed result ran; with a kill inside the block its always section never ran
    last = [row[0] for row in CLEAN].index(done)
    assert marks == sorted("h1-" + row[0] for row in CLEAN[:last + 1]), out
    assert "h1-handler" not in marks and "h1-rescue" not in marks
    assert "PLAY RECAP" not in out
    assert proc.left_behind == []


def test_the_workers_and_what_they_run_die_with_the_controller(tmp_path):
    # ansible-core's workers call setsid: killing the controller's group alone would leave h2's worker running t1
    proc, out, marks, logged = run(tmp_path, ["h1", "h2"], {"CHEFOPS_CRASH_AFTER": "1", "ANSIBLE_FORKS": "2"})
    assert proc.returncode == -signal.SIGKILL, out
    assert [(row["task"][:2], row["host"]) for row in logged] == [("t1", "h1")]
    assert proc.left_behind == [], "h2's t1 still ran after the kill"
    time.sleep(7)
    assert "h2-t1" not in sorted(p.name for p in (tmp_path / "marks").iterdir())


def test_the_last_result_is_the_handler(tmp_path):
    proc, out, marks, logged = run(tmp_path, ["h1"], {"CHEFOPS_CRASH_AFTER": "5"})
    assert proc.returncode == -signal.SIGKILL, out
    assert logged[-1]["task"] == "h" and "h1-handler" in marks


def test_a_kill_point_beyond_k_is_a_clean_run(tmp_path):
    proc, out, marks, logged = run(tmp_path, ["h1"], {"CHEFOPS_CRASH_AFTER": "6"})
    assert proc.returncode == 0, out
    assert len(logged) == 5 and "PLAY RECAP" in out


def test_refused_when_not_leading_its_process_group(tmp_path):
    proc, out, marks, logged = run(tmp_path, ["h1"], {"CHEFOPS_CRASH_AFTER": "1"}, new_session=False)
    assert proc.returncode == 3, out
    assert "start_new_session" in out and "CHEFOPS_CRASH_AFTER" in out
    assert marks == [] and logged == []


def test_a_bad_kill_point_is_refused_before_any_task(tmp_path):
    proc, out, marks, logged = run(tmp_path, ["h1"], {"CHEFOPS_CRASH_AFTER": "first"})
    assert proc.returncode == 3, out
    assert "CHEFOPS_CRASH_AFTER = 'first'" in out
    assert marks == []
