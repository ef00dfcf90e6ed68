"""Fixtures of the Chef Waiter module tests: stand-in agents on loopback, reached without a proxy."""

import pytest

from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import StandinAgent


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def agents(tmp_path):
    """agents(name='agent', config=None, behaviour=None) starts one more agent; all are stopped afterwards."""
    started = []

    def start(name='agent', **kwargs):
        directory = tmp_path / name
        directory.mkdir()
        agent = StandinAgent(directory, **kwargs).start()
        started.append(agent)
        return agent
    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def agent(agents):
    return agents()
