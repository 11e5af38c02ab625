"""Sending the outbox: claim a batch, check it again and load it, send it over the
sender's SMTP connections, record each outcome as the server answers.

A message moves queued → sending (claimed) → sent / deferred / failed / suppressed; the
claim and the statements of each move are models/email/claims.py. The main thread claims
and loads (a few statements per batch: the claim, the send-time suppression check, the
rows with what composing them reads, the held-back outcomes in one commit) while the
connections (pool.py) send the batch before; the recorder (recorder.py) writes the
connections' outcomes in groups, one UPDATE for every "sent" waiting.

Each message is recorded as sent right after the server's 250; the same connection's
next message's final "." waits for that commit, so a crash leaves at most one delivered
message per connection not yet on record (the sweep puts its row back to queued and it
goes again; with the default one connection, at most one message per crash).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app

from models import OutboxState, Settings, db
from models.email.claims import claim, claimed_messages, set_state, suppressed_now
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

from ..runs import JobContext, enqueue, job
from .pool import Pool
from .ratelimit import rate_limit
from .recorder import Recorder

log = logging.getLogger(__name__)
# Messages claimed at a time per connection, and how few may wait in the queue before the
# next claim: the next batch is loaded while the last ones go, and when the outbox runs
# dry no sender holds more than a batch the others could have sent.
BATCH_PER_CONNECTION = 25
LOW_PER_CONNECTION = 10


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


def _prepare(ids: list[int], counts: dict) -> list[Outgoing]:
    """Load the batch, hold back what is suppressed now (recorded and committed here), and
    take from the ORM what each message needs (each template compiled once per batch)."""

    def record(row_id: int, **values) -> None:
        db.session.execute(set_state(row_id, **values))

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
    db.session.commit()  # the held-back outcomes; and the connections use no session
    return ready


def _build(item: Outgoing) -> None:
    """Render and write one message (once)."""
    if item.payload is not None or item.problem is not None:
        return
    try:
        item.payload, item.message_id = wire(item.draft, item.template)
    except TemplateProblem as exc:
        item.problem = str(exc)


def send_outbox(limit: int | None = None, ctx: JobContext | None = None) -> dict:
    """Send due messages until none are due (or ``limit`` were handled): claim a batch,
    check and load it, and queue it for the connections (jobs/email/pool.py) while they
    send the one before."""
    requeue_stuck()
    release_dead_claims()  # a dead sender's batch (this run may be its retry) goes first
    pace = rate_limit(Settings.current().email_messages_per_second)
    connections = current_app.config["KOHDE_SMTP_CONNECTIONS"]
    # Claims in proportion to the connections, and the next one only when the queue runs
    # low: what one sender holds claimed stays small, so when the outbox runs dry the
    # senders finish together (with 200 a claim, the last one kept the others idle).
    batch = BATCH_PER_CONNECTION * connections
    counts = {"suppressed": 0, "failed": 0}  # decided while loading
    claimed = 0
    lost = ctx.heartbeat.lost if ctx and ctx.heartbeat else None
    recorder = Recorder()
    pool = Pool(connections, recorder, pace, _build, lost, low=LOW_PER_CONNECTION * connections)
    try:
        while limit is None or claimed < limit:
            pool.wait_for_room()
            if pool.stopped:
                break
            ids = claim(min(batch, limit - claimed) if limit else batch,
                        ctx.run_id if ctx else None)
            if not ids:
                break
            pool.put(_prepare(ids, counts))
            claimed += len(ids)
            if ctx:
                done = sum(counts.values()) + sum(pool.counts().values())
                ctx.progress(done, alone=True)  # nothing else pending: safe to repeat
    finally:
        try:
            pool.finish()
        finally:
            recorder.close()
    sent = pool.counts()
    return {"sent": sent["sent"], "deferred": sent["deferred"],
            "failed": sent["failed"] + counts["failed"], "suppressed": counts["suppressed"]}


@job("send_outbox")
def send_outbox_job(ctx: JobContext, slot: int = 0) -> dict:
    """The sender job; ``slot`` lets several senders run side by side."""
    return send_outbox(ctx=ctx)


def start_senders(count: int = 1) -> None:
    """Make sure sender jobs are on their way (a running one is not started twice)."""
    for slot in range(count):
        enqueue("send_outbox", {"slot": slot})
