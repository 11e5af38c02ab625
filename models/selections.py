"""Which rows a bulk action acts on: the ticked rows of a list, or everything its search
and filters match ("select all N that match").

A :class:`Selection` is plain data (an area, ids or search + filters + saved filter), so a
job row stores it as primitives and the job reproduces exactly the set the person saw.
:func:`selected` compiles it into one ``SELECT … FROM <table> [LEFT JOIN …] WHERE …`` with
the same meaning as the list's own query (Flask-Admin's filter operations, the list's
search; the contact list's saved filter through the criteria compiler), so a job over
500,000 contacts is one statement per chunk, never a loop (docs/architecture.md, rule 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Unicode,
    and_,
    cast,
    false,
    func,
    inspect,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql import ColumnElement, Select

from .activities import Activity
from .base import db, utcnow
from .campaigns import Campaign
from .companies import Company
from .contacts import Contact, ContactKind
from .criteria import matching_ids, validate
from .email import OutboxMessage
from .groups import FilterModule, SavedFilter, TargetGroup, TargetGroupMember
from .jobs import JobRun
from .settings import installation_tz, local_to_utc
from .text import like_pattern, search_terms

MAX_IDS = 10_000  # ticked rows travel as a list; more than a page or two is "select all"
MAX_FILTERS = 20
MAX_TEXT = 200
# Flask-Admin's filter operations, by the names a selection stores.
OPERATIONS = ("eq", "ne", "like", "not_like", "gt", "lt", "empty", "in", "not_in", "between",
              "not_between")


class SelectionError(ValueError):
    """A selection that cannot name rows (unknown area, filter or value)."""


@dataclass(frozen=True)
class Area:
    """A list that bulk actions work on: its model, searchable and filterable columns.

    ``filters`` and ``search`` are dotted paths (``owner.email``) through many-to-one
    relationships, as the list view names them; ``folded_search``: the contact list's
    search reads ``search_text`` (every word, accents folded) instead.
    """

    name: str
    model: type
    noun: str
    filters: tuple[str, ...]
    search: tuple[str, ...] = ()
    folded_search: bool = False


AREAS: dict[str, Area] = {a.name: a for a in (
    Area("contacts", Contact, "contacts",
         ("kind", "status", "email_opt_out", "language", "city", "created_at", "company.name",
          "owner.email"), folded_search=True),
    Area("companies", Company, "companies",
         ("city", "country", "industry", "size", "owner.email"), ("name", "business_id")),
    Area("activities", Activity, "activities",
         ("type", "status", "start_at", "owner.email", "campaign.name", "company.name"),
         ("subject", "number")),
    Area("campaigns", Campaign, "campaigns",
         ("active", "start_date", "end_date", "owner.email", "email_template.name"),
         ("name", "number")),
    Area("groups", TargetGroup, "target groups",
         ("sample_mode", "refreshed_at", "owner.email"), ("name",)),
    Area("outbox", OutboxMessage, "messages",
         ("state", "suppressed_reason", "created_at", "sent_at", "template.name",
          "campaign.name"), ("to_email",)),
    Area("jobs", JobRun, "job runs",
         ("kind", "status", "attempt", "enqueued_at", "user.email"), ("id", "kind")),
)}


@dataclass(frozen=True)
class Selection:
    """Ticked ``ids``, or every row the ``search``, ``filters`` and saved filter match.

    ``filters`` are ``(path, operation, value)`` with JSON values (dates as ISO text).
    """

    area: str
    ids: tuple | None = None
    search: str = ""
    filters: tuple[tuple[str, str, Any], ...] = field(default_factory=tuple)
    saved_filter_id: int | None = None
    group_id: int | None = None  # contacts: a target group's stored members (the CLI's --group)

    @property
    def spec(self) -> Area:
        """The area's description."""
        return AREAS[self.area]

    @property
    def ticked(self) -> bool:
        """True for ticked rows, False for "everything that matches"."""
        return self.ids is not None

    def to_params(self) -> dict:
        """The selection as a job parameter (JSON primitives only)."""
        if self.ticked:
            return {"area": self.area, "ids": list(self.ids)}
        data: dict = {"area": self.area, "search": self.search,
                      "filters": [list(f) for f in self.filters]}
        if self.saved_filter_id is not None:
            data["saved_filter_id"] = self.saved_filter_id
        if self.group_id is not None:
            data["group_id"] = self.group_id
        return data

    @classmethod
    def from_params(cls, data) -> Selection:
        """Check and rebuild a stored or posted selection; SelectionError says what is wrong."""
        if not isinstance(data, dict) or data.get("area") not in AREAS:
            raise SelectionError("the selection names no list")
        spec = AREAS[data["area"]]
        if "ids" in data:
            return cls(spec.name, _checked_ids(spec, data["ids"]))
        search = data.get("search") or ""
        if not isinstance(search, str) or len(search) > MAX_TEXT or "\x00" in search:
            raise SelectionError("the search text cannot be used")
        filters = data.get("filters") or []
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
            raise SelectionError("too many filters")
        checked = tuple(_checked_filter(spec, f) for f in filters)
        saved, group = data.get("saved_filter_id"), data.get("group_id")
        for value, what in ((saved, "a saved filter"), (group, "a target group")):
            if value is not None and (spec.name != "contacts" or not _small_int(value)):
                raise SelectionError(f"{what} applies to contacts only, by its id")
        return cls(spec.name, None, search, checked, saved, group)

    def describe(self) -> str:
        """A short phrase for pages and job lists: what was selected."""
        if self.ticked:
            return f"{len(self.ids):,} ticked {self.spec.noun}"
        parts = []
        if self.search:
            parts.append(f"search {self.search!r}")
        parts += [f"{path} {op} {self._shown(path, value)}" for path, op, value in self.filters]
        if self.saved_filter_id is not None:
            saved = db.session.get(SavedFilter, self.saved_filter_id)
            parts.append(f"saved filter {saved.name if saved else self.saved_filter_id!r}")
        if self.group_id is not None:
            group = db.session.get(TargetGroup, self.group_id)
            parts.append(f"members of {group.name if group else self.group_id!r}")
        where = "; ".join(parts) if parts else "no filter"
        return f"all {self.spec.noun} that match ({where})"

    def _shown(self, path: str, value):
        """A filter value as the list's filter box had it: a moment (kept as a UTC
        instant) in the installation's wall-clock time, the way it was typed."""
        kind = _column_type(self.spec, path)
        if not _is_moment(kind):
            return value
        zone = installation_tz()

        def local(text):
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                return text
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

        return [local(v) for v in value] if isinstance(value, list) else local(value)


def _small_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _checked_ids(spec: Area, ids) -> tuple:
    if not isinstance(ids, list | tuple) or not ids:
        raise SelectionError("no rows are selected")
    if len(ids) > MAX_IDS:
        raise SelectionError(f"at most {MAX_IDS:,} ticked rows; use “select all that match”")
    key = inspect(spec.model).primary_key[0]
    if isinstance(key.type, Integer):
        if not all(_small_int(i) or (isinstance(i, str) and i.isdigit() and _small_int(int(i)))
                   for i in ids):
            raise SelectionError("some selected rows cannot exist")
        return tuple(sorted({int(i) for i in ids}))
    if not all(isinstance(i, str) and 0 < len(i) <= 80 for i in ids):
        raise SelectionError("some selected rows cannot exist")
    return tuple(sorted(set(ids)))


def _column_type(spec: Area, path: str):
    """The type of the column a dotted path (``owner.email``) names."""
    *hops, name = path.split(".")
    current = spec.model
    for hop in hops:
        current = inspect(current).relationships[hop].mapper.class_
    return getattr(current, name).type


def _checked_filter(spec: Area, item) -> tuple[str, str, Any]:
    if not isinstance(item, list | tuple) or len(item) != 3:
        raise SelectionError("a filter is (column, operation, value)")
    path, op, value = item
    if path not in spec.filters:
        raise SelectionError(f"the {spec.noun} list has no filter on {path!r}")
    if op not in OPERATIONS:
        raise SelectionError(f"unknown filter operation {op!r}")
    kind = _column_type(spec, path)
    try:
        if op == "empty":
            value = bool(value)
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > 500:
                raise SelectionError(f"{path} {op}: a list of values")
            value = [_plain(kind, v) for v in value]
        elif op in ("between", "not_between"):
            if not isinstance(value, list) or len(value) != 2:
                raise SelectionError(f"{path} {op}: two values")
            value = [_plain(kind, v) for v in value]
        else:
            value = _plain(kind, value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SelectionError):
            raise
        raise SelectionError(f"{path} {op}: {value!r} is not a value this column holds") from None
    return (path, op, value)


def _is_moment(kind) -> bool:
    """A date-time column's type (UTCDateTime is a DateTime underneath)."""
    return isinstance(kind, DateTime) or getattr(kind, "impl", None).__class__ is DateTime


def _plain(kind, value):
    """A filter value as JSON (dates as ISO text), checked against the column's type."""
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if isinstance(kind, Integer):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(value)
        return int(value)
    if isinstance(kind, Float | Numeric):
        return float(value)
    if _is_moment(kind):
        return datetime.fromisoformat(str(value)).isoformat()
    if isinstance(kind, Date):
        return date.fromisoformat(str(value)).isoformat()
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise ValueError(value)
    return value


def _typed(kind, value):
    """A stored filter value back as the Python value the list's filter compared with."""
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        return date.fromisoformat(value)
    if _is_moment(kind):
        return datetime.fromisoformat(value)
    return value


class _Joins:
    """LEFT JOINs along relationship paths, each once (like Flask-Admin's list query)."""

    def __init__(self, model):
        self.model = model
        self.source = model.__table__
        self.aliases: dict[tuple[str, ...], Any] = {}

    def column(self, path: str):
        """The column of ``path``, joining what it needs."""
        *hops, name = path.split(".")
        mapped, table, key = self.model, self.model.__table__, ()
        for hop in hops:
            rel = inspect(mapped).relationships[hop]
            key = (*key, hop)
            if key not in self.aliases:
                target = rel.mapper.local_table.alias("j_" + "_".join(key))
                on = and_(*[target.c[remote.name] == table.c[local.name]
                            for local, remote in rel.local_remote_pairs])
                self.source = self.source.outerjoin(target, on)
                self.aliases[key] = target
            table, mapped = self.aliases[key], rel.mapper.class_
        return table.c[getattr(mapped, name).property.columns[0].name]


def _condition(column, op: str, value) -> ColumnElement[bool]:
    """Flask-Admin's meaning of each filter operation (contrib/sqla/filters.py)."""
    if op == "eq":
        return column == value
    if op == "ne":
        return column != value
    if op == "like":
        return column.ilike(_like(value))
    if op == "not_like":
        return ~column.ilike(_like(value))
    if op == "gt":
        return column > value
    if op == "lt":
        return column < value
    if op == "empty":
        return column.is_(None) if value else column.is_not(None)
    if op == "in":
        return column.in_(value)
    if op == "not_in":
        return or_(~column.in_(value), column.is_(None))
    if op == "between":
        return column.between(*value)
    return not_(column.between(*value))  # not_between


def _like(term: str) -> str:
    # Flask-Admin's parse_like_term: ^ starts with, = exactly, else contains.
    if term.startswith("^"):
        return f"{term[1:]}%"
    if term.startswith("="):
        return term[1:]
    return f"%{term}%"


def _search(spec: Area, joins: _Joins, search: str) -> list[ColumnElement[bool]]:
    if spec.folded_search:  # the contact list's search (webadmin ContactView._apply_search)
        return [Contact.search_text.like(like_pattern(term), escape="\\")
                for term in search_terms(search)]
    clauses = []
    for term in search.split(" "):  # Flask-Admin's default search: every word, any column
        if term:
            clauses.append(or_(*[cast(joins.column(path), Unicode).ilike(_like(term))
                                 for path in spec.search]))
    return clauses


def _saved_filter(saved_filter_id: int) -> ColumnElement[bool]:
    """The contact list's ``?saved_filter=``: the criteria compiler's ``SELECT id``."""
    saved = db.session.get(SavedFilter, saved_filter_id)
    if saved is None or saved.module not in (FilterModule.CONTACT, FilterModule.LEAD):
        raise SelectionError(f"no contact or lead filter {saved_filter_id}")
    if validate(saved.criteria):  # an unusable filter shows no rows, so selects none
        return false()
    ids = matching_ids(saved.criteria, utcnow(), installation_tz()).subquery()
    clause = Contact.id.in_(select(ids.c.id))
    if saved.module == FilterModule.LEAD:
        clause = and_(clause, Contact.kind == ContactKind.LEAD)
    return clause


def key_column(area: str):
    """The primary-key column of an area's table."""
    return inspect(AREAS[area].model).primary_key[0]


def selected(selection: Selection, *columns) -> Select:
    """``SELECT <columns> FROM <the area's table> … WHERE <the selection>``: the id by
    default. Other columns are of the area's table; the joins the filters need are LEFT
    JOINs through many-to-one relationships, so no row appears twice."""
    spec = selection.spec
    key = key_column(selection.area)
    columns = columns or (key.label("id"),)
    # Never correlated: the selection is used inside statements on its own table
    # (``DELETE FROM contacts WHERE id IN (SELECT contacts.id FROM contacts …)``).
    if selection.ticked:
        return select(*columns).where(key.in_(selection.ids)).correlate(None)
    joins = _Joins(spec.model)
    where = _search(spec, joins, selection.search)
    for path, op, value in selection.filters:
        column = joins.column(path)
        where.append(_condition(column, op, _typed(column.type, value) if isinstance(value, str)
                                else [_typed(column.type, v) for v in value]
                                if isinstance(value, list) else value))
    if selection.saved_filter_id is not None:
        where.append(_saved_filter(selection.saved_filter_id))
    if selection.group_id is not None:
        if db.session.get(TargetGroup, selection.group_id) is None:
            raise SelectionError(f"no target group {selection.group_id}")
        where.append(Contact.id.in_(select(TargetGroupMember.contact_id)
                                    .where(TargetGroupMember.group_id == selection.group_id)))
    return (select(*columns).select_from(joins.source).where(and_(true(), *where))
            .correlate(None))


def count(selection: Selection) -> int:
    """How many rows the selection names now (the dry run's number)."""
    return db.session.scalar(select(func.count()).select_from(selected(selection).subquery()))


def bounds(selection: Selection) -> tuple[Any, Any, int]:
    """(lowest id, highest id, count) of the selection, in one query: a job's chunk plan."""
    ids = selected(selection).subquery()
    row = db.session.execute(select(func.min(ids.c.id), func.max(ids.c.id), func.count())).one()
    return row[0], row[1], row[2]


def parse_filter(area: str, text: str) -> list:
    """``"PATH OP VALUE"`` as a command line writes a list filter (``city eq Turku``,
    ``status in active,prospect``, ``created_at between 2026-01-01,2026-06-30``,
    ``email_opt_out eq yes``) → the stored (path, op, value); SelectionError otherwise."""
    parts = text.strip().split(" ", 2)
    if len(parts) < 2:
        raise SelectionError(f"{text!r}: write a filter as PATH OP VALUE, e.g. 'city eq Turku'")
    path, op = parts[0], parts[1]
    raw = parts[2] if len(parts) > 2 else ""
    spec = AREAS[area]
    if path not in spec.filters:
        raise SelectionError(f"the {spec.noun} list has no filter on {path!r} (it has: "
                             f"{', '.join(spec.filters)})")
    kind = _column_type(spec, path)
    if op == "empty":
        value: Any = raw.lower() not in ("no", "false", "0")
    elif op in ("in", "not_in", "between", "not_between"):
        value = [v.strip() for v in raw.split(",") if v.strip()]
    elif isinstance(kind, Boolean):
        value = raw.lower() in ("yes", "true", "1")
    else:
        value = raw
    if _is_moment(kind) and op != "empty":
        value = [_local_moment(v) for v in value] if isinstance(value, list) else \
            _local_moment(value)
    return list(_checked_filter(spec, [path, op, value]))


def _local_moment(text: str) -> str:
    """A moment typed on the command line: without an offset it is the installation's
    wall-clock time, as in the list's filter box (:func:`models.settings.local_to_utc`),
    kept as the UTC instant it names."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # _checked_filter names the bad value
    try:
        return local_to_utc(moment).isoformat()
    except ValueError as exc:  # past the calendar's end once the offset is applied
        raise SelectionError(f"{text!r}: {exc}") from None
