"""The run ledger of scheduled actions: claiming due runs, their rows, outcomes and pauses.

How a due time becomes exactly one run (docs/architecture.md, rules 8–10):

1. The tick reads only actions that are due (``active AND next_run_at <= now``, indexed).
2. For each, one transaction moves ``next_run_at`` on — only if it still holds the value
   read (a second scheduler finds it moved and does nothing) — and inserts the ledger
   row (action, due time), ``ON CONFLICT DO NOTHING``: "Run now" for the same minute, or
   anyone else, cannot make a second one.
3. Only then is the job enqueued (jobs/schedules.py), and the ledger row points at its job
   run. A crash in between leaves a ledger row without a job: ``settle`` hands it back.

Nothing here enqueues: the functions that need a job started take a ``start`` callback or
return the run to start, so models/ never imports jobs/.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update

from ..base import db, utcnow
from ..clock import now as clock_now
from ..dialect import insert
from ..jobs import JobRun, JobStatus
from ..settings import Settings
from . import (
    UNSETTLED,
    CatchUp,
    Origin,
    Overlap,
    RunStatus,
    ScheduledAction,
    ScheduledActionRun,
    SchedulerTick,
)

ledger = ScheduledActionRun.__table__
actions = ScheduledAction.__table__
# A due time more than this late counts as missed (the scheduler was down), not just late.
MISSED_AFTER = timedelta(minutes=10)
# A ledger row this old without a job (a crash between insert and enqueue) is enqueued again.
ORPHAN_AFTER = timedelta(seconds=60)
DUE_BATCH = 500  # actions started per tick at most; the rest wait for the next tick
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


class ScheduleError(ValueError):
    """A scheduled action that cannot run, or a request about one that cannot be done."""


def busy(action_id: int) -> bool:
    """Whether one of the action's runs is still waiting, queued or running."""
    return bool(db.session.scalar(select(exists().where(
        ledger.c.action_id == action_id, ledger.c.status.in_(UNSETTLED)))))


def insert_run(action: ScheduledAction, due_at: datetime, trigger: str, status: str,
               summary: str = "", user_id: int | None = None) -> int | None:
    """The ledger row for (action, due time); None when it is there already (not
    committed)."""
    now = utcnow()
    values = {"action_id": action.id, "due_at": due_at, "trigger": trigger, "status": status,
              "summary": summary, "result": {}, "user_id": user_id, "created_at": now}
    if status == RunStatus.SKIPPED:
        values["finished_at"] = now
    return db.session.execute(
        insert(ledger).values(**values).on_conflict_do_nothing().returning(ledger.c.id)
    ).scalar()


def link_job(run_id: int, job_run_id: str) -> None:
    """Point a ledger row at the job run that does it (commits)."""
    db.session.execute(update(ledger).where(ledger.c.id == run_id)
                       .values(job_run_id=job_run_id))
    db.session.commit()


def _skip_reason(action: ScheduledAction) -> str | None:
    """Why a due action must not run now although it is due (None: it may run)."""
    if action.origin != Origin.MANUAL and not Settings.get().automatic_email_campaigns:
        return "skipped: automatic email campaigns are switched off (Admin → Settings)"
    return None


def claim_due(action_id: int, now: datetime) -> tuple[str, int | None]:
    """Take one due action: move its next run on and write the ledger row (commits).

    Returns what happened and, when it is "started", the ledger row whose job the caller
    enqueues: "started", "waiting", "skipped", "taken" (another scheduler or a Run now had
    it), "paused" (its schedule cannot be computed) or "not due".
    """
    action = db.session.get(ScheduledAction, action_id, populate_existing=True)
    if action is None or not action.active or action.next_run_at is None \
            or action.next_run_at > now:
        db.session.rollback()
        return "not due", None
    first_due = action.next_run_at
    rec = action.recurrence
    problems = rec.problems()
    if problems:  # e.g. a time zone this machine no longer knows: say so, do not spin
        action.active, action.next_run_at = False, None
        action.paused_reason = "paused: its schedule is incomplete: " + "; ".join(
            f"{k}: {v}" for k, v in problems.items())
        db.session.commit()
        return "paused", None
    latest, count = rec.latest_due(first_due, now)
    late = now - latest > MISSED_AFTER
    trigger = "catch_up" if (count > 1 or late) else "schedule"
    skip = None
    if (count > 1 or late) and action.catch_up == CatchUp.SKIP:
        skip = (f"skipped: {count} due time{'s' if count > 1 else ''} missed while no "
                "scheduler ran (catch-up: skip)")
    skip = skip or _skip_reason(action)
    status = RunStatus.SKIPPED if skip else RunStatus.QUEUED
    if not skip and busy(action.id):
        if action.overlap == Overlap.SKIP:
            status, skip = RunStatus.SKIPPED, "skipped: the previous run was still running"
        else:
            status = RunStatus.WAITING
    # Move next_run_at on only if it still holds what was read: a second scheduler that
    # read the same value changes nothing (and inserts nothing).
    moved = db.session.execute(
        update(actions)
        .where(actions.c.id == action.id, actions.c.next_run_at == first_due)
        .values(next_run_at=rec.next_after(now))
    ).rowcount
    if not moved:
        db.session.rollback()
        return "taken", None
    run_id = insert_run(action, latest, trigger, status, skip or "")
    db.session.commit()
    if run_id is None:
        return "taken", None
    if status == RunStatus.QUEUED:
        return "started", run_id
    return ("waiting" if status == RunStatus.WAITING else "skipped"), None


def claim_now(action: ScheduledAction, user_id: int | None = None) -> ScheduledActionRun:
    """The ledger row of a Run now, for the click's minute as its due time (so a scheduler
    tick for that same minute cannot run it a second time); commits. Its status says
    whether to enqueue it now (queued) or after the previous run (waiting). Raises
    ScheduleError."""
    due_at = clock_now().replace(second=0, microsecond=0)
    status = RunStatus.QUEUED
    if busy(action.id):
        if action.overlap == Overlap.SKIP:
            raise ScheduleError(f"'{action.name}' is still running (its previous run has not "
                                "finished); try again when it has")
        status = RunStatus.WAITING
    run_id = insert_run(action, due_at, "run_now", status, user_id=user_id)
    db.session.commit()
    if run_id is None:
        raise ScheduleError(f"'{action.name}' already has a run for {due_at:%Y-%m-%d %H:%M} UTC")
    return db.session.get(ScheduledActionRun, run_id)


def pause(action: ScheduledAction, reason: str = "paused by hand") -> None:
    """Stop an action from running until it is resumed (commits)."""
    action.active = False
    action.paused_reason = reason
    db.session.commit()


def resume(action: ScheduledAction) -> None:
    """Run an action again from its next due time after now (missed ones are not made up;
    the failure count starts again). Raises ScheduleError when its schedule is incomplete."""
    problems = action.recurrence.problems()
    if problems:
        raise ScheduleError("; ".join(f"{k}: {v}" for k, v in problems.items()))
    action.active = True
    action.paused_reason = None
    action.failure_streak = 0
    action.compute_next_run(clock_now())
    db.session.commit()


def mark_running(run: ScheduledActionRun, job_run_id: str) -> bool:
    """Mark a queued run running under its job (commits). False when it is settled already
    (a repeat of a job that ran once)."""
    if run.status not in ACTIVE:
        return False
    run.status, run.started_at = RunStatus.RUNNING, utcnow()
    run.job_run_id = run.job_run_id or job_run_id
    db.session.commit()
    return True


def set_campaign(run_id: int, campaign_id: int) -> None:
    """Note on the ledger row the campaign its run created (not committed)."""
    db.session.execute(update(ledger).where(ledger.c.id == run_id)
                       .values(campaign_id=campaign_id))


def record_outcome(run_id: int, ok: bool, *, result: dict | None = None, summary: str = "",
                   error: str | None = None, campaign_id: int | None = None) -> bool:
    """Write a run's outcome and the action's last run / failure streak, pausing the action
    after its N-th failure in a row. Once per run (a second call changes nothing). Not
    committed."""
    values = {"status": RunStatus.DONE if ok else RunStatus.FAILED, "finished_at": utcnow(),
              "error": error}
    if result is not None:
        values["result"] = result
    if summary:
        values["summary"] = summary
    if campaign_id is not None:
        values["campaign_id"] = campaign_id
    settled = db.session.execute(
        update(ledger).where(ledger.c.id == run_id, ledger.c.status.in_(ACTIVE))
        .values(**values)
    ).rowcount
    if not settled:
        return False
    run = db.session.get(ScheduledActionRun, run_id, populate_existing=True)
    action = db.session.get(ScheduledAction, run.action_id, populate_existing=True)
    action.last_run_at = run.started_at or run.finished_at
    action.last_status = values["status"]
    if ok:
        action.failure_streak = 0
    else:
        action.failure_streak += 1
        if action.active and action.failure_streak >= action.max_failures:
            first_line = (error or "failed").split("\n", 1)[0][:300]
            action.active = False
            action.paused_reason = (f"paused after {action.failure_streak} failed runs in a row; "
                                    f"last error: {first_line}")
    return True


def settle(start: Callable[[ScheduledActionRun], object]) -> dict[str, int]:
    """Bring the ledger up to date (cheap: only unsettled rows are read, by index).

    - a run whose job ended without telling the ledger (a worker that died, the reaper
      failing its job run) takes its job's outcome;
    - a row without a job (a crash between insert and enqueue) is handed to ``start``;
    - a waiting run is handed to ``start`` once its action has nothing else queued or
      running.
    """
    counts = {"settled": 0, "orphans": 0, "released": 0}
    job_runs = JobRun.__table__
    ended = db.session.execute(
        select(ledger.c.id, job_runs.c.status, job_runs.c.error)
        .join(job_runs, job_runs.c.id == ledger.c.job_run_id)
        .where(ledger.c.status.in_(ACTIVE),
               job_runs.c.status.in_((JobStatus.DONE, JobStatus.FAILED)))
    ).all()
    for run_id, status, error in ended:
        counts["settled"] += record_outcome(run_id, status == JobStatus.DONE,
                                            error=error or None)
    db.session.commit()
    orphans = db.session.scalars(
        select(ScheduledActionRun).where(ScheduledActionRun.status == RunStatus.QUEUED,
                                         ScheduledActionRun.job_run_id.is_(None),
                                         ScheduledActionRun.created_at < utcnow() - ORPHAN_AFTER)
    ).all()
    for run in orphans:
        start(run)
        counts["orphans"] += 1
    waiting = db.session.scalars(
        select(ScheduledActionRun).where(ScheduledActionRun.status == RunStatus.WAITING)
        .order_by(ScheduledActionRun.due_at)
    ).all()
    seen: set[int] = set()
    for run in waiting:  # per action, the earliest waiting run, once nothing else is on
        if run.action_id in seen:
            continue
        seen.add(run.action_id)
        if db.session.scalar(select(exists().where(
                ledger.c.action_id == run.action_id, ledger.c.status.in_(ACTIVE)))):
            continue
        released = db.session.execute(
            update(ledger).where(ledger.c.id == run.id, ledger.c.status == RunStatus.WAITING)
            .values(status=RunStatus.QUEUED)
        ).rowcount
        db.session.commit()
        if released:
            start(run)
            counts["released"] += 1
    return counts


def record_tick(queue: str, now: datetime, due: int, started: int) -> None:
    """Note the scheduler's tick on ``queue`` (one row per queue; commits)."""
    values = {"ticked_at": utcnow(), "ticked_as": now, "due": due, "started": started}
    statement = insert(SchedulerTick.__table__).values(queue=queue, **values)
    db.session.execute(statement.on_conflict_do_update(index_elements=["queue"], set_=values))
    db.session.commit()


def due_action_ids(now: datetime, limit: int = DUE_BATCH) -> list[int]:
    """Ids of the active actions due at ``now``, the most overdue first (index scan)."""
    return list(db.session.scalars(
        select(actions.c.id)
        .where(actions.c.active.is_(True), actions.c.next_run_at <= now)
        .order_by(actions.c.next_run_at).limit(limit)
    ))


def overdue_actions(now: datetime | None = None) -> list[ScheduledAction]:
    """Active actions whose due time passed more than a few minutes ago (the dashboard)."""
    now = now or clock_now()
    return list(db.session.scalars(
        select(ScheduledAction)
        .where(ScheduledAction.active.is_(True), ScheduledAction.next_run_at < now - MISSED_AFTER)
        .order_by(ScheduledAction.next_run_at).limit(20)
    ))


def last_tick(queue: str) -> SchedulerTick | None:
    """The scheduler's last tick on ``queue``."""
    return db.session.get(SchedulerTick, queue)
