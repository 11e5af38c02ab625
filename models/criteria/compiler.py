"""One compiler: a validated conditions tree → one SQL SELECT of contact ids.

Every condition compiles to a clause that is never NULL (SQL's third truth
value would make ``not`` disagree with common sense), so ``not`` of a
condition is exactly "the condition does not hold". The same Core
expressions run on PostgreSQL and SQLite; the one dialect difference
(finding a substring) is :class:`models.dialect.strpos`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from ..activities import Activity, ActivityContact, ActivityStatus
from ..base import utcnow
from ..campaigns import CampaignMember
from ..companies import Company
from ..contacts import Contact
from ..dialect import email_domain, strpos
from ..groups import TargetGroupMember
from .fields import FIELDS, FieldType
from .validation import check

contacts = Contact.__table__
companies = Company.__table__


@dataclass
class Compiler:
    """Compiles trees for one moment (``now``) and one time zone (day boundaries)."""

    now: datetime = field(default_factory=utcnow)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    uses_company: bool = False

    def day_start(self, value: str, plus_days: int = 0) -> datetime:
        """Midnight of a YYYY-MM-DD day in the installation's zone, as UTC."""
        day = date.fromisoformat(value) + timedelta(days=plus_days)
        return datetime.combine(day, time(0), self.tz).astimezone(ZoneInfo("UTC"))

    def clause(self, node: dict) -> ColumnElement[bool]:
        """The SQL truth of one node of the tree."""
        if "all" in node:
            parts = [self.clause(child) for child in node["all"]]
            return and_(*parts) if parts else true()
        if "any" in node:
            parts = [self.clause(child) for child in node["any"]]
            return or_(*parts) if parts else false()
        if "not" in node:
            return not_(self.clause(node["not"]))
        return self.condition(node)

    def condition(self, node: dict) -> ColumnElement[bool]:
        """One {field, op, value} condition."""
        spec = FIELDS[node["field"]]
        op, value = node["op"], node.get("value")
        if spec.type in (FieldType.CAMPAIGN, FieldType.GROUP):
            return self.membership(spec.type, op, value)
        if spec.type == FieldType.ACTIVITY:
            return self.activity(op, value or {})
        if spec.table == "companies":
            self.uses_company = True
            column = companies.c[spec.column]
        else:
            column = contacts.c[spec.column]
        if spec.name == "email_domain":
            column = email_domain(column)
        if spec.name in ("email", "email_domain"):
            value = _lower(value)  # compared with the normalised address
        if spec.type == FieldType.DATETIME:
            return self.datetime_condition(column, op, value)
        return self.value_condition(column, spec.type, op, value)

    @staticmethod
    def value_condition(column, kind: FieldType, op: str, value) -> ColumnElement[bool]:
        """Comparisons of a column with bound values; NULL never leaks out."""
        present = column.is_not(None)
        if op == "eq":
            return and_(present, column == value)
        if op == "ne":
            return or_(column.is_(None), column != value)
        if op == "in":
            return and_(present, column.in_(value))
        if op == "not_in":
            return or_(column.is_(None), column.not_in(value))
        if op == "contains":
            return and_(present, strpos(column, value) > 0)
        if op == "starts_with":
            return and_(present, func.substr(column, 1, len(value)) == value)
        if op == "is_empty":
            return or_(column.is_(None), column == "") if kind == FieldType.STRING else ~present
        if op == "is_not_empty":
            return and_(present, column != "") if kind == FieldType.STRING else present
        if op == "between":
            return and_(present, column >= value[0], column <= value[1])
        compare = {"lt": column < value, "lte": column <= value, "gt": column > value,
                   "gte": column >= value}[op]
        return and_(present, compare)

    def datetime_condition(self, column, op: str, value) -> ColumnElement[bool]:
        """Dates are whole days in the installation's time zone."""
        present = column.is_not(None)
        if op == "is_empty":
            return ~present
        if op == "is_not_empty":
            return present
        if op == "within_last_days":
            return and_(present, column >= self.now - timedelta(days=value))
        if op == "older_than_days":
            return and_(present, column < self.now - timedelta(days=value))
        if op == "between":
            return and_(present, column >= self.day_start(value[0]),
                        column < self.day_start(value[1], 1))
        bound = {
            "lt": lambda: column < self.day_start(value),
            "lte": lambda: column < self.day_start(value, 1),
            "gt": lambda: column >= self.day_start(value, 1),
            "gte": lambda: column >= self.day_start(value),
        }[op]()
        return and_(present, bound)

    @staticmethod
    def membership(kind: FieldType, op: str, value) -> ColumnElement[bool]:
        """Member (or not) of campaigns / target groups, by id."""
        if kind == FieldType.CAMPAIGN:
            table, owner_column = CampaignMember.__table__, "campaign_id"
        else:
            table, owner_column = TargetGroupMember.__table__, "group_id"
        ids = value if isinstance(value, list) else [value]
        member = exists().where(
            table.c.contact_id == contacts.c.id, table.c[owner_column].in_(ids)
        )
        return member if op in ("eq", "in") else ~member

    def activity(self, op: str, value: dict) -> ColumnElement[bool]:
        """Has (or has not) an activity of a type, recent or planned."""
        activities, links = Activity.__table__, ActivityContact.__table__
        where = [links.c.contact_id == contacts.c.id]
        if "type" in value:
            where.append(activities.c.type == value["type"])
        if "within_last_days" in value:
            since = self.now - timedelta(days=value["within_last_days"])
            where += [activities.c.start_at >= since, activities.c.start_at <= self.now]
        if "planned_next_days" in value:
            until = self.now + timedelta(days=value["planned_next_days"])
            where += [activities.c.start_at >= self.now, activities.c.start_at < until,
                      activities.c.status == ActivityStatus.PLANNED]
        found = exists().where(*where).select_from(
            links.join(activities, activities.c.id == links.c.activity_id)
        )
        return found if op == "exists" else ~found


def _lower(value):
    if isinstance(value, list):
        return [_lower(v) for v in value]
    return value.strip().lower() if isinstance(value, str) else value


def _source_and_where(node: dict, now: datetime, tz: ZoneInfo):
    compiler = Compiler(now=now, tz=tz)
    where = compiler.clause(node)
    source = contacts
    if compiler.uses_company:  # a LEFT JOIN only when a company field is asked about
        source = contacts.outerjoin(companies, companies.c.id == contacts.c.company_id)
    return source, where


def matching_ids(tree: dict, now: datetime | None = None, tz: ZoneInfo | None = None) -> Select:
    """``SELECT contacts.id`` of every contact the tree matches (checked first)."""
    check(tree)
    source, where = _source_and_where(tree, now or utcnow(), tz or ZoneInfo("UTC"))
    return select(contacts.c.id).select_from(source).where(where)


def condition_holds(node: dict, contact_id: int, now: datetime, tz: ZoneInfo) -> Select:
    """``SELECT true/false``: does ``node`` hold for one contact (for explanations)."""
    source, where = _source_and_where(node, now, tz)
    return select(exists().select_from(source).where(contacts.c.id == contact_id, where))
