"""A plain-Python reading of the conditions language, to check the SQL compiler against.

It is written from the documented meaning of each operator, not from the
compiler: no SQL, no shared helpers, and NULL handled the way a person reads a
condition ("city is Turku" is false when the city is unknown, "city is not
Turku" is true). The property test in test_criteria_property.py runs both on
random data and random trees and wants the same contacts.

A contact is a dict with the contact's columns (``email`` as typed, unnormalised)
plus ``company`` (a dict of the company's columns, or None), ``campaigns`` and
``groups`` (sets of ids) and ``activities`` (dicts with ``type``, ``status``,
``start_at``). Datetimes are aware.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Where each whitelisted field's value comes from in a contact dict.
CONTACT_FIELDS = {"kind", "first_name", "last_name", "status", "email_opt_out", "language",
                  "city", "title", "created_at", "updated_at"}
COMPANY_FIELDS = {"company.name", "company.city", "company.country", "company.industry",
                  "company.size"}
# Fields holding numbers: "empty" is only unknown; for text an empty string is empty too.
NUMBER_FIELDS = {"company.size", "owner"}


def email_key(email: str | None) -> str | None:
    """The stored normal form: lower case, spaces (only spaces, as SQL's trim) cut at both ends."""
    if email is None:
        return None
    return email.strip(" ").lower()


def domain_of(key: str | None) -> str | None:
    """What follows the first '@'; an address without one is all domain."""
    if key is None:
        return None
    head, at, tail = key.partition("@")
    return tail if at else head


def normalise_value(value):
    """Email values are compared as typed by a person: stripped, lower case."""
    if isinstance(value, list):
        return [normalise_value(v) for v in value]
    return value.strip().lower() if isinstance(value, str) else value


def field_value(contact: dict, name: str):
    """The value a condition on ``name`` looks at (None = SQL NULL)."""
    if name in CONTACT_FIELDS:
        return contact[name]
    if name == "owner":
        return contact["owner_id"]
    if name == "email":
        return email_key(contact["email"])
    if name == "email_domain":
        return domain_of(email_key(contact["email"]))
    if name in COMPANY_FIELDS:
        company = contact["company"]
        return None if company is None else company[name.removeprefix("company.")]
    raise KeyError(name)


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day a person in ``tz`` would say the moment fell on."""
    return moment.astimezone(tz).date()


def holds(node: dict, contact: dict, now: datetime, tz: ZoneInfo) -> bool:
    """Does the tree (or one of its nodes) hold for the contact?"""
    if "all" in node:
        return all(holds(child, contact, now, tz) for child in node["all"])
    if "any" in node:
        return any(holds(child, contact, now, tz) for child in node["any"])
    if "not" in node:
        return not holds(node["not"], contact, now, tz)
    name, op, value = node["field"], node["op"], node.get("value")
    if name in ("campaign", "target_group"):
        ids = contact["campaigns"] if name == "campaign" else contact["groups"]
        wanted = set(value) if isinstance(value, list) else {value}
        member = bool(ids & wanted)
        return member if op in ("eq", "in") else not member
    if name == "activity":
        found = any(_activity_fits(a, value or {}, now) for a in contact["activities"])
        return found if op == "exists" else not found
    actual = field_value(contact, name)
    if name in ("email", "email_domain"):
        value = normalise_value(value)
    if name in ("created_at", "updated_at"):
        return _date_holds(actual, op, value, now, tz)
    return _value_holds(actual, op, value, text=name not in NUMBER_FIELDS)


def _activity_fits(activity: dict, spec: dict, now: datetime) -> bool:
    if "type" in spec and activity["type"] != spec["type"]:
        return False
    start = activity["start_at"]
    if "within_last_days" in spec:
        # Recent: happened (started) between N days ago and now.
        return now - timedelta(days=spec["within_last_days"]) <= start <= now
    if "planned_next_days" in spec:
        # Planned: still to come within N days, and still planned.
        return (activity["status"] == "planned"
                and now <= start < now + timedelta(days=spec["planned_next_days"]))
    return True


def _value_holds(actual, op: str, value, text: bool) -> bool:
    """Comparisons: unknown (None) satisfies only ne, not_in and is_empty."""
    if op == "is_empty":
        return actual is None or (text and actual == "")
    if op == "is_not_empty":
        return actual is not None and not (text and actual == "")
    if op == "ne":
        return actual is None or actual != value
    if op == "not_in":
        return actual is None or actual not in value
    if actual is None:
        return False
    if op == "eq":
        return actual == value
    if op == "in":
        return actual in value
    if op == "contains":
        return value in actual
    if op == "starts_with":
        return actual.startswith(value)
    if op == "lt":
        return actual < value
    if op == "lte":
        return actual <= value
    if op == "gt":
        return actual > value
    if op == "gte":
        return actual >= value
    if op == "between":
        return value[0] <= actual <= value[1]
    raise ValueError(f"operator {op!r}")


def _date_holds(actual: datetime | None, op: str, value, now: datetime, tz: ZoneInfo) -> bool:
    """Dates are whole local days; day counts are exact 24-hour spans back from now."""
    if op == "is_empty":
        return actual is None
    if actual is None:
        return False
    if op == "is_not_empty":
        return True
    if op == "within_last_days":
        return actual >= now - timedelta(days=value)
    if op == "older_than_days":
        return actual < now - timedelta(days=value)
    day = local_day(actual, tz)
    if op == "between":
        return date.fromisoformat(value[0]) <= day <= date.fromisoformat(value[1])
    bound = date.fromisoformat(value)
    return {"lt": day < bound, "lte": day <= bound, "gt": day > bound, "gte": day >= bound}[op]


def matching(tree: dict, contacts: list[dict], now: datetime, tz: ZoneInfo) -> set[int]:
    """Ids of the contacts the tree holds for."""
    return {c["id"] for c in contacts if holds(tree, c, now, tz)}
