"""Fixtures of the Chef Waiter module tests: stand-in agents on loopback, reached without a proxy."""

import pytest

from ansible_collections.chefops.chef_ha.tests.unit.plugins.fixtures.chef_waiter.agent import StandinAgent, instances


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def agents(tmp_path):
    """agents(name='agent', config=None, behaviour=None) starts one more agent; all are stopped afterwards."""
    yield from instances(tmp_path, lambda directory, **kwargs: StandinAgent(directory, **kwargs).start())


@pytest.fixture
def agent(agents):
    return agents()
