"""The audit trail: every ORM create, update and delete of a tracked model, with who did it.

Recording happens in one session hook, so admin screens, CLI commands and
jobs are covered alike. Bulk set-based jobs do not go through the ORM; their
job-run row (who, what, counts) is their audit record.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from flask import Flask, g, has_app_context, has_request_context
from flask_login import current_user
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

import models
from models import AuditEntry, utcnow

TRACKED = (
    models.Activity,
    models.Campaign,
    models.Company,
    models.Contact,
    models.EmailTemplate,
    models.SavedFilter,
    models.ScheduledAction,
    models.Settings,
    models.TargetGroup,
    models.User,
)
# Never copied into the trail: secrets, and columns the database derives.
HIDDEN = {"password_hash", "calendar_token", "email_key", "created_at", "updated_at"}


def acting_user_id() -> int | None:
    """The user behind the current change: the logged-in user, or a job's starter."""
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.id
    return g.get("acting_user_id") if has_app_context() else None


def _plain(value):
    # JSON-safe copy of a column value.
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _columns(obj) -> list[str]:
    return [c.key for c in inspect(obj).mapper.column_attrs if c.key not in HIDDEN]


def _entry(obj, action: str, changes: dict) -> dict:
    # Not ``state.identity``: after_flush runs before new rows get their identity key,
    # so creates would be recorded without an id. The key columns are already filled.
    identity = inspect(obj).mapper.primary_key_from_instance(obj)
    return {
        "at": utcnow(),
        "user_id": acting_user_id(),
        "action": action,
        "table_name": obj.__tablename__,
        "record_id": ",".join(str(part) for part in identity),
        "summary": str(obj)[:255],
        "changes": changes,
    }


def _update_changes(obj) -> dict:
    state = inspect(obj)
    changes = {}
    for key in _columns(obj):
        history = state.attrs[key].history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old != new:
                changes[key] = [_plain(old), _plain(new)]
    return changes


def _after_flush(session: Session, _context) -> None:
    rows = []
    for obj in session.new:
        if isinstance(obj, TRACKED):
            rows.append(_entry(obj, "create", {k: _plain(getattr(obj, k)) for k in _columns(obj)}))
    for obj in session.dirty:
        if isinstance(obj, TRACKED) and session.is_modified(obj, include_collections=False):
            changes = _update_changes(obj)
            if changes:
                rows.append(_entry(obj, "update", changes))
    for obj in session.deleted:
        if isinstance(obj, TRACKED):
            rows.append(_entry(obj, "delete", {k: _plain(getattr(obj, k)) for k in _columns(obj)}))
    if rows:
        # Core insert on the flush's own connection: adding ORM objects here is not allowed.
        session.connection().execute(insert(AuditEntry), rows)


def _keep_old(target, value, oldvalue, initiator):
    return value


def init_app(_app: Flask) -> None:
    """Hook the trail onto every ORM session (idempotent across app instances)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
    # A commit expires what a session loaded: without active history, setting a column of
    # such a row afterwards keeps no old value and the trail would say it was empty. With
    # it, the row is read again before the first set (one SELECT), so the old value is known.
    for model in TRACKED:
        for column in inspect(model).column_attrs:
            attribute = getattr(model, column.key)
            if not event.contains(attribute, "set", _keep_old):
                event.listen(attribute, "set", _keep_old, active_history=True, retval=True)
