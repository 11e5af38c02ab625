"""Sending the outbox: claim a batch, send over one connection, record each message at once.

A message moves queued → sending (claimed) → sent / deferred / failed /
suppressed. Claims are ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any
number of workers take disjoint batches; SQLite has one writer anyway.
Each message is committed as sent right after the server's 250: the only way
to send one twice is a crash between those two moments (then the sweep puts
the row back to queued and it goes again) — at most one message per crash.
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from models import (
    Contact,
    EmailTemplate,
    OutboxMessage,
    OutboxState,
    Settings,
    SuppressedAddress,
    db,
    utcnow,
)

from ..runs import JobContext, enqueue, job
from ..sql import insert_ignoring_duplicates
from . import smtp
from .message import build, compiled
from .outbox import requeue_stuck, suppression_reason
from .render import CompiledTemplate, TemplateProblem

outbox = OutboxMessage.__table__
BATCH = 200
MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 30, 120, 480)


def claim(limit: int) -> list[int]:
    """Mark up to ``limit`` due messages as sending and return their ids (committed)."""
    now = utcnow()
    due = (
        select(outbox.c.id)
        .where(outbox.c.state.in_((OutboxState.QUEUED, OutboxState.DEFERRED)),
               or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
        .order_by(outbox.c.id)
        .limit(limit)
        # PostgreSQL: concurrent senders skip each other's rows; SQLite ignores it
        # (its single writer already makes the claim atomic).
        .with_for_update(skip_locked=True)
    )  # fmt: skip
    ids = db.session.execute(
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(state=OutboxState.SENDING, claimed_at=now, attempts=outbox.c.attempts + 1)
        .returning(outbox.c.id)
    ).scalars().all()
    db.session.commit()
    return sorted(ids)


def _record(row_id: int, **values) -> None:
    # Its own short transaction on its own connection: a sent message is on record at
    # once, and the batch's loaded rows are not expired by a session commit.
    with db.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


def suppressed_now(ids: list[int], waiting_days: int) -> dict[int, str]:
    """Claimed messages that must not go after all (checked again at send time: the contact
    may have opted out or bounced since), in one query for the batch."""
    contacts = Contact.__table__
    reason = suppression_reason(outbox.c.template_id, utcnow(), waiting_days,
                                older_than_id=outbox.c.id)  # fmt: skip
    rows = db.session.execute(
        select(outbox.c.id, reason)
        .select_from(outbox.join(contacts, contacts.c.id == outbox.c.contact_id))
        .where(outbox.c.id.in_(ids))
    ).all()
    return {row_id: why for row_id, why in rows if why}


def _deferred_or_failed(item: Outgoing, error: str) -> dict:
    if item.attempts >= MAX_ATTEMPTS:
        return {"state": OutboxState.FAILED, "last_error": error}
    delay = BACKOFF_MINUTES[min(item.attempts, len(BACKOFF_MINUTES)) - 1]
    return {"state": OutboxState.DEFERRED, "last_error": error,
            "next_attempt_at": utcnow() + timedelta(minutes=delay)}  # fmt: skip


@dataclass
class Outgoing:
    """A rendered message and what recording its outcome needs (no ORM object: the session
    is closed while sending)."""

    id: int
    to: str
    email_key: str
    attempts: int
    message: EmailMessage


def _prepare(ids: list[int], counts: dict) -> list[Outgoing]:
    """Load the batch, hold back what is suppressed now, render the rest (each template
    compiled once per batch)."""
    held_back = suppressed_now(ids, Settings.get().email_waiting_period_days)
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        .options(selectinload(OutboxMessage.contact).selectinload(Contact.owner),
                 selectinload(OutboxMessage.contact).selectinload(Contact.company),
                 selectinload(OutboxMessage.template).selectinload(EmailTemplate.sender_user),
                 selectinload(OutboxMessage.campaign))
    ).all()  # fmt: skip
    templates: dict[int, CompiledTemplate] = {}
    ready = []
    for row in rows:
        if row.id in held_back:
            _record(row.id, state=OutboxState.SUPPRESSED, suppressed_reason=held_back[row.id])
            counts["suppressed"] += 1
            continue
        try:
            if row.template_id not in templates:
                templates[row.template_id] = compiled(row.template)
            message = build(row, templates[row.template_id])
            ready.append(Outgoing(row.id, row.contact.email.strip(), row.contact.email_key,
                                  row.attempts, message))  # fmt: skip
        except TemplateProblem as exc:
            _record(row.id, state=OutboxState.FAILED, last_error=str(exc))
            counts["failed"] += 1
    return ready


def send_batch(ids: list[int], counts: dict, pace: float) -> None:
    """Send claimed messages over one SMTP connection, recording each outcome at once."""
    ready = _prepare(ids, counts)
    db.session.commit()  # end the read transaction: the writes below use their own connection
    client = None
    pending = {item.id for item in ready}
    try:
        for item in ready:
            started = time.monotonic()
            client = client or smtp.connect()
            try:
                client.send_message(item.message, to_addrs=[item.to])
            except smtplib.SMTPRecipientsRefused as exc:
                code, detail = next(iter(exc.recipients.values()))
                _smtp_refused(item, code, detail, counts)
            except smtplib.SMTPResponseException as exc:
                _smtp_refused(item, exc.smtp_code, exc.smtp_error, counts)
            else:
                _record(item.id, state=OutboxState.SENT, sent_at=utcnow(), last_error=None,
                        message_id=item.message["Message-ID"])  # fmt: skip
                counts["sent"] += 1
            pending.discard(item.id)
            time.sleep(max(0.0, pace - (time.monotonic() - started)))
    except (OSError, smtplib.SMTPException) as exc:
        # The server went away: what was not sent waits for a later attempt.
        for item in ready:
            if item.id in pending:
                _record(item.id, **_deferred_or_failed(item, f"{type(exc).__name__}: {exc}"))
                counts["deferred"] += 1
    finally:
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


def _smtp_refused(item: Outgoing, code: int, detail, counts: dict) -> None:
    error = f"{code} {detail.decode(errors='replace') if isinstance(detail, bytes) else detail}"
    if 400 <= code < 500:
        _record(item.id, **_deferred_or_failed(item, error))
        counts["deferred"] += 1
        return
    # 5xx: the address does not work; never try it again for anyone's campaign.
    with db.engine.begin() as conn:
        conn.execute(insert_ignoring_duplicates(SuppressedAddress.__table__).values(
            email_key=item.email_key, reason="bounced", detail=error,
            created_at=utcnow()))  # fmt: skip
    _record(item.id, state=OutboxState.FAILED, last_error=error)
    counts["failed"] += 1


def send_outbox(limit: int | None = None, ctx: JobContext | None = None) -> dict:
    """Send due messages batch by batch until none are due (or ``limit`` were handled)."""
    requeue_stuck()
    per_second = max(Settings.get().email_messages_per_second, 1)
    counts = {"sent": 0, "deferred": 0, "failed": 0, "suppressed": 0}
    handled = 0
    while limit is None or handled < limit:
        ids = claim(min(BATCH, limit - handled) if limit else BATCH)
        if not ids:
            break
        send_batch(ids, counts, pace=1.0 / per_second)
        handled += len(ids)
        if ctx:
            ctx.progress(handled)
    return counts


@job("send_outbox")
def send_outbox_job(ctx: JobContext, slot: int = 0, limit: int | None = None) -> dict:
    """The sender job; ``slot`` lets several senders run side by side."""
    return send_outbox(limit, ctx)


def start_senders(count: int = 1) -> None:
    """Make sure sender jobs are on their way (a running one is not started twice)."""
    for slot in range(count):
        enqueue("send_outbox", {"slot": slot})
