"""Small SQL helpers where PostgreSQL and SQLite need different constructs."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from models import db


def insert_ignoring_duplicates(table):
    """``INSERT … ON CONFLICT DO NOTHING`` for this database: a repeat adds nothing.

    (SQLite parses ``INSERT … SELECT … ON CONFLICT`` only when the SELECT has a WHERE.)
    """
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()
