"""The outbox's claims and state moves: queued → sending (claimed) → sent / deferred /
failed / suppressed.

Claims are ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of senders take
disjoint batches; SQLite has one writer anyway. The sender (jobs/email/sender.py) runs the
outcome statements built here on its recorder's own connection, so they are returned as
statements, not executed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, literal, select, update
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


def mark_sent(rows: list[tuple[int, str | None, str | None]]):
    """One statement recording messages the server took (250): ``rows`` are (id,
    Message-ID, the language variant written in). The sender's connections hand their
    messages in as the server answers; whatever waits when the recorder comes round is
    one UPDATE (one commit), however many connections wait on it."""
    ids = [row_id for row_id, _message_id, _language in rows]

    def per_row(column, values: dict):
        # One value for all (a campaign's language, usually) needs no CASE.
        if len(set(values.values())) == 1:
            return literal(next(iter(values.values())), column.type)
        return case({row_id: literal(value, column.type) for row_id, value in values.items()},
                    value=outbox.c.id)

    return (
        update(outbox).where(outbox.c.id.in_(ids))
        .values(state=OutboxState.SENT, sent_at=utcnow(), last_error=None,
                message_id=per_row(outbox.c.message_id, {r[0]: r[1] for r in rows}),
                language=per_row(outbox.c.language, {r[0]: r[2] for r in rows}))
    )


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
