"""Sending the outbox: claim a batch, send over one connection, record each message at once.

A message moves queued → sending (claimed) → sent / deferred / failed /
suppressed; the claim and the statements of each move are models/email/claims.py.

Each message is committed as sent right after the server's 250. That commit
runs on the recorder's own connection while the next message's envelope and
data go out, but the next message's final "." waits for it: at any moment at
most one message is delivered and not yet on record. A crash there is the only
way to send one twice (the sweep puts the row back to queued and it goes
again) — at most one message per crash. The next message is rendered while
the server digests the current one.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from flask import current_app

from models import OutboxState, Settings, db
from models.email.claims import (
    MARK_SENT,
    bounce,
    claim,
    claimed_messages,
    deferred_or_failed,
    sent_params,
    set_state,
    suppressed_now,
)
from models.email.message import (
    AddressProblem,
    Draft,
    address,
    compiled,
    draft,
    variant_for,
    wire,
)
from models.email.outbox import Suppression, release_dead_claims, requeue_stuck
from models.email.render import CompiledTemplate, TemplateProblem

from ..liveness import RunLost, connection_error
from ..runs import JobContext, enqueue, job
from . import smtp
from .pool import send_in_parallel
from .ratelimit import LocalPace, RateLimit, rate_limit

log = logging.getLogger(__name__)
BATCH = 200
BATCH_PER_CONNECTION = 50


@dataclass
class Outgoing:
    """One claimed message and what recording its outcome needs (plain values: the session
    is closed while sending)."""

    id: int
    to: str
    email_key: str
    attempts: int
    draft: Draft
    template: CompiledTemplate
    # Filled by _build: the wire bytes, or why there are none.
    payload: bytes | None = None
    message_id: str | None = None
    problem: str | None = None


def _prepare(ids: list[int], record: Recorder, counts: dict) -> list[Outgoing]:
    """Load the batch, hold back what is suppressed now, and take from the ORM what each
    message needs (each template compiled once per batch)."""
    held_back = suppressed_now(ids, Settings.current().email_waiting_period_days)
    rows = claimed_messages(ids)
    # One compiled template per template and language variant.
    templates: dict[tuple[int, str | None], CompiledTemplate] = {}
    ready = []
    for row in rows:
        if row.id in held_back:
            record(row.id, state=OutboxState.SUPPRESSED, suppressed_reason=held_back[row.id])
            counts["suppressed"] += 1
            continue
        contact = row.contact
        try:
            # The SQL check is coarse; what the email package refuses is invalid too.
            to = address(contact.full_name, row.to_email or contact.email)
        except AddressProblem as exc:
            record(row.id, state=OutboxState.SUPPRESSED,
                   suppressed_reason=Suppression.INVALID_EMAIL, last_error=str(exc))
            counts["suppressed"] += 1
            continue
        try:
            variant = variant_for(row.template, contact.language)
            key = (row.template_id, variant.language if variant else None)
            if key not in templates:
                templates[key] = compiled(row.template, contact.language)
            message_draft = draft(row.template, contact, row.campaign, to=to,
                                  message_id=row.message_id, idstring=f"kohde.{row.id}",
                                  sender_mode=row.sender_mode, sender_user=row.sender_user)
        except (TemplateProblem, AddressProblem) as exc:  # a broken template or its From
            record(row.id, state=OutboxState.FAILED, last_error=str(exc))
            counts["failed"] += 1
            continue
        ready.append(Outgoing(row.id, to.addr_spec, contact.email_key, row.attempts,
                              message_draft, templates[key]))
    return ready


def _build(item: Outgoing) -> None:
    """Render and write one message (once)."""
    if item.payload is not None or item.problem is not None:
        return
    try:
        item.payload, item.message_id = wire(item.draft, item.template)
    except TemplateProblem as exc:
        item.problem = str(exc)


class Recorder:
    """Writes the batch's outcomes, in order, on one connection in a thread of its own,
    each statement committed on its own (autocommit: one round trip on PostgreSQL).

    ``sent`` returns before its commit is done, so the next message's envelope and data go
    to the SMTP server meanwhile; ``settled`` waits for that commit, and the sender calls
    it before the next message's final "." — so never more than one message is delivered
    but not yet on record (the documented window a crash can repeat).
    """

    def __init__(self):
        self.engine = db.engine  # the thread has no app context
        self.retry_seconds = current_app.config["KOHDE_DB_RETRY_SECONDS"]
        self.conn = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kohde-outbox")
        self.pending: Future | None = None

    def _execute(self, *statements) -> None:
        # A lost connection (database restart, pg_terminate_backend) is not a lost outcome:
        # reconnect and write it again, with backoff, for KOHDE_DB_RETRY_SECONDS. Each
        # statement sets a final state, so writing one twice changes nothing.
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.25
        while True:
            try:
                if self.conn is None:
                    self.conn = self.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT")
                for statement, params in statements:
                    self.conn.execute(statement, params)
                return
            except Exception as exc:
                if not connection_error(exc):
                    raise
                self._drop_connection()
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("recording a message failed (%s); retrying in %.1f s",
                            type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _drop_connection(self) -> None:
        if self.conn is not None:
            try:
                self.conn.invalidate()
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def __call__(self, row_id: int, **values) -> None:
        """Record an outcome and wait for it."""
        self.thread.submit(self._execute, (set_state(row_id, **values), None)).result()

    def sent(self, row_id: int, message_id: str | None, language: str | None = None) -> None:
        """The server said 250: commit that now (with the variant's language), without
        waiting for it here."""
        self.settled()
        params = sent_params(row_id, message_id, language)
        self.pending = self.thread.submit(self._execute, (MARK_SENT, params))

    def settled(self) -> None:
        """Wait until the last message sent is on record (raises if it could not be)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def bounced(self, row_id: int, email_key: str, error: str) -> None:
        """5xx: the address goes on the suppression list, then the row is marked failed."""
        suppress, failed = bounce(row_id, email_key, error)
        self.thread.submit(self._execute, (suppress, None), (failed, None)).result()

    def close(self) -> None:
        """Wait for the last commit, give the connection back, end the thread."""
        try:
            self.settled()
        finally:
            if self.conn is not None:
                self.thread.submit(self.conn.close).result()
            self.thread.shutdown()


def send_batch(ids: list[int], counts: dict, pace: float | RateLimit | LocalPace,
               lost: threading.Event | None = None, connections: int = 1) -> None:
    """Send claimed messages over one SMTP connection (or ``connections`` side by side),
    recording each outcome at once. ``pace``: the rate limit every message waits for (a
    number: seconds between messages of this process). ``lost``: set when the run was
    taken from this process; then no further message goes."""
    if not hasattr(pace, "take"):
        pace = LocalPace(1.0 / pace if pace else 0)
    record = Recorder()
    try:
        ready = _prepare(ids, record, counts)
        db.session.commit()  # end the read transaction: the writes use their own connection
        if connections > 1 and len(ready) > 1:
            send_in_parallel(_send, Recorder, ready, counts, connections, pace=pace,
                             lost=lost)
        else:
            _send(ready, record, counts, pace, lost)
    finally:
        record.close()


def _send(ready: list[Outgoing], record: Recorder, counts: dict, pace: RateLimit | LocalPace,
          lost: threading.Event | None = None) -> None:
    client = None
    pending = {item.id for item in ready}  # no outcome recorded yet
    try:
        for index, item in enumerate(ready):
            if lost is not None and lost.is_set():
                # The reaper gave this batch to another sender: sending on would send twice.
                raise RunLost("the sender's run was failed by the reaper; stopping")
            _build(item)  # usually done already, while the previous one was being digested
            following = ready[index + 1] if index + 1 < len(ready) else None
            if item.problem:
                record(item.id, state=OutboxState.FAILED, last_error=item.problem)
                counts["failed"] += 1
                pending.discard(item.id)
                continue
            if client is None:
                client = smtp.connect()
            build_next = partial(_build, following) if following else None
            pace.take(item.to)  # the installation's rate (and the recipient domain's)
            try:
                # The previous message's commit overlaps this one's envelope and data; its
                # final "." waits for that commit (record.settled).
                smtp.deliver(client, item.draft.sender.addr_spec, item.to, item.payload,
                             before_end=record.settled, meanwhile=build_next)
            except smtplib.SMTPRecipientsRefused as exc:
                code, detail = next(iter(exc.recipients.values()))
                _smtp_refused(item, code, detail, record, counts)
            except smtplib.SMTPResponseException as exc:
                _smtp_refused(item, exc.smtp_code, exc.smtp_error, record, counts)
            else:
                record.sent(item.id, item.message_id, item.template.language)
                counts["sent"] += 1
            pending.discard(item.id)
    except (OSError, smtplib.SMTPException) as exc:
        # The server went away: what was not sent waits for a later attempt.
        error = f"{type(exc).__name__}: {exc}"
        for item in ready:
            if item.id in pending:
                record(item.id, **deferred_or_failed(item.attempts, error))
                counts["deferred"] += 1
    finally:
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


def _smtp_refused(item: Outgoing, code: int, detail, record: Recorder, counts: dict) -> None:
    error = f"{code} {detail.decode(errors='replace') if isinstance(detail, bytes) else detail}"
    if 400 <= code < 500:
        record(item.id, **deferred_or_failed(item.attempts, error))
        counts["deferred"] += 1
        return
    # 5xx: the address does not work; never try it again for anyone's campaign.
    record.bounced(item.id, item.email_key, error)
    counts["failed"] += 1


def send_outbox(limit: int | None = None, ctx: JobContext | None = None) -> dict:
    """Send due messages batch by batch until none are due (or ``limit`` were handled)."""
    requeue_stuck()
    release_dead_claims()  # a dead sender's batch (this run may be its retry) goes first
    pace = rate_limit(Settings.current().email_messages_per_second)
    connections = current_app.config["KOHDE_SMTP_CONNECTIONS"]
    # Claims in proportion to the connections: with 200 a claim, the last sender to claim
    # kept the others idle at the end (two workers sent 1.5× one, issue 17).
    batch = min(BATCH, BATCH_PER_CONNECTION * connections)
    counts = {"sent": 0, "deferred": 0, "failed": 0, "suppressed": 0}
    handled = 0
    lost = ctx.heartbeat.lost if ctx and ctx.heartbeat else None
    while limit is None or handled < limit:
        ids = claim(min(batch, limit - handled) if limit else batch, ctx.run_id if ctx else None)
        if not ids:
            break
        send_batch(ids, counts, pace=pace, lost=lost, connections=connections)
        handled += len(ids)
        if ctx:
            ctx.progress(handled, alone=True)  # nothing else pending: safe to repeat
    return counts


@job("send_outbox")
def send_outbox_job(ctx: JobContext, slot: int = 0) -> dict:
    """The sender job; ``slot`` lets several senders run side by side."""
    return send_outbox(ctx=ctx)


def start_senders(count: int = 1) -> None:
    """Make sure sender jobs are on their way (a running one is not started twice)."""
    for slot in range(count):
        enqueue("send_outbox", {"slot": slot})
