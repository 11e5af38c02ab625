"""Case-insensitive matching for every script on SQLite, as on PostgreSQL.

SQLite's ``lower()`` and ``LIKE`` only fold ASCII letters, so ``ILIKE`` (which
SQLAlchemy renders as ``lower(x) LIKE lower(y)`` there) found "Öhman" for
"Öhman" but not for "öhman": the back office's searches, pickers and filters
missed names typed in another case. On SQLite, ``ILIKE`` is rendered with
``kohde_casefold()`` instead, a function every SQLite connection gets (Python's
``str.casefold``). The built-in ``lower()`` is left alone: stored expressions
(``email_key``, indexes) keep meaning what they meant.
"""

from __future__ import annotations

from sqlalchemy import event, func
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine
from sqlalchemy.sql import operators

FUNCTION = "kohde_casefold"


def _casefold(value):
    return value.casefold() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _register(dbapi_conn, _record) -> None:
    if type(dbapi_conn).__module__.startswith(("sqlite3", "pysqlite")):
        dbapi_conn.create_function(FUNCTION, 1, _casefold, deterministic=True)


def _folded(binary):
    binary = binary._clone()
    binary.left = getattr(func, FUNCTION)(binary.left)
    binary.right = getattr(func, FUNCTION)(binary.right)
    return binary


def _visit_ilike(self, binary, operator, **kw):
    if operator is operators.ilike_op:
        binary = _folded(binary)
    return self.visit_like_op_binary(binary, operator, **kw)


def _visit_not_ilike(self, binary, operator, **kw):
    if operator is operators.not_ilike_op:
        binary = _folded(binary)
    return self.visit_not_like_op_binary(binary, operator, **kw)


SQLiteCompiler.visit_ilike_op_binary = _visit_ilike
SQLiteCompiler.visit_not_ilike_op_binary = _visit_not_ilike
