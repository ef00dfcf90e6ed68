"""The crash harness end to end on a local playbook (no lab): K counted, every point killed, re-run and run a third
time; a playbook whose restart hangs on a handler is caught at the kill point that loses the notification, one that
compares state passes every point."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))

import crash  # noqa: E402  pylint: disable=wrong-import-position

# A service whose configuration is written, then "restarted": the restart records the configuration it loaded.
HANDLER_PLAY = """
- name: Service, restarted by a handler
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the configuration
      ansible.builtin.copy: {dest: "{{ state }}/service.conf", content: "version 2\\n", mode: "0644"}
      notify: Restart
    - name: Write the unit
      ansible.builtin.copy: {dest: "{{ state }}/service.unit", content: "unit\\n", mode: "0644"}
  handlers:
    - name: Restart
      ansible.builtin.copy: {src: "{{ state }}/service.conf", dest: "{{ state }}/service.loaded", mode: "0644"}
"""

# The same, restarting when what the service loaded differs from its configuration (compared state).
COMPARED_PLAY = """
- name: Service, restarted on compared state
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the configuration
      ansible.builtin.copy: {dest: "{{ state }}/service.conf", content: "version 2\\n", mode: "0644"}
    - name: Write the unit
      ansible.builtin.copy: {dest: "{{ state }}/service.unit", content: "unit\\n", mode: "0644"}
    - name: Restart when the loaded configuration is not the written one
      ansible.builtin.copy: {src: "{{ state }}/service.conf", dest: "{{ state }}/service.loaded", mode: "0644"}
"""


def scenario(tmp_path, play, monkeypatch):
    state = tmp_path / "state"
    (tmp_path / "play.yml").write_text(play)
    (tmp_path / "hosts.ini").write_text("h1 ansible_connection=local ansible_python_interpreter=%s\n"
                                        % sys.executable)
    monkeypatch.setitem(crash.LABS, "local", {"inventory": str(tmp_path / "hosts.ini")})

    def restore(ctx):  # pylint: disable=unused-argument
        state.mkdir(exist_ok=True)
        for path in state.iterdir():
            path.unlink()
        (state / "service.conf").write_text("version 1\n")
        (state / "service.loaded").write_text("version 1\n")

    def loaded_is_written(ctx):  # pylint: disable=unused-argument
        loaded, written = (state / "service.loaded").read_text(), (state / "service.conf").read_text()
        return [] if loaded == written else ["the service runs %r, its configuration says %r" % (loaded, written)]

    return {"playbook": str(tmp_path / "play.yml"), "lab": "local", "vars": {"state": str(state)},
            "setup": lambda ctx: None, "restore": restore, "after_kill": lambda ctx: [],
            "final": loaded_is_written, "idempotent": True, "default": False}


@pytest.mark.parametrize("play, passes, failed_points", [(HANDLER_PLAY, 1, [1, 2]), (COMPARED_PLAY, 3, [])])
def test_the_harness_catches_a_restart_lost_with_its_handler(tmp_path, monkeypatch, play, passes, failed_points):
    failures = []
    outdir = tmp_path / "out"
    outdir.mkdir()
    row = crash.run_scenario("svc", scenario(tmp_path, play, monkeypatch), "all", None, str(outdir), failures)
    name, k, tried, passed = row[:4]
    assert (name, k, tried, passed) == ("svc", 3, 3, passes), failures
    assert sorted({failure[1] for failure in failures}) == failed_points
    if failed_points:
        # killed before the handlers ran (after the configuration or the unit): the re-run finds the configuration
        # written and notifies nothing
        assert any("after the re-run (kill at Write the configuration on h1): the service runs 'version 1\\n'"
                   in failure[2] for failure in failures), failures
    # every run's output kept: the clean run, and per point the killed run, the re-run and the third run
    logs = sorted(p.name for p in outdir.iterdir() if p.name.endswith(".log"))
    assert "svc.0-clean.log" in logs and "svc.point-003.3-third.log" in logs
    assert all("svc.point-%03d.1-killed.log" % n in logs for n in (1, 2, 3))
