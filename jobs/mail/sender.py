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
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from models import (
    Contact,
    OutboxMessage,
    OutboxState,
    Settings,
    SuppressedAddress,
    db,
    utcnow,
)

from ..runs import JobContext, enqueue, job
from . import smtp
from .message import build
from .outbox import Suppression, requeue_stuck, waiting_period_clause
from .render import TemplateProblem

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


def _finish(row_id: int, **values) -> None:
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))
    db.session.commit()


def _still_suppressed(row: OutboxMessage, waiting_days: int) -> str | None:
    # Checked again at send time: the contact may have opted out since the row was made.
    contact: Contact = row.contact
    if contact.email_opt_out:
        return Suppression.OPTED_OUT
    if not contact.email_key:
        return Suppression.NO_EMAIL
    if db.session.get(SuppressedAddress, contact.email_key) is not None:
        return Suppression.BOUNCED
    since = utcnow() - timedelta(days=waiting_days)
    if db.session.scalar(select(waiting_period_clause(row.template_id, row.contact_id, since,
                                                      exclude_id=row.id))):  # fmt: skip
        return Suppression.WAITING_PERIOD
    return None


def _deferred_or_failed(row: OutboxMessage, error: str) -> dict:
    if row.attempts >= MAX_ATTEMPTS:
        return {"state": OutboxState.FAILED, "last_error": error}
    delay = BACKOFF_MINUTES[min(row.attempts, len(BACKOFF_MINUTES)) - 1]
    return {"state": OutboxState.DEFERRED, "last_error": error,
            "next_attempt_at": utcnow() + timedelta(minutes=delay)}  # fmt: skip


def send_batch(ids: list[int], counts: dict, pace: float) -> None:
    """Send claimed messages over one SMTP connection, recording each outcome at once."""
    settings = Settings.get()
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        .options(selectinload(OutboxMessage.contact).selectinload(Contact.owner),
                 selectinload(OutboxMessage.contact).selectinload(Contact.company),
                 selectinload(OutboxMessage.template), selectinload(OutboxMessage.campaign))
    ).all()  # fmt: skip
    client = None
    try:
        for row in rows:
            started = time.monotonic()
            reason = _still_suppressed(row, settings.email_waiting_period_days)
            if reason:
                _finish(row.id, state=OutboxState.SUPPRESSED, suppressed_reason=reason)
                counts["suppressed"] += 1
                continue
            try:
                message = build(row)
            except TemplateProblem as exc:
                _finish(row.id, state=OutboxState.FAILED, last_error=str(exc))
                counts["failed"] += 1
                continue
            client = client or smtp.connect()
            try:
                client.send_message(message, to_addrs=[row.contact.email.strip()])
            except smtplib.SMTPRecipientsRefused as exc:
                code, detail = next(iter(exc.recipients.values()))
                _smtp_refused(row, code, detail, counts)
            except smtplib.SMTPResponseException as exc:
                _smtp_refused(row, exc.smtp_code, exc.smtp_error, counts)
            else:
                _finish(row.id, state=OutboxState.SENT, sent_at=utcnow(), last_error=None,
                        message_id=message["Message-ID"])  # fmt: skip
                counts["sent"] += 1
            time.sleep(max(0.0, pace - (time.monotonic() - started)))
    except (OSError, smtplib.SMTPException) as exc:
        # The server went away: what was not sent waits for a later attempt.
        db.session.rollback()
        for row in rows:
            db.session.refresh(row)
            if row.state == OutboxState.SENDING:
                _finish(row.id, **_deferred_or_failed(row, f"{type(exc).__name__}: {exc}"))
                counts["deferred"] += 1
    finally:
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


def _smtp_refused(row: OutboxMessage, code: int, detail, counts: dict) -> None:
    error = f"{code} {detail.decode(errors='replace') if isinstance(detail, bytes) else detail}"
    if 400 <= code < 500:
        _finish(row.id, **_deferred_or_failed(row, error))
        counts["deferred"] += 1
        return
    # 5xx: the address does not work; never try it again for anyone's campaign.
    db.session.merge(SuppressedAddress(email_key=row.contact.email_key, reason="bounced",
                                       detail=error))  # fmt: skip
    _finish(row.id, state=OutboxState.FAILED, last_error=error)
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
