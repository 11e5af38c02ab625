"""How many rows a list shows, without counting a million rows on every page.

An exact ``COUNT(*)`` reads every matching row: ~130 ms for a million contacts on
PostgreSQL, on every list page, for every user. PostgreSQL's planner already knows about
how many rows a query returns (``pg_class.reltuples`` and the column statistics that
autovacuum keeps); ``EXPLAIN`` hands that estimate over in about a millisecond. Lists
show it above ``EXACT_BELOW`` rows and count exactly below it, where an
exact count is cheap; anyone can ask for the exact count with a link. SQLite has no
statistics to ask, and its count over the embedded database's sizes is quick, so it is
always exact there.
"""

from __future__ import annotations

from sqlalchemy import Column, Select, func, literal_column, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from .base import db

# Below this many (estimated) rows a list counts exactly: a thousand rows cost about what
# the estimate does. Above it an exact count reads them all, and a search or a filter that
# matches tens of thousands of rows would read them twice (once to count, once to show
# the page).
EXACT_BELOW = 1_000


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a select, bound parameters and all (PostgreSQL)."""

    inherit_cache = False

    def __init__(self, statement: Select):
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain_postgresql(element: Explain, compiler, **kw) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def estimated_rows(count_statement: Select) -> int:
    """The planner's estimate of the rows a ``SELECT count(*) FROM … WHERE …`` counts
    (PostgreSQL): the same FROM and WHERE selecting a constant, explained, not run."""
    rows = count_statement.with_only_columns(literal_column("1"), maintain_column_froms=True)
    plan = db.session.execute(Explain(rows)).scalar()
    return int(plan[0]["Plan"]["Plan Rows"])


def list_count(count_statement: Select, exact: bool = False) -> tuple[int, bool]:
    """What a list shows as its number of rows, and whether it is an estimate: exact on
    SQLite, when ``exact`` is asked for, or when the estimate is small; else the
    planner's estimate."""
    if not exact and db.engine.dialect.name == "postgresql":
        estimate = estimated_rows(count_statement)
        if estimate >= EXACT_BELOW:
            return estimate, True
    return db.session.execute(count_statement).scalar() or 0, False


def key_counts(column: Column, keys: list) -> dict:
    """Rows per key of ``column`` (e.g. members per campaign on a campaign list page):
    ``{key: (count, estimated)}``. Keys the planner's statistics (``pg_stats``' most common
    values) put at ``EXACT_BELOW`` rows or more get that estimate; the rest are counted
    exactly, all in one GROUP BY."""
    counts: dict = {}
    if keys and db.engine.dialect.name == "postgresql":
        stats = db.session.execute(text(
            "SELECT s.most_common_vals::text::text[] AS vals, s.most_common_freqs AS freqs, "
            "c.reltuples FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
            "WHERE s.schemaname = current_schema() AND s.tablename = :table "
            "AND s.attname = :column AND c.relnamespace = to_regnamespace(current_schema())"),
            {"table": column.table.name, "column": column.name}).first()
        if stats and stats.vals:
            wanted = {str(key): key for key in keys}
            for value, share in zip(stats.vals, stats.freqs, strict=True):
                rows = int(share * stats.reltuples)
                if value in wanted and rows >= EXACT_BELOW:
                    counts[wanted[value]] = (rows, True)
    rest = [key for key in keys if key not in counts]
    if rest:
        exact = db.session.execute(
            select(column, func.count()).where(column.in_(rest)).group_by(column)).all()
        counts.update({key: (n, False) for key, n in exact})
        counts.update({key: (0, False) for key in rest if key not in counts})
    return counts
