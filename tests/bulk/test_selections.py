"""A selection names exactly the rows its list shows: ticked ids, or search + filters."""

from __future__ import annotations

import pytest

from models import Contact, db
from models.selections import Selection, SelectionError, count, selected

from .support import ids_where, world


def _ids(selection: Selection) -> list[int]:
    return sorted(db.session.scalars(selected(selection)))


def test_ticked_rows(ctx):
    world(10)
    chosen = Selection.from_params({"area": "contacts", "ids": ["1", 2, 3, 3]})
    assert _ids(chosen) == [1, 2, 3]


def test_search_and_two_filters(ctx):
    data = world(40)
    chosen = Selection.from_params({
        "area": "contacts", "search": "ohman",
        "filters": [["city", "eq", "Turku"], ["owner.email", "like", "ALICE"]]})
    expected = ids_where(lambda c: c.last_name == "Öhman" and c.city == "Turku"
                         and c.owner_id == data["alice"])
    assert expected and _ids(chosen) == expected
    assert count(chosen) == len(expected)


def test_filter_operations(ctx):
    world(40)
    cases = [
        (["status", "in", ["active", "customer"]], lambda c: c.status in ("active", "customer")),
        (["status", "not_in", ["active"]], lambda c: c.status != "active"),
        (["email_opt_out", "eq", True], lambda c: c.email_opt_out),
        (["company.name", "not_like", "acme"], lambda c: c.company.name != "Acme Oy"),
        (["language", "empty", True], lambda c: c.language is None),
        (["city", "ne", "Turku"], lambda c: c.city != "Turku"),
    ]
    for flt, check in cases:
        chosen = Selection.from_params({"area": "contacts", "filters": [flt]})
        assert _ids(chosen) == ids_where(check), flt


@pytest.mark.parametrize("bad", [
    {"area": "nope"},
    {"area": "contacts", "ids": []},
    {"area": "contacts", "ids": ["x"]},
    {"area": "contacts", "filters": [["password_hash", "eq", "x"]]},
    {"area": "contacts", "filters": [["city", "drop", "x"]]},
    {"area": "contacts", "filters": [["email_opt_out", "eq", "maybe"]]},
    {"area": "contacts", "filters": [["created_at", "gt", "yesterday"]]},
    {"area": "companies", "saved_filter_id": 1},
])
def test_bad_selections_are_refused(ctx, bad):
    with pytest.raises(SelectionError):
        Selection.from_params(bad)


def test_round_trip(ctx):
    chosen = Selection.from_params({"area": "contacts", "search": "x",
                                    "filters": [["created_at", "gt", "2026-01-01 00:00:00"]]})
    assert Selection.from_params(chosen.to_params()) == chosen
    assert db.session.get(Contact, 1) is None
