"""The whitelist: every field a condition may name, its type and its operators.

Nothing a user types becomes SQL: a condition names a field from this table,
an operator allowed for the field's type, and a value that is bound as a
parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l

from ..activities import ActivityType
from ..contacts import ContactKind


class FieldType(StrEnum):
    """What kind of value a field holds; decides operators and value checks."""

    STRING = "string"
    CHOICE = "choice"  # a fixed set of strings
    BOOL = "bool"
    INT = "int"
    DATETIME = "datetime"
    USER = "user"  # a user id
    CAMPAIGN = "campaign"  # membership in campaigns (ids)
    GROUP = "group"  # membership in target groups (ids)
    ACTIVITY = "activity"  # has / has not an activity matching {type, days}


STRING_OPS = ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_empty", "is_not_empty")
OPERATORS: dict[FieldType, tuple[str, ...]] = {
    FieldType.STRING: STRING_OPS,
    FieldType.CHOICE: ("eq", "ne", "in", "not_in"),
    FieldType.BOOL: ("eq",),
    FieldType.INT: ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "is_empty",
                    "is_not_empty"),
    FieldType.DATETIME: ("lt", "lte", "gt", "gte", "between", "within_last_days",
                         "older_than_days", "is_empty", "is_not_empty"),
    FieldType.USER: ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty"),
    FieldType.CAMPAIGN: ("eq", "ne", "in", "not_in"),
    FieldType.GROUP: ("eq", "ne", "in", "not_in"),
    FieldType.ACTIVITY: ("exists", "not_exists"),
}

OPERATOR_LABELS = {
    "eq": _l("is"), "ne": _l("is not"), "in": _l("is one of"), "not_in": _l("is none of"),
    "contains": _l("contains"), "starts_with": _l("starts with"), "is_empty": _l("is empty"),
    "is_not_empty": _l("is not empty"), "lt": _l("is less than"), "lte": _l("is at most"),
    "gt": _l("is more than"), "gte": _l("is at least"), "between": _l("is between"),
    "within_last_days": _l("within the last N days"),
    "older_than_days": _l("more than N days ago"),
    "exists": _l("has"), "not_exists": _l("has no"),
}


@dataclass(frozen=True)
class Field:
    """One whitelisted field: its name in conditions, label, type and where it lives."""

    name: str
    label: str
    type: FieldType
    table: str  # "contacts", "companies" or "" for relationship fields
    column: str = ""
    choices: tuple[str, ...] = ()

    @property
    def operators(self) -> tuple[str, ...]:
        """The operators this field accepts."""
        return OPERATORS[self.type]


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("kind", _l("Kind"), FieldType.CHOICE, "contacts", "kind", tuple(ContactKind)),
        Field("first_name", _l("First name"), FieldType.STRING, "contacts", "first_name"),
        Field("last_name", _l("Last name"), FieldType.STRING, "contacts", "last_name"),
        Field("status", _l("Status"), FieldType.STRING, "contacts", "status"),
        Field("email", _l("Email"), FieldType.STRING, "contacts", "email_key"),
        Field("email_domain", _l("Email domain"), FieldType.STRING, "contacts", "email_key"),
        Field("email_opt_out", _l("Email opt-out"), FieldType.BOOL, "contacts", "email_opt_out"),
        Field("owner", _l("Owner"), FieldType.USER, "contacts", "owner_id"),
        Field("language", _l("Language"), FieldType.STRING, "contacts", "language"),
        Field("city", _l("City"), FieldType.STRING, "contacts", "city"),
        Field("title", _l("Title"), FieldType.STRING, "contacts", "title"),
        Field("created_at", _l("Created"), FieldType.DATETIME, "contacts", "created_at"),
        Field("updated_at", _l("Updated"), FieldType.DATETIME, "contacts", "updated_at"),
        Field("company.name", _l("Company name"), FieldType.STRING, "companies", "name"),
        Field("company.city", _l("Company city"), FieldType.STRING, "companies", "city"),
        Field("company.country", _l("Company country"), FieldType.STRING, "companies", "country"),
        Field("company.industry", _l("Company industry"), FieldType.STRING, "companies",
              "industry"),
        Field("company.size", _l("Company size"), FieldType.INT, "companies", "size"),
        Field("campaign", _l("Member of campaign"), FieldType.CAMPAIGN, ""),
        Field("target_group", _l("Member of target group"), FieldType.GROUP, ""),
        Field("activity", _l("Activity"), FieldType.ACTIVITY, "", choices=tuple(ActivityType)),
    )
}
