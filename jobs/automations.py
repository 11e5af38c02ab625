"""Automations on the scheduler tick (SPEC §6): contacts enter and leave, steps come due.

Each tick, per active automation: leave (one UPDATE), cancel the leavers' pending steps,
enter (one INSERT … SELECT), give the newcomers their step traces (one INSERT … SELECT
per step), then claim due traces per step in batches and do them set-based (outbox
rows, tasks), committing per batch. Every write is keyed (unique enrolment per attempt,
one open enrolment, unique trace per enrolment and step, unique outbox send key), so two
schedulers ticking at once do nothing twice (ENGINEERING.md rule 10).
"""

from __future__ import annotations

import logging
from datetime import datetime

from models import Automation, clock, db
from models.automations import (
    Mode,
    active_ids,
    cancel_pending,
    enter,
    leave,
    run_due,
    schedule,
)
from models.settings import installation_tz

from .email.sender import start_senders
from .scheduler import periodic

log = logging.getLogger(__name__)

STEP_BATCH = 2000


def run_steps(automation: Automation, now: datetime, batch: int = STEP_BATCH) -> dict[str, int]:
    """The automation's due steps, step by step in batches of ``batch`` traces, each batch
    its own transaction (committed here): a crash loses at most the batch at hand, and a
    second scheduler takes other batches meanwhile. Answers the counts by outcome."""
    counts: dict[str, int] = {}
    for step in list(automation.steps):
        if step.problems():
            continue  # a step that cannot run waits (the builder says why)
        while True:
            claimed, done = run_due(step, now, batch)
            db.session.commit()
            for key, n in done.items():
                counts[key] = counts.get(key, 0) + n
            if claimed < batch:
                break
    return counts


def evaluate(automation_id: int, now: datetime, batch: int = STEP_BATCH) -> dict[str, int]:
    """One automation's share of the tick (commits as it goes)."""
    automation = db.session.get(Automation, automation_id)
    counts: dict[str, int] = {}
    if automation is None or not automation.active or automation.started_at is None:
        return counts
    tz = installation_tz()
    if automation.mode == Mode.CONTINUOUS:
        counts["left"] = leave(automation, now)
        counts["cancelled"] = cancel_pending(automation, now)
        counts["entered"] = enter(automation, now)
        counts["scheduled"] = schedule(automation, now, tz)
        db.session.commit()
    for key, n in run_steps(automation, now, batch).items():
        counts[key] = counts.get(key, 0) + n
    return {k: v for k, v in counts.items() if v}


@periodic("automations")
def run_automations(now: datetime | None = None) -> dict[str, int]:
    """The tick's check: every active automation, then a sender when emails were queued."""
    now = now if now is not None else clock.now()
    ids = active_ids()
    db.session.rollback()
    total: dict[str, int] = {}
    for automation_id in ids:
        try:
            done = evaluate(automation_id, now)
        except Exception:
            db.session.rollback()
            log.exception("automation %s failed on this tick", automation_id)
            total["failed_automations"] = total.get("failed_automations", 0) + 1
            continue
        for key, n in done.items():
            total[key] = total.get(key, 0) + n
    if total.get("queued"):
        start_senders()
    return total

