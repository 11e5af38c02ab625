"""`kohde groups create | count | refresh | explain | list`."""

import json

import pytest

from models import Contact, ContactKind, TargetGroup, TargetGroupMember, db
from tests.conftest import process_env

FINNISH_LEADS = {"all": [{"field": "language", "op": "eq", "value": "fi"},
                         {"field": "kind", "op": "eq", "value": "lead"}]}


@pytest.fixture
def people(ctx):
    rows = [
        Contact(last_name="Aalto", email="a@example.fi", language="fi", kind=ContactKind.LEAD),
        Contact(last_name="Berg", email="b@example.se", language="sv", kind=ContactKind.LEAD),
        Contact(last_name="Kivi", email="k@example.fi", language="fi", kind=ContactKind.LEAD),
        Contact(last_name="Mäki", email="m@example.fi", language="fi"),
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def invoke(app, *args, **kwargs):
    return app.test_cli_runner().invoke(args=list(args), **kwargs)


def make_group(app, tmp_path, tree=FINNISH_LEADS, *extra):
    path = tmp_path / "criteria.json"
    path.write_text(json.dumps(tree))
    return invoke(app, "groups", "create", "--name", "Finnish leads", "--criteria", str(path),
                  *extra)


def test_create_and_count(app, people, tmp_path):
    created = make_group(app, tmp_path)
    assert created.exit_code == 0, created.output
    group = db.session.query(TargetGroup).one()
    assert group.criteria == FINNISH_LEADS and group.member_count == 0
    counted = invoke(app, "groups", "count", "finnish LEADS", "--json")
    assert json.loads(counted.output) == {"group": "Finnish leads", "matches": 2, "selected": 2,
                                          "stored_members": 0}
    assert db.session.query(TargetGroupMember).count() == 0  # counting stores nothing


def test_create_refuses_bad_conditions_with_paths(app, ctx, tmp_path):
    bad = {"all": [{"field": "shoe_size", "op": "eq", "value": 44},
                   {"field": "city", "op": "gt", "value": "Turku"}]}
    result = make_group(app, tmp_path, bad)
    assert result.exit_code == 1
    assert "all[0].field: unknown field 'shoe_size'" in result.output
    assert "all[1].op: 'gt' does not fit string field 'city'" in result.output
    assert db.session.query(TargetGroup).count() == 0


def test_create_with_a_random_sample_stores_a_seed(app, people, tmp_path):
    result = make_group(app, tmp_path, FINNISH_LEADS, "--sample", "random", "--size", "1")
    assert result.exit_code == 0, result.output
    group = db.session.query(TargetGroup).one()
    assert group.sample_mode == "random" and group.sample_size == 1
    assert group.sample_seed is not None  # the same seed keeps the sample reproducible
    counted = json.loads(invoke(app, "groups", "count", str(group.id), "--json").output)
    assert (counted["matches"], counted["selected"]) == (2, 1)


def test_refresh_waits_and_reports(app, people, tmp_path, monkeypatch):
    for name, value in process_env(app).items():
        monkeypatch.setenv(name, value)
    make_group(app, tmp_path)
    result = invoke(app, "groups", "refresh", "Finnish leads", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Finnish leads: added 2, removed 0, 2 members" in result.output
    db.session.expire_all()
    assert db.session.query(TargetGroup).one().member_count == 2


def test_explain_says_which_condition_fails(app, people, tmp_path):
    make_group(app, tmp_path)
    result = invoke(app, "groups", "explain", "Finnish leads", "M@example.fi")
    assert result.exit_code == 0, result.output
    assert "✓ Language is Finnish" in result.output
    assert "✗ Kind is Lead" in result.output
    assert "would not be a member now" in result.output
    data = json.loads(invoke(app, "groups", "explain", "1", str(people[0].id), "--json").output)
    assert data["matches_conditions"] is True and data["is_member"] is False


def test_unknown_group_and_contact(app, people, tmp_path):
    assert "no target group 'nope'" in invoke(app, "groups", "count", "nope").output
    make_group(app, tmp_path)
    assert "no contact 'x@y.z'" in invoke(app, "groups", "explain", "1", "x@y.z").output


def test_list(app, people, tmp_path):
    make_group(app, tmp_path)
    listed = json.loads(invoke(app, "groups", "list", "--json").output)
    assert [g["name"] for g in listed] == ["Finnish leads"]
