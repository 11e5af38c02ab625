"""PostgreSQL trigram indexes that make the back office's substring search fast.

Flask-Admin searches with ``ILIKE '%text%'``, which no B-tree index can serve;
on a million contacts that is a sequential scan of seconds. pg_trgm GIN
indexes answer it in milliseconds. SQLite has no equivalent, so these
indexes exist only on PostgreSQL: a migration creates them, and
autogenerate is told to leave them alone (:func:`include_object`).
"""

from __future__ import annotations

TRIGRAM_PREFIX = "ix_trgm_"

def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic hook: the PostgreSQL-only trigram indexes are not part of the models."""
    return not (type_ == "index" and name and name.startswith(TRIGRAM_PREFIX))
