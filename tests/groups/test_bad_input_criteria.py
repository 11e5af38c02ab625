"""Hostile conditions trees: deep, huge, unstorable text. A clear 400, never a 500."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.criteria import validate
from models.criteria.validation import MAX_DEPTH, loads
from tests.conftest import csrf_token

DEEP_TEXT = '{"all": [' * 5000 + "]}" * 5000
DEEPER_TEXT = "[" * 200_000 + "]" * 200_000


@pytest.fixture
def token(admin_client):
    return csrf_token(admin_client, "/admin/contact/")


def post_form(client, endpoint, text, token):
    return client.post(f"/admin/criteria/{endpoint}", data={"criteria": text},
                       headers={"X-CSRFToken": token, "HX-Request": "true"})


def post_json(client, endpoint, body: str, token):
    return client.post(f"/admin/criteria/{endpoint}", data=body,
                       content_type="application/json", headers={"X-CSRFToken": token})


@pytest.mark.parametrize("text", [DEEP_TEXT, DEEPER_TEXT,
                                  '{"all": [{"field": "city", "op": "in", "value": '
                                  + "[" * 100_000 + "]" * 100_000 + "}]}"])
@pytest.mark.parametrize("endpoint", ["count", "preview"])
def test_deep_nesting_is_a_400_with_its_limit(admin_client, token, text, endpoint):
    answer = post_form(admin_client, endpoint, text, token)
    assert answer.status_code == 400
    if endpoint == "count":  # the preview only says to fix the conditions the count lists
        assert "nested deeper than" in answer.text
    as_json = post_json(admin_client, endpoint, json.dumps({"criteria": None})[:-5] + text + "}",
                        token)
    assert as_json.status_code == 400


def test_validate_never_recurses_into_a_deep_value():
    value = []
    for _ in range(50_000):
        value = [value]
    problems = validate({"all": [{"field": "city", "op": "eq", "value": value}]})
    assert problems and "nested deeper than" in problems[0]
    assert loads(DEEPER_TEXT)[1] == [f"(root): nested deeper than {MAX_DEPTH} levels"]


def test_too_many_conditions_and_too_long_text_are_refused():
    many = {"all": [{"all": [{"field": "city", "op": "eq", "value": "x"}] * 150}] * 10}
    assert "more than" in validate(many)[0]
    assert "longer than" in loads(" " * 1_000_001)[1][0]
    wide = {"all": [{"all": []}] * 5000}
    assert "more than" in validate(wide)[0]


@pytest.mark.parametrize("value, message", [
    ("\ud800", "lone surrogate"), ("caf\udce9", "lone surrogate"), ("a\x00b", "NUL"),
])
def test_unstorable_text_is_refused_with_its_path(admin_client, token, value, message):
    tree = {"all": [{"field": "city", "op": "eq", "value": "Turku"},
                    {"any": [{"field": "first_name", "op": "contains", "value": value}]}]}
    answer = post_json(admin_client, "count", json.dumps({"criteria": tree}), token)
    assert answer.status_code == 400
    [error] = answer.get_json()["errors"]
    assert error.startswith("all[1].any[0].value:") and message in error
    in_list = {"all": [{"field": "city", "op": "in", "value": ["Turku", value]}]}
    answer = post_json(admin_client, "preview", json.dumps({"criteria": in_list}), token)
    assert answer.status_code == 400 and "all[0].value[1]" in answer.get_json()["errors"][0]


def test_a_saved_filter_form_with_deep_json_answers_with_the_form(admin_client):
    token = csrf_token(admin_client, "/admin/savedfilter/new/")
    answer = admin_client.post("/admin/savedfilter/new/", data={
        "name": "Deep", "module": "contact", "criteria": DEEPER_TEXT, "csrf_token": token})
    assert answer.status_code == 200
    assert "nested deeper than" in answer.text


def test_the_cli_refuses_deep_criteria_without_a_traceback(app, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEPER_TEXT)
    result = app.test_cli_runner().invoke(
        args=["groups", "create", "--name", "Deep", "--criteria", str(path)])
    assert result.exit_code == 1 and result.exception is None or isinstance(
        result.exception, SystemExit)
    assert "nested deeper than" in result.output and "Traceback" not in result.output


# Arbitrary JSON, and trees built from the real vocabulary: 200 or 400, never a 500.
FIELD_NAMES = ["city", "first_name", "created_at", "kind", "email_opt_out", "owner",
               "company.size", "activity", "campaign", "target_group", "nope"]
OPS = ["eq", "ne", "in", "not_in", "contains", "starts_with", "is_empty", "lt", "between",
       "within_last_days", "older_than_days", "exists", "bogus"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True), st.text(max_size=12),
                    st.sampled_from(["2026-01-01", "0001-01-01", "\ud800", "a\x00", "call"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
conditions = st.fixed_dictionaries({"field": st.sampled_from(FIELD_NAMES),
                                    "op": st.sampled_from(OPS), "value": values})
trees = st.recursive(
    conditions,
    lambda inner: st.one_of(st.builds(lambda k, c: {k: c}, st.sampled_from(["all", "any"]),
                                      st.lists(inner, max_size=3)),
                            st.builds(lambda c: {"not": c}, inner)),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tree=st.one_of(trees, values))
def test_fuzzed_trees_answer_200_or_400(app, admin_client, token, tree):
    body = json.dumps({"criteria": tree})
    for endpoint in ("count", "preview"):
        answer = post_json(admin_client, endpoint, body, token)
        assert answer.status_code in (200, 400), (tree, answer.text[:300])
    form = post_form(admin_client, "count", json.dumps(tree), token)
    assert form.status_code in (200, 400)
