"""Conditions: every mistake is reported with its path; samples are reproducible and exact.

The sample expectations are written out by hand (or from the documented
formula), not read back from the database, so the same test proves SQLite and
PostgreSQL pick the very same contacts.
"""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from models import Contact, db
from models.criteria import CriteriaError, check, matching_ids, sample, validate
from models.criteria.validation import MAX_CONDITIONS, MAX_DEPTH

CITY_OPS = "eq, ne, in, not_in, contains, starts_with, is_empty, is_not_empty"


def cond(field: str, op: str, value=None) -> dict:
    """A condition node; ``value`` left out when None (is_empty and friends)."""
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    return node


def nested_not(levels: int) -> dict:
    """``levels`` nots around one condition."""
    node = cond("city", "eq", "Turku")
    for _ in range(levels):
        node = {"not": node}
    return node


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "problems"),
    [
        pytest.param(
            {"all": [cond("shoe_size", "eq", 42)]},
            ["all[0].field: unknown field 'shoe_size'"],
            id="unknown field",
        ),
        pytest.param(
            {"all": [cond("city", "eq", "Turku"), cond("city", "lt", "Turku")]},
            [f"all[1].op: 'lt' does not fit string field 'city' (use one of {CITY_OPS})"],
            id="operator not for the type",
        ),
        pytest.param(
            {"any": [cond("company.size", "gt", "big")]},
            ["any[0].value: expected a whole number, got 'big'"],
            id="text for a number",
        ),
        pytest.param(
            {"all": [cond("email_opt_out", "eq", "yes")]},
            ["all[0].value: expected true or false, got 'yes'"],
            id="text for a bool",
        ),
        pytest.param(
            {"all": [cond("owner", "in", [1, "2", True])]},
            [
                "all[0].value[1]: expected an id, got '2'",
                "all[0].value[2]: expected an id, got True",
            ],
            id="list items checked one by one",
        ),
        pytest.param(
            {"all": [cond("city", "eq", "")]},
            ["all[0].value: expected a non-empty text, got ''"],
            id="empty text",
        ),
        pytest.param(
            {"all": [cond("city", "is_empty", "x")]},
            ["all[0].value: is_empty takes no value"],
            id="value where none is taken",
        ),
        pytest.param(
            {"all": [cond("city", "in", [])]},
            ["all[0].value: in needs a non-empty list"],
            id="empty in-list",
        ),
        pytest.param(
            {"all": [cond("kind", "not_in", "lead")]},
            ["all[0].value: not_in needs a non-empty list"],
            id="not_in without a list",
        ),
        pytest.param(
            {"all": [cond("company.size", "between", [100, 10])]},
            ["all[0].value: the first value must not be greater than the second"],
            id="between reversed",
        ),
        pytest.param(
            {"all": [cond("created_at", "between", ["2025-03-02", "2025-03-01"])]},
            ["all[0].value: the first value must not be greater than the second"],
            id="between reversed dates",
        ),
        pytest.param(
            {"all": [cond("company.size", "between", [10])]},
            ["all[0].value: between needs a list of two values [from, to]"],
            id="between with one value",
        ),
        pytest.param(
            {"all": [cond("created_at", "within_last_days", -1)]},
            ["all[0].value: expected a number of days from 0 to 36500, got -1"],
            id="negative days",
        ),
        pytest.param(
            {"all": [cond("activity", "exists", {"type": "fax", "days": 3})]},
            [
                "all[0].value: unknown key 'days'",
                "all[0].value.type: expected one of call, meeting, task, email",
            ],
            id="activity: unknown key and type",
        ),
        pytest.param(
            {"all": [cond("activity", "exists", {"within_last_days": 3, "planned_next_days": 3})]},
            ["all[0].value: use within_last_days or planned_next_days, not both"],
            id="activity: past and future at once",
        ),
        pytest.param(
            {"all": [{"field": "city", "op": "eq", "value": "Turku", "values": ["Oulu"]}]},
            ["all[0].values: unknown key"],
            id="unknown key in a condition",
        ),
        pytest.param(
            {"all": [], "any": []},
            ["(root): a group has exactly one key, all, any or not"],
            id="group with two keys",
        ),
        pytest.param(
            {"any": [{"all": cond("city", "eq", "Turku")}]},
            ["any[0].all: expected a list of conditions"],
            id="group without a list",
        ),
        pytest.param(
            {"all": ["city = 'Turku'"]},
            ["all[0]: expected an object, got str"],
            id="SQL text instead of a condition",
        ),
        pytest.param(
            cond("city", "eq", "Turku"),
            ['(root): the root must be an object with "all", "any" or "not"'],
            id="bare condition at the root",
        ),
        pytest.param(
            {
                "all": [
                    cond("city", "eq", "Turku"),
                    {
                        "any": [
                            cond("kind", "eq", "robot"),
                            {"not": cond("title", "starts_with", 3)},
                        ]
                    },
                ]
            },
            [
                "all[1].any[0].value: expected one of contact, lead, got 'robot'",
                "all[1].any[1].not.value: expected a non-empty text, got 3",
            ],
            id="every problem with its nested path",
        ),
    ],
)
def test_validation_names_each_problem_with_its_path(tree, problems):
    assert validate(tree) == problems


@pytest.mark.parametrize("day", ["2025-02-30", "2025-1-5", "05.01.2025", "2025-01-05T10:00"])
def test_a_bad_date_is_refused(day):
    (problem,) = validate({"all": [cond("created_at", "gte", day)]})
    assert problem.startswith("all[0].value: expected a date as YYYY-MM-DD")
    assert problem.endswith(f"got {day!r}")


def test_nesting_deeper_than_the_limit_is_refused():
    assert validate(nested_not(MAX_DEPTH)) == []
    path = ".".join(["not"] * (MAX_DEPTH + 1))
    assert validate(nested_not(MAX_DEPTH + 1)) == [f"{path}: nested deeper than {MAX_DEPTH} levels"]


def test_more_conditions_than_the_limit_are_refused():
    assert validate({"any": [cond("city", "eq", "Turku")] * MAX_CONDITIONS}) == []
    too_many = {"any": [cond("city", "eq", "Turku")] * (MAX_CONDITIONS + 1)}
    assert validate(too_many) == [f"any[{MAX_CONDITIONS}]: more than {MAX_CONDITIONS} conditions"]


def test_a_group_cannot_depend_on_itself():
    tree = {"any": [cond("target_group", "in", [3, 7]), {"not": cond("target_group", "eq", 7)}]}
    assert validate(tree) == []  # fine as anyone else's conditions
    assert validate(tree, group_id=7) == [
        "any[0].value: a group cannot depend on itself",
        "any[1].not.value: a group cannot depend on itself",
    ]
    assert validate(tree, group_id=5) == []


def test_a_valid_tree_of_every_kind_has_no_problems():
    tree = {
        "all": [
            cond("kind", "in", ["contact", "lead"]),
            cond("email_domain", "eq", "Example.FI"),
            cond("city", "is_empty"),
            cond("company.size", "between", [10, 10]),
            cond("created_at", "between", ["2025-01-01", "2025-01-01"]),
            cond("updated_at", "older_than_days", 0),
            cond("owner", "ne", 1),
            cond("campaign", "not_in", [1, 2]),
            cond("activity", "not_exists"),
            cond("activity", "exists", {"type": "call", "planned_next_days": 7}),
            {"any": []},
            {"not": {"all": []}},
        ]
    }
    assert validate(tree) == []
    check(tree)  # quiet


def test_matching_ids_refuses_an_invalid_tree(ctx):
    tree = {"all": [cond("shoe_size", "eq", 42), cond("city", "in", [])]}
    with pytest.raises(CriteriaError) as caught:
        matching_ids(tree)
    assert caught.value.errors == [
        "all[0].field: unknown field 'shoe_size'",
        "all[1].value: in needs a non-empty list",
    ]
    assert "unknown field 'shoe_size'" in str(caught.value)


# --- sampling ---------------------------------------------------------------------

TEN = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
# The documented hash, h = (id * 2654435761 + seed * 40503) mod (2**31 - 1) and
# key = h * h mod (2**31 - 1), orders the ten ids like this (worked out by hand
# once; the test below checks the formula on more ids):
RANDOM_ORDER = {
    None: [40, 30, 80, 90, 60, 10, 50, 70, 20, 100],
    1: [40, 20, 70, 90, 50, 60, 10, 30, 100, 80],
    2: [50, 80, 40, 10, 60, 100, 90, 30, 20, 70],
}


def add_contacts(ids: list[int]) -> None:
    """Contacts with exactly these ids (sampling depends on ids only)."""
    db.session.execute(insert(Contact), [{"id": i, "email": f"c{i}@example.fi"} for i in ids])
    db.session.commit()


def picked(mode: str, *, size=None, percent=None, seed=None) -> set[int]:
    """The sample of every contact, as the database computes it."""
    everyone = matching_ids({"all": []})
    return set(db.session.scalars(sample(everyone, mode, size, percent, seed)))


def hash_key(contact_id: int, seed: int | None) -> int:
    """The documented hash, in Python, for a larger set of ids than fits in a table by hand."""
    modulus = 2**31 - 1
    mixed = (contact_id * 2_654_435_761 + (seed or 0) * 40_503) % modulus
    return mixed * mixed % modulus


@pytest.mark.parametrize(
    ("size", "percent", "expected"),
    [
        (3, None, {10, 40, 70}),  # k = 10 // 3 = 3: the 1st, 4th and 7th
        (4, None, {10, 30, 50, 70}),  # k = 2
        (5, None, {10, 30, 50, 70, 90}),
        (1, None, {10}),
        (10, None, set(TEN)),
        (25, None, set(TEN)),  # never more than there are
        (0, None, set()),
        (None, 25, {10, 60}),  # 10 × 2500 bp // 10000 = 2, k = 5
        (None, 33.33, {10, 40, 70}),  # 3333 bp → 3
        (None, 99.99, set(TEN) - {100}),  # 9, k = 1: the first nine
        (None, 100, set(TEN)),
        (None, 0.01, set()),  # 10 × 1 bp // 10000 = 0
    ],
)
def test_systematic_sample_takes_every_kth_by_id(ctx, size, percent, expected):
    add_contacts(list(reversed(TEN)))  # insertion order must not matter
    assert picked("systematic", size=size, percent=percent) == expected


@pytest.mark.parametrize("seed", [None, 1, 2])
@pytest.mark.parametrize(
    ("size", "percent", "wanted"), [(3, None, 3), (None, 25, 2), (20, None, 10)]
)
def test_random_sample_is_the_seeded_hash_order(ctx, seed, size, percent, wanted):
    add_contacts(TEN)
    assert picked("random", size=size, percent=percent, seed=seed) == set(
        RANDOM_ORDER[seed][:wanted]
    )


def test_random_sample_is_reproducible_and_depends_on_the_seed(ctx):
    add_contacts(TEN)
    first = picked("random", size=4, seed=1)
    assert picked("random", size=4, seed=1) == first
    assert picked("random", size=4, seed=2) != first
    assert picked("random", size=4, seed=2) == picked("random", size=4, seed=2)


def test_random_sample_follows_the_formula_on_many_sparse_and_large_ids(ctx):
    # Ids near the INTEGER limit make sure the products stay inside BIGINT.
    ids = sorted({n * n * 7 + n for n in range(1, 300)} | {2**31 - 1, 2**31 - 2, 2**30})
    add_contacts(ids)
    for seed in (None, 0, 5, 2**31 - 1, -3):
        want = sorted(ids, key=lambda i: (hash_key(i, seed), i))[:37]
        assert picked("random", size=37, seed=seed) == set(want), seed
    assert picked("random", size=37, seed=5) != picked("random", size=37, seed=6)


def test_a_sample_is_never_larger_than_asked_and_only_holds_matches(ctx):
    ids = [3 * n + 1 for n in range(57)]
    add_contacts(ids)
    for mode in ("systematic", "random"):
        for size in (0, 1, 2, 7, 28, 56, 57, 58, 1000):
            got = picked(mode, size=size, seed=9)
            assert len(got) == min(size, len(ids)), (mode, size)
            assert got <= set(ids)
        for percent in (0.01, 1.75, 12.5, 50, 99.99, 100):
            got = picked(mode, percent=percent, seed=9)
            assert len(got) == len(ids) * round(percent * 100) // 10_000, (mode, percent)


def test_a_sample_is_taken_from_the_matches_only(ctx):
    add_contacts(TEN)
    db.session.execute(Contact.__table__.update().where(Contact.id > 50).values(city="Turku"))
    db.session.commit()
    turku = matching_ids({"all": [cond("city", "eq", "Turku")]})
    # Five matches (60 … 100), k = 5 // 2 = 2: the 1st and the 3rd.
    assert set(db.session.scalars(sample(turku, "systematic", 2))) == {60, 80}
    assert set(db.session.scalars(sample(turku, "none", 2))) == {60, 70, 80, 90, 100}
    assert set(db.session.scalars(select(Contact.id))) == set(TEN)
