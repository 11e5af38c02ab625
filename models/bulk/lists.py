"""Bulk statements for the smaller lists: the outbox's retry and cancel."""

from __future__ import annotations

from sqlalchemy import func, select, update

from ..base import db
from ..email import OutboxMessage, OutboxState
from ..selections import Selection, selected

outbox = OutboxMessage.__table__
RETRYABLE = (OutboxState.FAILED,)
CANCELLABLE = (OutboxState.QUEUED, OutboxState.DEFERRED)
CANCELLED = "cancelled"  # the suppressed reason of a message cancelled by hand


def _chosen(selection: Selection, states):
    return outbox.c.id.in_(selected(selection)), outbox.c.state.in_(states)


def outbox_counts(selection: Selection) -> dict:
    """How many of the selected messages a retry and a cancel would touch."""
    ids = selected(selection).subquery()
    row = db.session.execute(
        select(func.count().filter(outbox.c.state.in_(RETRYABLE)),
               func.count().filter(outbox.c.state.in_(CANCELLABLE)), func.count())
        .select_from(outbox.join(ids, ids.c.id == outbox.c.id))).one()
    return {"failed": row[0], "queued": row[1], "selected": row[2]}


def retry_failed(selection: Selection) -> int:
    """Failed messages go back in the queue with their attempts reset; how many."""
    return db.session.execute(
        update(outbox).where(*_chosen(selection, RETRYABLE))
        .values(state=OutboxState.QUEUED, attempts=0, next_attempt_at=None, claimed_at=None,
                claimed_by=None)).rowcount


def cancel_queued(selection: Selection) -> int:
    """Queued and deferred messages are held back for good (suppressed: cancelled);
    their unique key keeps them from being made again. How many."""
    return db.session.execute(
        update(outbox).where(*_chosen(selection, CANCELLABLE))
        .values(state=OutboxState.SUPPRESSED, suppressed_reason=CANCELLED,
                next_attempt_at=None)).rowcount
