"""The SQL compiler selects exactly what the plain-Python reference says, on random data.

Hypothesis makes small worlds of contacts (NULLs, empty strings, padded and
mixed-case emails, emails without '@', Nordic letters, companies with and
without details, leads, opt-outs, owners, activities before and after now,
campaign and group memberships) and random trees over every field and every
operator its type allows, with values taken from the world so that conditions
do match. Moments sit on local midnights (Europe/Helsinki, across the end of
summer time) and on "now − N days" to the microsecond, where an off-by-one
would show.

One difference between the databases is kept out of the data on purpose:
SQLite's lower() folds only ASCII letters while PostgreSQL's (and Python's)
folds 'Ä' too, so emails may hold Nordic letters in lower case only, and the
mixed-case variants change ASCII letters only. Names, cities and the rest are
compared case-sensitively and hold any letters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from models import (
    Activity,
    ActivityContact,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    TargetGroup,
    TargetGroupMember,
    User,
    db,
)
from models.criteria import FIELDS, FieldType, matching_ids, validate
from tests.groups import criteria_reference as reference

TZ = ZoneInfo("Europe/Helsinki")
# The day after summer time ended (2025-10-26 04:00 EEST → 03:00 EET): "yesterday"
# had 25 hours, and days before it start at 21:00 UTC, days after it at 22:00 UTC.
NOW = datetime(2025, 10, 27, 9, 30, 15, 250_000, tzinfo=UTC)
TODAY = NOW.astimezone(TZ).date()
# Local days the data and the conditions are made of: the weeks before now, a few
# after, and the start of summer time in March.
DAYS = [TODAY + timedelta(days=n) for n in range(-40, 4)] + [
    date(2025, 3, 29), date(2025, 3, 30), date(2025, 3, 31)
]
DAY_COUNTS = [0, 1, 2, 6, 7, 30, 31, 211, 212]
TICK = timedelta(microseconds=1)

IDS = [1, 2, 3]  # users, campaigns and target groups of every world
UNKNOWN_ID = 99  # an id nothing has

FIRST_NAMES = ["Matti", "matti", "Väinö", "Åsa", "Öberg", "", "Anna-Liisa", " Matti"]
LAST_NAMES = ["Virtanen", "virtanen", "Mäkinen", "Ström", "", "Nagy"]
STATUSES = ["active", "Active", "prospect", "customer", ""]
LANGUAGES = [None, "", "fi", "sv", "hu", "FI"]
CITIES = [None, "", "Turku", "Åbo", "turku", "Oulu", " Turku", "Jyväskylä"]
TITLES = [None, "", "CEO", "ceo", "Myyntipäällikkö", "Head of Sales"]
COMPANY_NAMES = ["Kone Oyj", "kone oyj", "Ålands Bank", "Nokia", ""]
COMPANY_CITIES = [None, "", "Espoo", "Mariehamn", "Helsinki", "espoo"]
COUNTRIES = [None, "", "FI", "SE", "fi", "HU"]
INDUSTRIES = [None, "", "IT", "Retail", "Health care"]
SIZES = [None, 0, 5, 12, 40, 120]
# Email parts: Nordic letters in lower case only (see the module docstring).
LOCAL_PARTS = ["matti", "Matti.Virtanen", "äijä", "anna-liisa", "O'Brien", "x", "åsa.öberg"]
DOMAINS = [
    "example.fi",
    "Example.FI",
    "posti.example.fi",
    "example.se",
    "yritys.fi",
    "ö.example.fi",
]
ACTIVITY_TYPES = ["call", "meeting", "task", "email"]
ACTIVITY_STATUSES = ["planned", "done", "cancelled"]
PADDING = st.sampled_from(["", "", " ", "  "])


def ascii_case(text: str, how: str) -> str:
    """Change the case of ASCII letters only (both databases agree on those)."""
    change = {"upper": str.upper, "lower": str.lower, "swap": str.swapcase}.get(how)
    return "".join(change(c) if change and c.isascii() else c for c in text)


def local_midnight(day: date) -> datetime:
    """The moment a local day begins, in UTC."""
    return datetime.combine(day, time(0), TZ).astimezone(UTC)


# --- the world --------------------------------------------------------------------

cases = st.sampled_from(["keep", "keep", "upper", "lower", "swap"])

emails = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "x@", "@example.fi", "a@b@example.fi", "matti.example.fi"]),
    st.builds(
        lambda left, local, domain, how, right: left + ascii_case(f"{local}@{domain}", how) + right,
        PADDING,
        st.sampled_from(LOCAL_PARTS),
        st.sampled_from(DOMAINS),
        cases,
        PADDING,
    ),
)

moments = st.one_of(
    # Around local midnights: the last microsecond of a day, its first, an hour off.
    st.builds(
        lambda day, delta: local_midnight(day) + delta,
        st.sampled_from(DAYS),
        st.sampled_from(
            [
                -TICK,
                timedelta(0),
                TICK,
                -timedelta(hours=1),
                timedelta(hours=1),
                timedelta(hours=3),
                timedelta(hours=12),
            ]
        ),
    ),
    # Around "N days ago", the edge of within_last_days / older_than_days.
    st.builds(
        lambda days, delta: NOW - timedelta(days=days) + delta,
        st.sampled_from(DAY_COUNTS),
        st.sampled_from([-TICK, timedelta(0), TICK]),
    ),
    st.datetimes(
        min_value=datetime(2025, 3, 1), max_value=datetime(2025, 11, 30), timezones=st.just(UTC)
    ),
)

activity_moments = st.builds(
    lambda days, delta: NOW + timedelta(days=days) + delta,
    st.sampled_from([-31, -30, -8, -7, -2, -1, 0, 1, 2, 7, 8, 30, 31]),
    st.sampled_from([-TICK, timedelta(0), TICK, -timedelta(hours=2), timedelta(hours=2)]),
)

companies = st.fixed_dictionaries(
    {
        "name": st.sampled_from(COMPANY_NAMES),
        "city": st.sampled_from(COMPANY_CITIES),
        "country": st.sampled_from(COUNTRIES),
        "industry": st.sampled_from(INDUSTRIES),
        "size": st.sampled_from(SIZES),
    }
)

contacts = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["contact", "contact", "lead"]),
        "first_name": st.sampled_from(FIRST_NAMES),
        "last_name": st.sampled_from(LAST_NAMES),
        "email": emails,
        "language": st.sampled_from(LANGUAGES),
        "city": st.sampled_from(CITIES),
        "title": st.sampled_from(TITLES),
        "status": st.sampled_from(STATUSES),
        "email_opt_out": st.booleans(),
        "owner_id": st.sampled_from([None, *IDS]),
        "company": st.integers(min_value=-1, max_value=3),  # an index; -1 or too big: none
        "created_at": moments,
        "updated_at": moments,
        "campaigns": st.frozensets(st.sampled_from(IDS)),
        "groups": st.frozensets(st.sampled_from(IDS)),
    }
)


@st.composite
def worlds(draw) -> dict:
    """Companies, contacts and activities, already linked the way the reference reads them."""
    company_rows = draw(st.lists(companies, min_size=1, max_size=4))
    for n, company in enumerate(company_rows, start=1):
        company["id"] = n
    people = draw(st.lists(contacts, min_size=4, max_size=12))
    for n, person in enumerate(people, start=1):
        person["id"] = n
        index = person.pop("company")
        person["company"] = company_rows[index] if 0 <= index < len(company_rows) else None
        person["activities"] = []
    activity_rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(ACTIVITY_TYPES),
                    "status": st.sampled_from(ACTIVITY_STATUSES),
                    "start_at": activity_moments,
                    "who": st.frozensets(st.sampled_from(range(len(people))), max_size=3),
                }
            ),
            max_size=6,
        )
    )
    for n, activity in enumerate(activity_rows, start=1):
        activity["id"] = n
        for index in activity["who"]:
            people[index]["activities"].append(activity)
    return {"companies": company_rows, "contacts": people, "activities": activity_rows}


def store(world: dict) -> None:
    """Replace everything the compiler reads with the world (one transaction)."""
    session = db.session
    session.rollback()
    for model in (ActivityContact, Activity, CampaignMember, TargetGroupMember, Campaign,
                  TargetGroup, Contact, Company, User):
        session.execute(delete(model))
    session.execute(insert(User), [{"id": i, "email": f"owner{i}@example.com"} for i in IDS])
    session.execute(insert(Campaign), [{"id": i, "name": f"Campaign {i}"} for i in IDS])
    session.execute(insert(TargetGroup), [{"id": i, "name": f"Group {i}"} for i in IDS])
    if world["companies"]:
        session.execute(insert(Company), world["companies"])
    columns = ("id", "kind", "first_name", "last_name", "email", "language", "city", "title",
               "status", "email_opt_out", "owner_id", "created_at", "updated_at")
    session.execute(
        insert(Contact),
        [
            {
                **{k: c[k] for k in columns},
                "company_id": c["company"]["id"] if c["company"] else None,
            }
            for c in world["contacts"]
        ],
    )
    rows = [{"campaign_id": i, "contact_id": c["id"]} for c in world["contacts"]
            for i in c["campaigns"]]
    if rows:
        session.execute(insert(CampaignMember), rows)
    rows = [{"group_id": i, "contact_id": c["id"]} for c in world["contacts"] for i in c["groups"]]
    if rows:
        session.execute(insert(TargetGroupMember), rows)
    if world["activities"]:
        session.execute(
            insert(Activity),
            [
                {
                    "id": a["id"],
                    "type": a["type"],
                    "status": a["status"],
                    "subject": "x",
                    "start_at": a["start_at"],
                    "end_at": a["start_at"] + timedelta(minutes=15),
                }
                for a in world["activities"]
            ],
        )
        rows = [
            {"activity_id": a["id"], "contact_id": world["contacts"][i]["id"]}
            for a in world["activities"]
            for i in a["who"]
        ]
        if rows:
            session.execute(insert(ActivityContact), rows)
    session.commit()


# --- the trees ----------------------------------------------------------------------


def _texts(world: dict, name: str) -> list[str]:
    """Non-empty values of a text field in the world, plus ones nothing has."""
    found = [reference.field_value(c, name) for c in world["contacts"]]
    return sorted({v for v in found if v}) + ["Turku", "zz"]


def _fragments(values: list[str]) -> list[str]:
    """Beginnings and middles of values, for contains / starts_with."""
    parts = {v[:n] for v in values for n in (1, 2, 4)} | {v[1:3] for v in values if len(v) > 2}
    return sorted(p for p in parts if p)


def _email_values(world: dict, name: str) -> st.SearchStrategy[str]:
    """Email values as a person types them: padded, another case, or only spaces."""
    raw = [c["email"] for c in world["contacts"] if c["email"]]
    if name == "email_domain":
        raw = [reference.domain_of(reference.email_key(e)) or "fi" for e in raw]
    raw += ["nobody@example.fi" if name == "email" else "example.fi"]
    return st.one_of(
        st.builds(
            lambda p, v, how, q: p + ascii_case(v, how) + q,
            PADDING,
            st.sampled_from(raw),
            cases,
            PADDING,
        ),
        st.just("  "),
    )


def _string_values(world: dict, name: str, op: str) -> st.SearchStrategy:
    if name in ("email", "email_domain"):
        whole = _email_values(world, name)
        keys = [reference.field_value(c, name) for c in world["contacts"]]
        parts = st.one_of(
            st.sampled_from(_fragments([k for k in keys if k]) or ["x"]).map(
                lambda v: ascii_case(v, "upper")
            ),
            st.sampled_from(["@", "example", "ä", " EXAMPLE.fi ", "  "]),
        )
    else:
        whole = st.sampled_from(_texts(world, name))
        parts = st.sampled_from(_fragments(_texts(world, name)) + ["ä", "Tur", " "])
    if op in ("contains", "starts_with"):
        return parts
    if op in ("in", "not_in"):
        return st.lists(whole, min_size=1, max_size=3)
    return whole


def _date_values(world: dict, name: str, op: str) -> st.SearchStrategy:
    """Days and day counts at the world's own moments, where a boundary error would show."""
    moments = [c[name] for c in world["contacts"]]
    if op in ("within_last_days", "older_than_days"):
        # Whole days back from now that land within a microsecond of a stored moment.
        near = [round((NOW - m) / timedelta(days=1)) for m in moments]
        exact = [n for n, m in zip(near, moments, strict=True)
                 if n >= 0 and abs(NOW - timedelta(days=n) - m) <= TICK]
        return st.sampled_from(exact + DAY_COUNTS[:3])
    # The local day of each moment and its neighbours (a UTC day would differ near midnight).
    local_days = {reference.local_day(m, TZ) for m in moments}
    days = st.sampled_from(sorted({d + timedelta(days=k) for d in local_days for k in (-1, 0, 1)}))
    if op == "between":
        return st.lists(days, min_size=2, max_size=2).map(
            lambda pair: [d.isoformat() for d in sorted(pair)]
        )
    return days.map(date.isoformat)


def _int_values(op: str) -> st.SearchStrategy:
    numbers = st.sampled_from([0, 4, 5, 6, 12, 40, 119, 120, 121])
    if op == "between":
        return st.lists(numbers, min_size=2, max_size=2).map(sorted)
    if op in ("in", "not_in"):
        return st.lists(numbers, min_size=1, max_size=3)
    return numbers


def _id_values(op: str) -> st.SearchStrategy:
    ids = st.sampled_from([*IDS, UNKNOWN_ID])
    return st.lists(ids, min_size=1, max_size=3) if op in ("in", "not_in") else ids


activity_specs = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries({"type": st.sampled_from(ACTIVITY_TYPES)}),
    st.fixed_dictionaries(
        {"within_last_days": st.sampled_from([0, 1, 2, 7, 30])},
        optional={"type": st.sampled_from(ACTIVITY_TYPES)},
    ),
    st.fixed_dictionaries(
        {"planned_next_days": st.sampled_from([0, 1, 2, 7, 30])},
        optional={"type": st.sampled_from(ACTIVITY_TYPES)},
    ),
)


def values_for(world: dict, name: str, op: str) -> st.SearchStrategy:
    """Values a condition ``name op …`` may take, most of them found in the world."""
    kind = FIELDS[name].type
    if op in ("is_empty", "is_not_empty"):
        return st.none()
    if kind == FieldType.STRING:
        return _string_values(world, name, op)
    if kind == FieldType.CHOICE:
        one = st.sampled_from(FIELDS[name].choices)
        return st.lists(one, min_size=1, max_size=2) if op in ("in", "not_in") else one
    if kind == FieldType.BOOL:
        return st.booleans()
    if kind == FieldType.DATETIME:
        return _date_values(world, name, op)
    if kind == FieldType.INT:
        return _int_values(op)
    if kind in (FieldType.USER, FieldType.CAMPAIGN, FieldType.GROUP):
        return _id_values(op)
    return activity_specs


def conditions(world: dict) -> st.SearchStrategy[dict]:
    """One condition on any whitelisted field, with any operator its type allows."""

    def make(name: str, op: str, value) -> dict:
        node = {"field": name, "op": op}
        if value is not None:
            node["value"] = value
        return node

    return st.sampled_from(sorted(FIELDS)).flatmap(
        lambda name: st.sampled_from(FIELDS[name].operators).flatmap(
            lambda op: values_for(world, name, op).map(lambda value: make(name, op, value))
        )
    )


def trees(world: dict, depth: int = 3, root: bool = True) -> st.SearchStrategy[dict]:
    """all / any / not nested up to ``depth`` levels, conditions at the leaves.

    The root is always a group (validation refuses a bare condition there).
    """
    leaf = conditions(world)
    if depth == 0:
        return leaf
    inner = trees(world, depth - 1, root=False)
    groups = [
        st.lists(inner, min_size=1, max_size=3).map(lambda nodes: {"all": nodes}),
        st.lists(inner, min_size=1, max_size=3).map(lambda nodes: {"any": nodes}),
        inner.map(lambda node: {"not": node}),
        st.sampled_from([{"all": []}, {"any": []}]),  # always true, never true
    ]
    return st.one_of(groups if root else [leaf, *groups])


def _describe(world: dict, ids: set[int]) -> str:
    shown = []
    for c in world["contacts"]:
        if c["id"] in ids:
            shown.append({k: v for k, v in c.items() if k != "activities"}
                         | {"activities": [(a["type"], a["status"], a["start_at"])
                                           for a in c["activities"]]})
    return "\n".join(map(repr, shown))


@settings(
    max_examples=400,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout; failures print their example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_compiler_selects_what_the_reference_selects(ctx, data):
    world = data.draw(worlds(), label="world")
    store(world)
    for n in range(8):
        tree = data.draw(trees(world), label=f"tree {n}")
        assert validate(tree) == [], tree  # the generator makes valid trees only
        got = set(db.session.scalars(matching_ids(tree, NOW, TZ)))
        want = reference.matching(tree, world["contacts"], NOW, TZ)
        # Shown by --hypothesis-show-statistics: most trees should select some, not all.
        event("matches: " + ("none" if not want else "all" if len(want) == len(world["contacts"])
                             else "some"))
        assert got == want, (
            f"tree {tree}\nSQL only: {_describe(world, got - want)}\n"
            f"reference only: {_describe(world, want - got)}"
        )
