"""Small SQL helpers where PostgreSQL and SQLite need different constructs."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Integer, any_, false, func, literal, literal_column, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .base import db


class strpos(FunctionElement):  # noqa: N801 (reads like the SQL function it is)
    """1-based position of a substring, 0 when absent: instr() / strpos() per dialect."""

    type = Integer()
    inherit_cache = True


@compiles(strpos)
def _strpos_default(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(strpos, "postgresql")
def _strpos_postgresql(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"


def email_domain(column):
    """The part of an address after its '@' (the whole text when there is none).

    The '@' and the 1 are written into the SQL, not bound: the expression index
    ix_contacts_email_domain matches a query only when the expression is the same text
    (SQLite compares it literally; a bound parameter never equals an indexed constant).
    """
    at = strpos(column, literal_column("'@'"))
    return func.substr(column, at + literal_column("1", Integer))


def insert(table):
    """This database's ``INSERT`` construct, the one with ``on_conflict_do_…``."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def one_of(column, values: list):
    """``column IN (values)`` for a batch of thousands: on PostgreSQL one array parameter
    (``= ANY(:values)``), not a placeholder per value for SQLAlchemy to write, psycopg to
    parse (a long query misses its cache) and the server to read, statement after
    statement; SQLite takes the list (up to 32,766 values)."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(literal(list(values), postgresql.ARRAY(column.type)))
    return column.in_(values)


def insert_ignoring_duplicates(table):
    """``INSERT … ON CONFLICT DO NOTHING`` for this database: a repeat adds nothing.

    (SQLite parses ``INSERT … SELECT … ON CONFLICT`` only when the SELECT has a WHERE.)
    """
    return insert(table).on_conflict_do_nothing()


def one_writer(table) -> None:
    """Let one transaction at a time past this point for ``table`` until it ends: two
    chunks of one import may not both find a company missing and both create it.

    PostgreSQL: a transaction-level advisory lock named after the table. SQLite: a write
    that changes nothing takes the database's write lock now, before the lookup (its reads
    outside a write see other processes' commits as they land).
    """
    if db.engine.dialect.name == "postgresql":
        key = zlib.crc32(f"kohde:{table.name}".encode())
        db.session.execute(select(func.pg_advisory_xact_lock(key)))
    else:
        db.session.execute(update(table).where(false()).values({table.primary_key.columns
                                                                 .values()[0].name: 0}))


@contextmanager
def no_nested_loops(wanted: bool = True) -> Iterator[None]:
    """No nested-loop joins for the bulk statements inside (PostgreSQL only; SQLite has no
    such switch).

    The planner plans from statistics, and autovacuum refreshes them a minute or more
    after a bulk change, or never where it is off. A table filled since then looks empty,
    and for an empty table a nested loop that rescans it once per source row is the
    cheapest plan on paper: hours on 500,000 rows, where a hash anti-join takes a second.
    ``SET LOCAL`` ends with the transaction; the setting is put back at once so later
    statements plan as usual. ``wanted=False`` leaves the planner alone (a lookup per row
    is right for a few listed ids).
    """
    switch = wanted and db.engine.dialect.name == "postgresql"
    if switch:
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
    try:
        yield
    finally:
        if switch:
            db.session.execute(text("SET LOCAL enable_nestloop = on"))


def json_change(name: str, old, new):
    """SQL for the audit trail's ``{name: [old, new]}`` of one row, built by the database
    (a bulk job writes its audit entries with ``INSERT … SELECT``)."""
    if db.engine.dialect.name == "postgresql":
        return func.json_build_object(name, func.json_build_array(old, new))
    return func.json_object(name, func.json_array(old, new))


def json_record(**columns):
    """SQL for the audit trail's ``{column: value, …}`` of a deleted row."""
    pairs = [part for key, value in columns.items() for part in (key, value)]
    if db.engine.dialect.name == "postgresql":
        return func.json_build_object(*pairs)
    return func.json_object(*pairs)


def hour_bucket(column):
    """``column`` (a UTC timestamp) cut to its hour, for counting per hour in SQL; the
    caller turns hours into local days (a zone's day starts on a whole hour here, and an
    hour is the finest cut both databases make alike). SQLite answers text, PostgreSQL a
    timestamp: ``as_hour`` reads either."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def as_hour(value):
    """An ``hour_bucket`` value as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
