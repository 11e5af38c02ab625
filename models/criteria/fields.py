"""The whitelist: every field a condition may name, its type and its operators.

Nothing a user types becomes SQL: a condition names a field from this table,
an operator allowed for the field's type, and a value that is bound as a
parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
    "eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of",
    "contains": "contains", "starts_with": "starts with", "is_empty": "is empty",
    "is_not_empty": "is not empty", "lt": "is less than", "lte": "is at most",
    "gt": "is more than", "gte": "is at least", "between": "is between",
    "within_last_days": "within the last N days", "older_than_days": "more than N days ago",
    "exists": "has", "not_exists": "has no",
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
        Field("kind", "Kind", FieldType.CHOICE, "contacts", "kind", tuple(ContactKind)),
        Field("first_name", "First name", FieldType.STRING, "contacts", "first_name"),
        Field("last_name", "Last name", FieldType.STRING, "contacts", "last_name"),
        Field("status", "Status", FieldType.STRING, "contacts", "status"),
        Field("email", "Email", FieldType.STRING, "contacts", "email_key"),
        Field("email_domain", "Email domain", FieldType.STRING, "contacts", "email_key"),
        Field("email_opt_out", "Email opt-out", FieldType.BOOL, "contacts", "email_opt_out"),
        Field("owner", "Owner", FieldType.USER, "contacts", "owner_id"),
        Field("language", "Language", FieldType.STRING, "contacts", "language"),
        Field("city", "City", FieldType.STRING, "contacts", "city"),
        Field("title", "Title", FieldType.STRING, "contacts", "title"),
        Field("created_at", "Created", FieldType.DATETIME, "contacts", "created_at"),
        Field("updated_at", "Updated", FieldType.DATETIME, "contacts", "updated_at"),
        Field("company.name", "Company name", FieldType.STRING, "companies", "name"),
        Field("company.city", "Company city", FieldType.STRING, "companies", "city"),
        Field("company.country", "Company country", FieldType.STRING, "companies", "country"),
        Field("company.industry", "Company industry", FieldType.STRING, "companies", "industry"),
        Field("company.size", "Company size", FieldType.INT, "companies", "size"),
        Field("campaign", "Member of campaign", FieldType.CAMPAIGN, ""),
        Field("target_group", "Member of target group", FieldType.GROUP, ""),
        Field("activity", "Activity", FieldType.ACTIVITY, "", choices=tuple(ActivityType)),
    )
}
