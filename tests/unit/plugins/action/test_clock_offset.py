"""The clock measurement behind the preflight role's drift check."""
import pytest

from ansible_collections.chefops.chef_ha.plugins.action.clock_offset import offset_from_samples


def test_offset_is_remote_minus_the_round_trip_midpoint():
    offset, uncertainty = offset_from_samples([(100.0, 103.05, 100.1)])
    assert offset == pytest.approx(3.0)
    assert uncertainty == pytest.approx(0.05)


def test_the_shortest_round_trip_wins():
    samples = [(10.0, 10.9, 11.0), (20.0, 20.51, 20.02), (30.0, 31.0, 30.5)]
    offset, uncertainty = offset_from_samples(samples)
    assert offset == pytest.approx(0.5)
    assert uncertainty == pytest.approx(0.01)


def test_a_clock_behind_gives_a_negative_offset():
    offset, dummy = offset_from_samples([(50.0, 48.5, 50.0)])
    assert offset == pytest.approx(-1.5)


def test_no_samples_is_an_error():
    with pytest.raises(ValueError):
        offset_from_samples([])
