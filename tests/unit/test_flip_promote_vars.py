"""The variables flip.yml and promote.yml derive from their extra vars, rendered by the pinned ansible-core's own
templating from the playbooks' text (what an AWX survey sends them: strings)."""

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def play_var(playbook, name, **extra):
    """The value the first play of the playbook gives its variable `name` with these extra vars."""
    with open(os.path.join(ROOT, "playbooks", playbook)) as handle:
        play = yaml.safe_load(handle)[0]
    variables = dict((key, trust_as_template(value) if isinstance(value, str) else value)
                     for key, value in play["vars"].items())
    variables.update(extra)
    return Templar(loader=DataLoader(), variables=variables).template(variables[name])


@pytest.mark.parametrize("pins", [
    {"app": "= 1.4.2"},
    '{"app": "= 1.4.2"}',  # an AWX survey's textarea
    ' {\n  "app": "= 1.4.2"\n}\n',  # the same typed over lines, with the newline the textarea keeps
])
def test_promote_pins_as_a_mapping_or_as_json_text(pins):
    assert play_var("promote.yml", "__promote_pins", promote_pins=pins) == {"app": "= 1.4.2"}


def test_promote_pins_that_are_not_json_stay_text_for_the_check_to_refuse():
    assert play_var("promote.yml", "__promote_pins", promote_pins="app = 1.4.2") == "app = 1.4.2"
