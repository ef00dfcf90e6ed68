"""AWX survey specifications (awx/surveys/<playbook>.json): AWX's own rules, and agreement with the playbooks.

AWX refuses a survey spec on POST (api/views JobTemplateSurveySpec) when a field is missing or of the wrong type,
a variable repeats, a type is unknown, a default does not match its type, min/max are not integers, or a choice
question has no choices or a default outside them. At launch (models/mixins SurveyJobTemplateMixin) it drops a
default that fails the question's own validation: text lengths outside min/max, integers outside min/max.
On top of that, a survey may only ask for variables the playbook (or the roles it runs) reads, and the answer's
type must be one the role accepts: surveys answer with strings and numbers, never lists or mappings. An optional
question has a default: AWX (before 25) passes an unanswered optional question without one as an empty string or
null, which overrides the inventory and defeats the playbooks' default() filters.
"""

import json
import keyword
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SURVEYS = os.path.join(ROOT, "awx", "surveys")
PLAYBOOKS = os.path.join(ROOT, "playbooks")

ALLOWED_TYPES = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": float,
}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a question type may answer for a role option of a given argument_specs type.
QUESTION_TYPES_FOR_OPTION = {
    "str": {"text", "textarea", "password", "multiplechoice"},
    "path": {"text", "textarea"},
    "int": {"integer"},
    "float": {"float", "integer"},
    "bool": {"multiplechoice"},
    # a raw option takes what the role parses itself, such as rollout_waves' text 1,10%,100%
    "raw": {"text", "textarea", "integer", "multiplechoice"},
}


def playbook_names():
    return sorted(f[:-4] for f in os.listdir(PLAYBOOKS) if f.endswith(".yml"))


def survey_names():
    return sorted(f[:-5] for f in os.listdir(SURVEYS) if f.endswith(".json"))


def load_survey(name):
    with open(os.path.join(SURVEYS, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def load_playbook(name):
    with open(os.path.join(PLAYBOOKS, name + ".yml"), encoding="utf-8") as f:
        text = f.read()
    return text, yaml.safe_load(text)


def playbook_sources(name, seen=None):
    """The text of a playbook and of the playbooks it imports, and the collection roles they name."""
    seen = set() if seen is None else seen
    seen.add(name)
    text, plays = load_playbook(name)
    texts, roles = [text], set(re.findall(r"chefops\.chef_ha\.([a-z_][a-z0-9_]*)", text))
    for play in plays:
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            child = os.path.splitext(imported)[0]  # relative to playbooks/
            if child not in seen:
                child_texts, child_roles = playbook_sources(child, seen)
                texts += child_texts
                roles |= child_roles
    return texts, roles


def with_dependencies(roles):
    """The roles and, transitively, the collection roles their meta/main.yml depends on."""
    found, todo = set(), list(roles)
    while todo:
        role = todo.pop()
        if role in found:
            continue
        found.add(role)
        path = os.path.join(ROOT, "roles", role, "meta", "main.yml")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for dep in (yaml.safe_load(f) or {}).get("dependencies") or []:
                    name = dep["role"] if isinstance(dep, dict) else dep
                    todo.append(name.rsplit(".", 1)[-1])
    return found


def role_options(roles):
    """Every option of every entry point of the given roles (and of the roles they depend on)."""
    options = {}
    for role in sorted(with_dependencies(roles)):
        path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            specs = yaml.safe_load(f)["argument_specs"]
        for entry in specs.values():
            options.update(entry.get("options") or {})
    return options


def choices_of(question):
    choices = question["choices"]
    if isinstance(choices, str):
        return [c for c in choices.splitlines() if c.strip()]
    return list(choices)


def defaults_of(question):
    default = question["default"]
    if isinstance(default, str):
        return [d for d in default.splitlines() if d.strip()]
    return list(default)


def test_every_playbook_has_a_survey_and_every_survey_a_playbook():
    assert playbook_names(), "no playbooks found"
    assert survey_names() == playbook_names()


def check_awx_rules(name, survey):
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        assert isinstance(survey.get(field), kind), "%s: '%s' missing or not a %s" % (name, field, kind.__name__)
    assert survey["name"].strip(), "%s: empty survey name" % name
    assert survey["spec"], "%s: 'spec' has no questions" % name

    seen = set()
    for idx, question in enumerate(survey["spec"]):
        where = "%s question %d" % (name, idx)
        assert isinstance(question, dict), where
        for field in ("type", "question_name", "variable"):
            assert isinstance(question.get(field), str), "%s: '%s' missing or not a string" % (where, field)
        assert isinstance(question.get("required"), bool), "%s: 'required' must be a boolean" % where
        assert 0 < len(question["question_name"].strip()) <= 512, "%s: question_name empty or too long" % where
        if "question_description" in question:
            assert isinstance(question["question_description"], str), where

        variable = question["variable"]
        assert IDENTIFIER.match(variable) and not keyword.iskeyword(variable), "%s: bad variable %r" % (where, variable)
        assert variable not in seen, "%s: variable %s repeated" % (where, variable)
        seen.add(variable)

        qtype = question["type"]
        assert qtype in ALLOWED_TYPES, "%s: type %r is not one of %s" % (where, qtype, sorted(ALLOWED_TYPES))
        for key in ("min", "max"):
            if question.get(key) is not None:
                assert isinstance(question[key], int) and not isinstance(question[key], bool), \
                    "%s: %s must be an integer" % (where, key)
        low, high = question.get("min"), question.get("max")
        if low is not None and high is not None:
            assert low <= high, "%s: min %s > max %s" % (where, low, high)

        has_default = question.get("default") not in (None, "")
        if has_default:
            default = question["default"]
            assert isinstance(default, ALLOWED_TYPES[qtype]) and not isinstance(default, bool), \
                "%s: default %r does not match type %s" % (where, default, qtype)

        if qtype in ("multiplechoice", "multiselect"):
            assert "choices" in question, "%s: %s needs choices" % (where, qtype)
            choices = choices_of(question)
            assert choices and len(choices) == len(set(choices)), "%s: empty or repeated choices" % where
            if has_default:
                defaults = defaults_of(question)
                if qtype == "multiplechoice":
                    assert len(defaults) == 1, "%s: one default for a multiple choice" % where
                assert set(defaults) <= set(choices), "%s: default %r not among %r" % (where, defaults, choices)
        elif has_default and qtype in ("text", "textarea", "password"):
            # AWX measures text against min/max as a length and drops a default that fails.
            if low is not None:
                assert len(question["default"]) >= low, "%s: default shorter than min" % where
            if high is not None:
                assert len(question["default"]) <= high, "%s: default longer than max" % where
        elif has_default and qtype in ("integer", "float"):
            if low is not None:
                assert question["default"] >= low, "%s: default below min" % where
            if high is not None:
                assert question["default"] <= high, "%s: default above max" % where

        if qtype == "password":
            assert not has_default, "%s: a password question has no default in git" % where
            assert question["required"], "%s: a password question is required (it can have no default)" % where
        else:
            assert question["required"] or "default" in question, \
                "%s: optional question %s has no default; AWX would pass it empty" % (where, variable)


def check_against_playbook(name, survey):
    texts, roles = playbook_sources(name)
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(texts)))
    options = role_options(roles)
    for question in survey["spec"]:
        variable = question["variable"]
        assert variable in words or variable in options, (
            "%s: %s is neither read nor documented by playbooks/%s.yml nor an option of its roles %s"
            % (name, variable, name, sorted(roles)))
        option = options.get(variable)
        if option is None:
            continue
        kind = option.get("type", "str")
        allowed = QUESTION_TYPES_FOR_OPTION.get(kind)
        assert allowed, "%s: %s is a %s role option; a survey cannot answer it" % (name, variable, kind)
        assert question["type"] in allowed, "%s: %s is %s in the role, asked as %s" % (
            name, variable, kind, question["type"])
        if kind == "bool":
            assert sorted(choices_of(question)) == ["false", "true"], "%s: %s choices must be true/false" % (
                name, variable)
        if option.get("choices") and question["type"] == "multiplechoice":
            assert set(choices_of(question)) <= set(str(c) for c in option["choices"]), (
                "%s: %s offers choices the role refuses" % (name, variable))


@pytest.mark.parametrize("name", survey_names())
def test_survey_meets_awx_rules(name):
    check_awx_rules(name, load_survey(name))


# How the controller reaches each host's agent: set per host in the inventory. A survey answer is an extra variable
# for every host, so asking one (even left at its default) would override every host's own value.
PER_HOST_SETTINGS = ("chef_run_port", "chef_run_address", "chef_run_use_tls", "chef_run_validate_certs",
                     "chef_waiter_listen_port", "ansible_host", "chef_node_name")


@pytest.mark.parametrize("name", survey_names())
def test_survey_asks_no_per_host_setting(name):
    asked = [question["variable"] for question in load_survey(name)["spec"]]
    overriding = sorted(set(asked) & set(PER_HOST_SETTINGS))
    assert not overriding, "%s asks %s, set per host in the inventory: its answer would override every host's" % (
        name, overriding)


@pytest.mark.parametrize("name", survey_names())
def test_survey_asks_only_what_the_playbook_reads(name):
    check_against_playbook(name, load_survey(name))


def test_rules_catch_a_bad_survey():
    """The checks fail on surveys that break AWX's rules or ask what the playbook does not read."""
    question = {"question_name": "q", "variable": "chef_run_hosts", "type": "multiplechoice", "required": "yes",
                "choices": ["a"], "default": "a"}
    survey = {"name": "bad", "description": "", "spec": [question]}
    with pytest.raises(AssertionError, match="'required' must be a boolean"):
        check_awx_rules("chef_run", survey)
    question.update(required=True, default="b")
    with pytest.raises(AssertionError, match="not among"):
        check_awx_rules("chef_run", survey)
    question.update(type="integer", default=5, min=10, max=20)
    with pytest.raises(AssertionError, match="below min"):
        check_awx_rules("chef_run", survey)
    question.update(type="text", default="x", min=2)
    with pytest.raises(AssertionError, match="shorter than min"):
        check_awx_rules("chef_run", survey)
    question.update(type="checkbox", default="")
    with pytest.raises(AssertionError, match="is not one of"):
        check_awx_rules("chef_run", survey)
    survey["spec"] = [dict(question, type="text"), dict(question, type="text")]
    with pytest.raises(AssertionError, match="repeated"):
        check_awx_rules("chef_run", survey)
    survey["spec"] = [dict(question, type="text", required=False)]
    del survey["spec"][0]["default"]
    with pytest.raises(AssertionError, match="optional question chef_run_hosts has no default"):
        check_awx_rules("chef_run", survey)
    survey["spec"] = [dict(question, type="text", variable="chef_run_hostz")]
    with pytest.raises(AssertionError, match="neither read nor documented"):
        check_against_playbook("chef_run", survey)
    survey["spec"] = [dict(question, type="text", variable="preflight_backend_count")]
    with pytest.raises(AssertionError, match="is int in the role, asked as text"):
        check_against_playbook("site", survey)
    survey["spec"] = [dict(question, type="textarea", variable="backend_md5_auth_cidr_addresses")]
    with pytest.raises(AssertionError, match="a survey cannot answer it"):
        check_against_playbook("backend_network", survey)
