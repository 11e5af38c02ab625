"""Set-based bulk changes over a selection, one primary-key chunk at a time.

Each chunk is three statements, whatever its size (docs/architecture.md, rules 2 and 4):
record the rows that will change with their old values (``INSERT … SELECT`` into
``bulk_undo``), change exactly those rows (``UPDATE … WHERE id IN`` the recorded ones),
and write one audit entry per row (``INSERT … SELECT`` into ``audit_log``). Undo puts the
recorded values back where the row still holds what the job set (a later edit wins).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    Boolean,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from ..activities.edits import shifted
from ..audit import AuditEntry
from ..base import db, utcnow
from ..dialect import insert_ignoring_duplicates, json_change, json_record
from ..selections import AREAS, Selection, selected
from . import BulkUndo

CHUNK = 50_000  # ids per chunk: a progress step every few seconds at a million rows
undo = BulkUndo.__table__
audit = AuditEntry.__table__
AUDIT_COLUMNS = ["at", "user_id", "action", "table_name", "record_id", "summary", "changes"]
# A bulk job's audit summary is stored in English, stable for machines and exports:
# "owner changed in bulk (job 1f3…)", "email opt-out set in bulk: bounced (job 1f3…)",
# "undo of 1f3… (job 9ab…)". Pages put it in the reader's words (webadmin/admin/audit_words).
OWNER_CHANGED = "owner changed in bulk"
STATUS_SET = "status set in bulk"
OPT_OUT_SET = "email opt-out set in bulk"
ACTIVE_SET = "active set in bulk"
REASSIGNED = "reassigned in bulk"
MOVED = "moved in bulk"
DONE_IN_BULK = (OWNER_CHANGED, STATUS_SET, OPT_OUT_SET, ACTIVE_SET, REASSIGNED, MOVED)
UNDO_OF = "undo of "
SUMMARY_LENGTH = 255  # audit_log.summary
_SUMMARY = re.compile(r"(?P<what>[^:()]+?)(?:: (?P<note>.*))? \(job (?P<job>[^()\s]+)\)",
                      re.DOTALL)


@dataclass(frozen=True)
class Change:
    """One column a bulk action sets: where its old value is kept, how the trail says it."""

    area: str
    column: str
    what: str  # the audit entry's summary: one of DONE_IN_BULK

    @property
    def table(self):
        """The area's table."""
        return AREAS[self.area].model.__table__

    @property
    def is_bool(self) -> bool:
        """Booleans are kept as 0/1 in ``old_int``."""
        return isinstance(self.table.c[self.column].type, Boolean)

    @property
    def kept(self):
        """The ``bulk_undo`` column holding the old value."""
        column = self.table.c[self.column]
        return undo.c.old_text if isinstance(column.type, String) else undo.c.old_int


def chunks(low, high, size: int | None = None) -> Iterator[tuple[int, int]]:
    """Inclusive id ranges covering ``low``…``high`` (nothing when the selection is empty),
    ``size`` ids each (CHUNK, read when called: tests make it small)."""
    if low is None:
        return
    size = size or CHUNK
    start = low
    while start <= high:
        yield start, min(start + size - 1, high)
        start += size


def _recorded(job_id: str, low, high):
    return select(undo.c.row_id).where(undo.c.job_id == job_id, undo.c.row_id >= low,
                                       undo.c.row_id <= high)


def _audit(rows) -> None:
    db.session.execute(insert(audit).from_select(AUDIT_COLUMNS, rows))


def _summary(job_id: str, what: str, note: str = "") -> str:
    # A long note is cut, never the job id that names who did it.
    end = f" (job {job_id})"
    text = f"{what}{': ' + note if note else ''}"
    return text[:SUMMARY_LENGTH - len(end)] + end


@dataclass(frozen=True)
class BulkSummary:
    """A stored bulk audit summary taken apart: what the job did (a ``Change.what``,
    :data:`MOVED`, or "undo of <job>"), the note given with it, and the job's id."""

    what: str
    note: str
    job_id: str

    @property
    def undid(self) -> str | None:
        """For an undo: the id of the job it undid."""
        return self.what[len(UNDO_OF):] if self.what.startswith(UNDO_OF) else None


def read_summary(text: str | None) -> BulkSummary | None:
    """A bulk job's audit summary (as :func:`_summary` writes it) taken apart; None for any
    other summary (a record's name, written by the ORM's audit)."""
    found = _SUMMARY.fullmatch(text or "")
    if found is None or not (found["what"] in DONE_IN_BULK or found["what"].startswith(UNDO_OF)):
        return None
    return BulkSummary(found["what"], found["note"] or "", found["job"])


def set_column(job_id: str, selection: Selection, change: Change, value, low, high, *,
               user_id: int | None, note: str = "") -> int:
    """Set ``change.column`` to ``value`` on the selected rows with ids in ``low``…``high``
    that hold another value; recorded for undo and audited. How many changed (not
    committed: the job's progress commits each chunk)."""
    table = change.table
    key, column = table.c.id, table.c[change.column]
    new = literal(value, column.type)
    # PostgreSQL casts a boolean to INTEGER but not to BIGINT: spell out 0/1.
    old = case((column, 1), else_=0) if change.is_bool else column
    rows = selected(selection, literal(job_id), key, old).where(
        key >= low, key <= high, column.is_distinct_from(new))
    # A plain INSERT: a run executes once (a retry is a new run with its own id), and ON
    # CONFLICT's speculative insertion would cost every row of a big change.
    recorded = db.session.execute(
        insert(undo).from_select(["job_id", "row_id", change.kept.name], rows)
        .execution_options(preserve_rowcount=True)
    ).rowcount
    if not recorded:
        return 0
    mine = _recorded(job_id, low, high)
    db.session.execute(update(table).where(key >= low, key <= high, key.in_(mine))
                       .values({change.column: new}))
    _audit(select(literal(utcnow(), audit.c.at.type), literal(user_id, audit.c.user_id.type),
                  literal("update"), literal(table.name), cast(undo.c.row_id, String),
                  literal(_summary(job_id, change.what, note)),
                  json_change(change.column, change.kept, new))
           .where(undo.c.job_id == job_id, undo.c.row_id >= low, undo.c.row_id <= high))
    return recorded


def restore_column(job_id: str, change: Change, value, *, user_id: int | None,
                   undo_id: str) -> tuple[int, int]:
    """Undo :func:`set_column`: put back the old values where the row still holds
    ``value``; (restored, kept because they changed since). Not committed."""
    table = change.table
    key, column = table.c.id, table.c[change.column]
    new = literal(value, column.type)
    back = (change.kept != 0) if change.is_bool else change.kept
    mine = select(undo.c.row_id).where(undo.c.job_id == job_id)
    still = column.is_not_distinct_from(new)
    joined = undo.join(table, table.c.id == undo.c.row_id)
    _audit(select(literal(utcnow(), audit.c.at.type), literal(user_id, audit.c.user_id.type),
                  literal("update"), literal(table.name), cast(undo.c.row_id, String),
                  literal(_summary(undo_id, f"{UNDO_OF}{job_id}")),
                  json_change(change.column, column, back))
           .select_from(joined).where(undo.c.job_id == job_id, still))
    old = select(back).where(undo.c.job_id == job_id, undo.c.row_id == key).scalar_subquery()
    restored = db.session.execute(
        update(table).where(key.in_(mine), still).values({change.column: old})).rowcount
    total = db.session.scalar(select(func.count()).where(undo.c.job_id == job_id))
    return restored, total - restored


def record_times(job_id: str, selection: Selection, low, high,
                 done_by: Sequence[str] = ()) -> int:
    """Keep the selected activities' owner and times (ids in ``low``…``high``) for undo,
    except those the runs ``done_by`` (earlier attempts of the same request) recorded:
    their change committed with their record, so they are done."""
    activities = AREAS["activities"].model.__table__
    key = activities.c.id
    rows = selected(selection, literal(job_id), key, activities.c.owner_id,
                    activities.c.start_at, activities.c.end_at).where(key >= low, key <= high)
    if done_by:
        rows = rows.where(key.not_in(select(undo.c.row_id).where(undo.c.job_id.in_(done_by))))
    return db.session.execute(
        insert_ignoring_duplicates(undo).from_select(
            ["job_id", "row_id", "old_int", "old_start", "old_end"], rows)
        .execution_options(preserve_rowcount=True)
    ).rowcount


def audit_times(job_id: str, low, high, *, user_id: int | None, what: str) -> None:
    """One audit entry per recorded activity: its start before and now."""
    activities = AREAS["activities"].model.__table__
    _audit(select(literal(utcnow(), audit.c.at.type), literal(user_id, audit.c.user_id.type),
                  literal("update"), literal("activities"), cast(undo.c.row_id, String),
                  literal(_summary(job_id, what)),
                  json_change("start_at", undo.c.old_start, activities.c.start_at))
           .select_from(undo.join(activities, activities.c.id == undo.c.row_id))
           .where(undo.c.job_id == job_id, undo.c.row_id >= low, undo.c.row_id <= high))


def shift_times(job_id: str, selection: Selection, delta: timedelta, low, high, *,
                user_id: int | None, done_by: Sequence[str] = ()) -> int:
    """Move the selected activities (ids in ``low``…``high``) by ``delta``; recorded and
    audited. How many moved. ``done_by``: earlier attempts of this request, whose chunks
    are not moved a second time (a shift, unlike setting a value, is not idempotent)."""
    activities = AREAS["activities"].model.__table__
    key = activities.c.id
    moved = record_times(job_id, selection, low, high, done_by)
    if moved:
        db.session.execute(
            update(activities).where(key >= low, key <= high,
                                     key.in_(_recorded(job_id, low, high)))
            .values(start_at=shifted(activities.c.start_at, delta),
                    end_at=shifted(activities.c.end_at, delta)))
        record_new_times(job_id, low, high)
        audit_times(job_id, low, high, user_id=user_id, what=MOVED)
    return moved


def record_new_times(job_id: str, low, high) -> None:
    """After a shift or a reassignment: the times each recorded activity has now, so undo
    can tell the job's work from a later edit."""
    activities = AREAS["activities"].model.__table__

    def now(column):
        return select(column).where(activities.c.id == undo.c.row_id).scalar_subquery()

    db.session.execute(
        update(undo).where(undo.c.job_id == job_id, undo.c.row_id >= low, undo.c.row_id <= high)
        .values(new_start=now(activities.c.start_at), new_end=now(activities.c.end_at)))


def restore_times(job_id: str, *, with_owner: bool, user_id: int | None,
                  undo_id: str) -> tuple[int, int]:
    """Undo a shift or a slotted reassignment: the recorded times (and owner) come back to
    the activities that still have the times the job gave them; (restored, kept because
    someone moved them since). Records from before the job noted its new times (no
    ``new_start``) are restored as they are. Not committed."""
    activities = AREAS["activities"].model.__table__
    key = activities.c.id

    def old(column):
        return select(column).where(undo.c.job_id == job_id, undo.c.row_id == key) \
            .scalar_subquery()

    values = {"start_at": old(undo.c.old_start), "end_at": old(undo.c.old_end)}
    if with_owner:
        values["owner_id"] = old(undo.c.old_int)
    joined = undo.join(activities, activities.c.id == undo.c.row_id)
    untouched = and_(undo.c.job_id == job_id, or_(
        undo.c.new_start.is_(None),
        and_(activities.c.start_at == undo.c.new_start,
             activities.c.end_at.is_not_distinct_from(undo.c.new_end))))
    _audit(select(literal(utcnow(), audit.c.at.type), literal(user_id, audit.c.user_id.type),
                  literal("update"), literal("activities"), cast(undo.c.row_id, String),
                  literal(_summary(undo_id, f"{UNDO_OF}{job_id}")),
                  json_change("start_at", activities.c.start_at, undo.c.old_start))
           .select_from(joined).where(untouched))
    mine = select(undo.c.row_id).select_from(joined).where(untouched)
    restored = db.session.execute(update(activities).where(key.in_(mine)).values(values)).rowcount
    total = db.session.scalar(select(func.count()).where(undo.c.job_id == job_id))
    return restored, total - restored


def delete_rows(job_id: str, selection: Selection, low, high, *, user_id: int | None,
                shown: dict) -> int:
    """Delete the selected rows with ids in ``low``…``high``, each with an audit entry
    that keeps ``shown`` ({name: column name}) of it. Not undoable. How many went."""
    table = selection.spec.model.__table__
    key = table.c.id
    ids = selected(selection).where(key >= low, key <= high)
    first = next(iter(shown.values()))
    _audit(select(literal(utcnow(), audit.c.at.type), literal(user_id, audit.c.user_id.type),
                  literal("delete"), literal(table.name), cast(key, String),
                  func.substr(func.coalesce(table.c[first], ""), 1, 200),
                  json_record(**{name: table.c[col] for name, col in shown.items()}))
           .where(key.in_(ids)))
    return db.session.execute(delete(table).where(key.in_(ids))).rowcount


def forget(job_id: str) -> None:
    """Drop a job's undo records (after its undo: they would restore twice)."""
    db.session.execute(delete(undo).where(undo.c.job_id == job_id))


def would_change(selection: Selection, change: Change, value) -> int:
    """How many selected rows hold another value than ``value`` now (the dry run of
    :func:`set_column`: the same condition)."""
    column = change.table.c[change.column]
    which = selected(selection, change.table.c.id).where(
        column.is_distinct_from(literal(value, column.type)))
    return db.session.scalar(select(func.count()).select_from(which.subquery()))
