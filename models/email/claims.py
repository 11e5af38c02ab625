"""The outbox's claims and state moves: queued → sending (claimed) → sent / deferred /
failed / suppressed.

Claims are ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of senders take
disjoint batches; SQLite has one writer anyway. The sender (jobs/email/sender.py) runs the
outcome statements built here on its recorder's own connection, so they are returned as
statements, not executed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import selectinload

from models import (
    Contact,
    EmailTemplate,
    OutboxMessage,
    OutboxState,
    SuppressedAddress,
    db,
    utcnow,
)

from ..automations import NOTIFY_REASON
from ..dialect import insert_ignoring_duplicates
from .outbox import due as due_now
from .outbox import suppression_reason

outbox = OutboxMessage.__table__
MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 30, 120, 480)
MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_id"))
    .values(state=OutboxState.SENT, sent_at=bindparam("b_sent_at"), last_error=None,
            message_id=bindparam("b_message_id"), language=bindparam("b_language"))
)


def claim(limit: int, run_id: str | None = None) -> list[int]:
    """Mark up to ``limit`` due messages as sending (claimed by job run ``run_id``) and
    return their ids (committed)."""
    now = utcnow()
    due = (
        select(outbox.c.id)
        .where(due_now(now))
        .order_by(outbox.c.id)
        .limit(limit)
        # PostgreSQL: concurrent senders skip each other's rows; SQLite ignores it
        # (its single writer already makes the claim atomic).
        .with_for_update(skip_locked=True)
    )
    ids = db.session.execute(
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(state=OutboxState.SENDING, claimed_at=now, claimed_by=run_id,
                attempts=outbox.c.attempts + 1)
        .returning(outbox.c.id)
    ).scalars().all()
    db.session.commit()
    return sorted(ids)


def suppressed_now(ids: list[int], waiting_days: int) -> dict[int, str]:
    """Claimed messages that must not go after all (checked again at send time: the contact
    may have opted out or bounced since, or the template reached them meanwhile), in one
    query for the batch. The waiting period is the probe of the (template, contact) index
    per row that the automations' step uses when it creates messages, so creation and send
    read it alike (and no batch hashes the template's whole history)."""
    contacts = Contact.__table__
    reason = suppression_reason(outbox.c.template_id, utcnow(), waiting_days,
                                older_than_id=outbox.c.id, per_row=True)
    rows = db.session.execute(
        select(outbox.c.id, reason)
        .select_from(outbox.join(contacts, contacts.c.id == outbox.c.contact_id))
        # An automation's notification to a user is not mail to the contact: the contact's
        # opt-out and address do not hold it back.
        .where(outbox.c.id.in_(ids), outbox.c.reason != NOTIFY_REASON)
    ).all()
    return {row_id: why for row_id, why in rows if why}


def claimed_messages(ids: list[int]) -> list[OutboxMessage]:
    """The claimed rows with what composing them reads (contact, owner, company, template
    and its sender, campaign, the step's chosen sender), in a few queries for the batch."""
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        .options(selectinload(OutboxMessage.contact).selectinload(Contact.owner),
                 selectinload(OutboxMessage.contact).selectinload(Contact.company),
                 selectinload(OutboxMessage.template).selectinload(EmailTemplate.sender_user),
                 selectinload(OutboxMessage.template).selectinload(EmailTemplate.variants),
                 selectinload(OutboxMessage.campaign),
                 selectinload(OutboxMessage.sender_user))
    ).all())


def set_state(row_id: int, **values):
    """The statement that records one message's outcome (state, error, …)."""
    return update(outbox).where(outbox.c.id == row_id).values(**values)


def sent_params(row_id: int, message_id: str | None, language: str | None = None) -> dict:
    """The parameters of ``MARK_SENT`` for a message the server took (250), with the
    language variant it was written in."""
    return {"b_id": row_id, "b_sent_at": utcnow(), "b_message_id": message_id,
            "b_language": language}


def bounce(row_id: int, email_key: str, error: str) -> tuple:
    """5xx: the statements that put the address on the suppression list (so nobody's
    campaign tries it again) and mark the message failed, in that order."""
    suppress = insert_ignoring_duplicates(SuppressedAddress.__table__).values(
        email_key=email_key, reason="bounced", detail=error, created_at=utcnow())
    return suppress, set_state(row_id, state=OutboxState.FAILED, last_error=error)


def deferred_or_failed(attempts: int, error: str) -> dict:
    """A temporary failure after ``attempts`` tries: deferred with backoff, or failed for
    good after MAX_ATTEMPTS (the values for ``set_state``)."""
    if attempts >= MAX_ATTEMPTS:
        return {"state": OutboxState.FAILED, "last_error": error}
    delay = BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1]
    return {"state": OutboxState.DEFERRED, "last_error": error,
            "next_attempt_at": utcnow() + timedelta(minutes=delay)}
