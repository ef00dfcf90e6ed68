"""The crash harness's driver (tests/crash/crash.py) and invariants (tests/crash/scenarios.py) without a lab: the
options refused with a message naming them, the kill points drawn from the seed, the third run's recap read, and the
rollout and flip invariants judged on given states."""
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))

import crash  # noqa: E402  pylint: disable=wrong-import-position
import scenarios  # noqa: E402  pylint: disable=wrong-import-position


def test_default_options_are_the_cheap_scenarios_every_point_and_a_printed_random_seed():
    names, points, seed, lab = crash.options({})
    assert names == ["rollout.yml", "flip.yml"]
    assert points == "all" and lab == "fresh" and 0 <= seed < 10 ** 6
    assert crash.options({"CRASH_PLAYBOOKS": "all"})[0] == list(scenarios.SCENARIOS)
    assert crash.options({"CRASH_PLAYBOOKS": "flip.yml", "CRASH_POINTS": "3", "CRASH_SEED": "42"})[:3] == \
        (["flip.yml"], "3", 42)


@pytest.mark.parametrize("environ, words", [
    ({"CRASH_PLAYBOOKS": "rollout.yml,nope.yml"}, "CRASH_PLAYBOOKS = 'rollout.yml,nope.yml' names no scenario (nope.yml)"),
    ({"CRASH_POINTS": "0"}, "CRASH_POINTS = '0' is neither all nor a positive number"),
    ({"CRASH_POINTS": "some"}, "CRASH_POINTS = 'some'"),
    ({"CRASH_SEED": "x1"}, "CRASH_SEED = 'x1' is not a number"),
    ({"CRASH_LAB": "keep"}, "CRASH_LAB = 'keep' is neither fresh nor reuse"),
])
def test_bad_options_are_refused_naming_the_variable(environ, words, capsys):
    with pytest.raises(SystemExit) as exited:
        crash.options(environ)
    assert exited.value.code == 2
    assert words in capsys.readouterr().err


def test_kill_points_all_or_a_sample_drawn_from_the_seed():
    assert crash.kill_points(4, "all", random.Random(1)) == [1, 2, 3, 4]
    assert crash.kill_points(4, "9", random.Random(1)) == [1, 2, 3, 4]
    draws = [crash.kill_points(30, "3", random.Random(seed)) for seed in (7, 7, 8)]
    assert draws[0] == draws[1] != draws[2]
    assert all(len(d) == 3 and len(set(d)) == 3 and d == sorted(d) and 1 <= d[0] and d[-1] <= 30 for d in draws)


RECAP = """PLAY RECAP *********************************************************************
be1                        : ok=40   changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
localhost                  : ok=12   changed={c}    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
"""


def test_the_third_run_must_change_nothing_on_every_host():
    assert crash.recap_problems(RECAP.format(c=0)) == []
    assert crash.recap_problems(RECAP.format(c=2)) == ["third run: localhost changed=2 unreachable=0 failed=0"]
    assert crash.recap_problems("killed") == ["no PLAY RECAP in the third run"]


@pytest.fixture
def rollout_state(monkeypatch):
    state = {"patterns": [], "passed": set()}
    nodes = ["node1", "node2", "node3", "node4"]

    def covers():
        import fnmatch  # pylint: disable=import-outside-toplevel
        return ({n: any(fnmatch.fnmatchcase(n + ".chefops.test", p) for p in state["patterns"]) for n in nodes},
                state["patterns"])
    monkeypatch.setattr(scenarios, "_allowlist_covers", covers)
    monkeypatch.setattr(scenarios, "_passed", lambda ctx: state["passed"])
    return state


@pytest.mark.parametrize("patterns, passed, bad", [
    ([], set(), None),
    (["node1.chefops.test"], set(), None),                       # wave 1 being run
    (["node1.chefops.test", "node2.chefops.test"], {"node1"}, None),  # wave 2 being run, wave 1 passed
    (["node1.chefops.test", "node2.chefops.test"], set(), "node1"),   # wave 1 never passed its gate
    (["node1.chefops.test", "node2.chefops.test", "node3.chefops.test", "node4.chefops.test"], {"node1"}, "node2"),
    (["*.chefops.test"], {"node1", "node2"}, None),              # a pattern: node3 and node4 are the wave being run
    (["*.chefops.test"], {"node1", "node3"}, "node2"),
])
def test_the_allowlist_right_after_a_kill_holds_only_passed_hosts_and_the_wave_being_run(rollout_state, patterns,
                                                                                         passed, bad):
    rollout_state.update(patterns=patterns, passed=passed)
    problems = scenarios.rollout_after_kill({})
    if bad is None:
        assert problems == []
    else:
        assert len(problems) == 1 and "covers %s, which did not pass" % bad in problems[0], problems


def test_after_the_re_run_every_host_is_covered_and_passed(rollout_state):
    rollout_state.update(patterns=["node%d.chefops.test" % i for i in (1, 2, 3, 4)],
                         passed={"node1", "node2", "node3", "node4"})
    assert scenarios.rollout_final({}) == []
    rollout_state.update(patterns=["node1.chefops.test", "node2.chefops.test"], passed={"node1", "node2", "node3"})
    problems = scenarios.rollout_final({})
    assert "does not cover node3, node4" in problems[0] and "node4 have no completed run" in problems[1]


@pytest.mark.parametrize("body, recorded", [
    ({"id": "flip", "previous": {"node2.chefops.test": "production"}}, True),
    ({"id": "flip", "nodes": [{"node": "node2.chefops.test", "environment": "production"}]}, True),
    ({"id": "flip", "previous": {"node2.chefops.test": {"environment": "production", "at": 1}}}, True),
    ({"id": "flip", "previous": {"node2.chefops.test": "testing"}}, False),
    ({"id": "flip", "previous": {"node3.chefops.test": "production"}}, False),
])
def test_a_flipped_node_counts_as_recorded_only_with_its_own_original_environment(body, recorded):
    assert scenarios._recorded([("data", "chefops/flip", body)], "node2.chefops.test",  # pylint: disable=W0212
                               "production") is recorded


def test_the_node_records_where_it_was_only_in_its_normal_attributes():
    node = {"name": "node2.chefops.test", "chef_environment": "testing", "automatic": {"x": "production"}}
    assert scenarios._recorded([("nodes", "node2.chefops.test", node)], "node2.chefops.test",  # pylint: disable=W0212
                               "production") is False
    node["normal"] = {"chefops": {"flip": {"previous_environment": "production"}}}
    assert scenarios._recorded([("nodes", "node2.chefops.test", node)], "node2.chefops.test",  # pylint: disable=W0212
                               "production") is True


def test_new_runs_are_the_ids_the_base_did_not_list_whatever_their_order(monkeypatch):
    import labstate  # pylint: disable=import-outside-toplevel
    tables = {"node1": [{"guid": "a", "starttime": 5}, {"guid": "b", "starttime": None}]}

    class Lab:
        NODES = {"node1": "172.31.250.31"}

        @staticmethod
        def runs(node):
            return list(tables[node])
    monkeypatch.setattr(labstate, "rollout_lab", Lab)
    base = labstate.run_counts()
    assert base == {"node1": {"a", "b"}}
    # a new run listed first (no start time yet), an old one dropped from the agent's table
    tables["node1"] = [{"guid": "c", "starttime": None}, {"guid": "b", "starttime": None}]
    assert labstate.new_runs(base) == {"node1": [{"guid": "c", "starttime": None}]}
