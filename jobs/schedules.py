"""Scheduled actions that run: the due check on every scheduler tick, Run now, pause and
resume, the job that does each action type, and undo of a run.

How a due time becomes exactly one run (docs/architecture.md, rules 8–10):

1. The tick reads only actions that are due (``active AND next_run_at <= now``, indexed).
2. For each, one transaction moves ``next_run_at`` on — only if it still holds the value
   read (a second scheduler finds it moved and does nothing) — and inserts the ledger
   row (action, due time), ``ON CONFLICT DO NOTHING``: "Run now" for the same minute, or
   anyone else, cannot make a second one.
3. Only then is the job enqueued, and the ledger row points at its job run. A crash in
   between leaves a ledger row without a job: the next tick enqueues it.

The job (``scheduled_action``) reuses the other areas' work in-process: the group refresh
(models/groups/refresh.py), the audience copy and its campaign-join email
(jobs/campaigns.py, models/campaigns/membership.py) and the activity planner
(models/activities/slots.py), each in one transaction with the ledger row's outcome.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models import (
    CAMPAIGN_FOLDER,
    ActionKind,
    ActivityAssignee,
    ActivityDay,
    Campaign,
    CampaignMember,
    CatchUp,
    JobRun,
    JobStatus,
    Origin,
    OutboxMessage,
    OutboxState,
    Overlap,
    RunStatus,
    ScheduledAction,
    ScheduledActionRun,
    SchedulerTick,
    Settings,
    TargetGroup,
    clock,
    db,
    utcnow,
)
from models.activities.slots import create_from_plan, plan, working_days
from models.campaigns.membership import revert
from models.email.outbox import campaign_email_counts
from models.groups.refresh import refresh
from models.labels import label
from models.schedules import UNSETTLED

from .campaigns import change_audience
from .runs import JobContext, enqueue, job
from .scheduler import periodic

log = logging.getLogger(__name__)

ledger = ScheduledActionRun.__table__
actions = ScheduledAction.__table__
# A due time more than this late counts as missed (the scheduler was down), not just late.
MISSED_AFTER = timedelta(minutes=10)
# A ledger row this old without a job (a crash between insert and enqueue) is enqueued again.
ORPHAN_AFTER = timedelta(seconds=60)
DUE_BATCH = 500  # actions started per tick at most; the rest wait for the next tick


class ScheduleError(ValueError):
    """A scheduled action that cannot run, or a request about one that cannot be done."""


# --- starting runs --------------------------------------------------------------------------


def start_schedule_run(run: ScheduledActionRun) -> JobRun:
    """Enqueue the job for one ledger row and link them (commits)."""
    action = run.action
    job_run = enqueue("scheduled_action", {"run_id": run.id},
                      user_id=run.user_id or action.owner_id,
                      scheduled_action_id=action.id)
    db.session.execute(update(ledger).where(ledger.c.id == run.id)
                       .values(job_run_id=job_run.id))
    db.session.commit()
    return job_run


def _busy(action_id: int) -> bool:
    """Whether one of the action's runs is still waiting, queued or running."""
    return bool(db.session.scalar(select(exists().where(
        ledger.c.action_id == action_id, ledger.c.status.in_(UNSETTLED)))))


def _insert_run(action: ScheduledAction, due_at: datetime, trigger: str, status: str,
                summary: str = "", user_id: int | None = None) -> int | None:
    """The ledger row for (action, due time); None when it is there already."""
    now = utcnow()
    values = {"action_id": action.id, "due_at": due_at, "trigger": trigger, "status": status,
              "summary": summary, "result": {}, "user_id": user_id, "created_at": now}
    if status == RunStatus.SKIPPED:
        values["finished_at"] = now
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    inserted = db.session.execute(
        dialect.insert(ledger).values(**values).on_conflict_do_nothing()
        .returning(ledger.c.id)
    ).scalar()
    return inserted


def _skip_reason(action: ScheduledAction) -> str | None:
    """Why a due action must not run now although it is due (None: it may run)."""
    if action.origin != Origin.MANUAL and not Settings.get().automatic_email_campaigns:
        return "skipped: automatic email campaigns are switched off (Admin → Settings)"
    return None


def start_due(action_id: int, now: datetime) -> str:
    """Take one due action: move its next run on, write the ledger row, enqueue its job.

    Returns what happened: "started", "waiting", "skipped", "taken" (another scheduler or a
    Run now had it), "paused" (its schedule cannot be computed) or "not due".
    """
    action = db.session.get(ScheduledAction, action_id, populate_existing=True)
    if action is None or not action.active or action.next_run_at is None \
            or action.next_run_at > now:
        db.session.rollback()
        return "not due"
    first_due = action.next_run_at
    rec = action.recurrence
    problems = rec.problems()
    if problems:  # e.g. a time zone this machine no longer knows: say so, do not spin
        action.active, action.next_run_at = False, None
        action.paused_reason = "paused: its schedule is incomplete: " + "; ".join(
            f"{k}: {v}" for k, v in problems.items())
        db.session.commit()
        return "paused"
    latest, count = rec.latest_due(first_due, now)
    late = now - latest > MISSED_AFTER
    trigger = "catch_up" if (count > 1 or late) else "schedule"
    skip = None
    if (count > 1 or late) and action.catch_up == CatchUp.SKIP:
        skip = (f"skipped: {count} due time{'s' if count > 1 else ''} missed while no "
                "scheduler ran (catch-up: skip)")
    skip = skip or _skip_reason(action)
    status = RunStatus.SKIPPED if skip else RunStatus.QUEUED
    if not skip and _busy(action.id):
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
        return "taken"
    run_id = _insert_run(action, latest, trigger, status, skip or "")
    db.session.commit()
    if run_id is None:
        return "taken"
    if status == RunStatus.QUEUED:
        start_schedule_run(db.session.get(ScheduledActionRun, run_id))
        return "started"
    return "waiting" if status == RunStatus.WAITING else "skipped"


def run_now(action: ScheduledAction, user_id: int | None = None) -> ScheduledActionRun:
    """Run an action at once, for the click's minute as its due time (so a scheduler tick
    for that same minute cannot run it a second time). Raises ScheduleError."""
    due_at = clock.now().replace(second=0, microsecond=0)
    status = RunStatus.QUEUED
    if _busy(action.id):
        if action.overlap == Overlap.SKIP:
            raise ScheduleError(f"'{action.name}' is still running (its previous run has not "
                                "finished); try again when it has")
        status = RunStatus.WAITING
    run_id = _insert_run(action, due_at, "run_now", status, user_id=user_id)
    db.session.commit()
    if run_id is None:
        raise ScheduleError(f"'{action.name}' already has a run for {due_at:%Y-%m-%d %H:%M} UTC")
    run = db.session.get(ScheduledActionRun, run_id)
    if status == RunStatus.QUEUED:
        start_schedule_run(run)
    return run


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
    action.compute_next_run(clock.now())
    db.session.commit()


# --- settling: outcomes, lost jobs, waiting runs ------------------------------------------------


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
        update(ledger).where(ledger.c.id == run_id,
                             ledger.c.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
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


def settle() -> dict[str, int]:
    """Bring the ledger up to date (cheap: only unsettled rows are read, by index).

    - a run whose job ended without telling the ledger (a worker that died, the reaper
      failing its job run) takes its job's outcome;
    - a row without a job (a crash between insert and enqueue) gets one;
    - a waiting run starts once its action has nothing else queued or running.
    """
    counts = {"settled": 0, "orphans": 0, "released": 0}
    job_runs = JobRun.__table__
    ended = db.session.execute(
        select(ledger.c.id, job_runs.c.status, job_runs.c.error)
        .join(job_runs, job_runs.c.id == ledger.c.job_run_id)
        .where(ledger.c.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)),
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
        start_schedule_run(run)
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
                ledger.c.action_id == run.action_id,
                ledger.c.status.in_((RunStatus.QUEUED, RunStatus.RUNNING))))):
            continue
        released = db.session.execute(
            update(ledger).where(ledger.c.id == run.id, ledger.c.status == RunStatus.WAITING)
            .values(status=RunStatus.QUEUED)
        ).rowcount
        db.session.commit()
        if released:
            start_schedule_run(run)
            counts["released"] += 1
    return counts


def _record_tick(now: datetime, due: int, started: int) -> None:
    queue = current_app.config["KOHDE_QUEUE"]
    values = {"ticked_at": utcnow(), "ticked_as": now, "due": due, "started": started}
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(SchedulerTick.__table__).values(queue=queue, **values)
    db.session.execute(statement.on_conflict_do_update(index_elements=["queue"], set_=values))
    db.session.commit()


def due_action_ids(now: datetime, limit: int = DUE_BATCH) -> list[int]:
    """Ids of the active actions due at ``now``, the most overdue first (index scan)."""
    return list(db.session.scalars(
        select(actions.c.id)
        .where(actions.c.active.is_(True), actions.c.next_run_at <= now)
        .order_by(actions.c.next_run_at).limit(limit)
    ))


@periodic("schedules")
def run_due_actions(now: datetime) -> dict[str, int]:
    """The tick's check: settle the ledger, then start every action that is due."""
    now = now if now is not None else clock.now()
    done = settle()
    due = due_action_ids(now)
    db.session.rollback()
    outcomes: dict[str, int] = {}
    for action_id in due:
        outcome = start_due(action_id, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    _record_tick(now, len(due), outcomes.get("started", 0))
    return {"due": len(due), **outcomes, **{k: v for k, v in done.items() if v}}


# --- the job ------------------------------------------------------------------------------------


def _group(action: ScheduledAction) -> TargetGroup:
    group = action.target_group
    if group is None:
        raise ScheduleError(f"'{action.name}' has no target group")
    return group


def _n(value: int) -> str:
    return f"{value:,}"


def _refresh_words(result: dict) -> str:
    return _("group refreshed: %(members)s members (+%(added)s, −%(removed)s)",
             members=_n(result["members"]), added=_n(result["added"]),
             removed=_n(result["removed"]))


def do_refresh_group(ctx: JobContext, action: ScheduledAction, run: ScheduledActionRun):
    """Refresh a target group."""
    group = _group(action)
    result = refresh(group, ctx.progress)
    return {"group": group.name, **result}, f"'{group.name}' {_refresh_words(result)}", None


def _email_words(counts: dict, queued: int, suppressed: int) -> str:
    reasons = sorted(((k.removeprefix("suppressed_"), v) for k, v in counts.items()
                      if k.startswith("suppressed_") and v), key=lambda kv: -kv[1])
    words = _("%(queued)s messages queued, %(suppressed)s suppressed", queued=_n(queued),
              suppressed=_n(suppressed))
    if reasons:
        words += " (" + ", ".join(f"{label(k, 'suppression')} {_n(v)}" for k, v in reasons) + ")"
    return words


def do_copy_group(ctx: JobContext, action: ScheduledAction, run: ScheduledActionRun):
    """Copy a target group's members into an existing campaign (its email goes to them)."""
    group = _group(action)
    if action.campaign_id is None:
        raise ScheduleError(f"'{action.name}' has no campaign to copy into")
    campaign_name = action.campaign.name
    result = change_audience(ctx, action.campaign_id, "copy_group", group.id,
                             refresh_group=action.refresh_first)
    words = _("%(added)s members of '%(group)s' added to '%(campaign)s'",
              added=_n(result.get("added", 0)), group=group.name, campaign=campaign_name)
    email = result.get("email") or {}
    if email.get("queued") or email.get("suppressed"):
        words += ", " + _email_words({}, email["queued"], email["suppressed"])
    return result, words, action.campaign_id


def _campaign_name(group: TargetGroup, day: date) -> str:
    """"<group> <local date>", and " (2)", " (3)" … when that name is taken already."""
    base = f"{group.name} {day.isoformat()}"[:200]
    taken = set(db.session.scalars(select(Campaign.name).where(
        or_(Campaign.name == base, Campaign.name.like(base + " (%)")))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name


def do_group_email(ctx: JobContext, action: ScheduledAction, run: ScheduledActionRun):
    """Seed 004, option 1: (refresh,) create a campaign "<group> <date>", link the members,
    send the group's template to them (opt-out, bounces, invalid addresses and the waiting
    period applied and counted). One transaction: all of it or nothing."""
    group = _group(action)
    template = action.template or group.email_template
    if template is None:
        raise ScheduleError(f"target group '{group.name}' has no email template")
    if template.folder != CAMPAIGN_FOLDER:
        raise ScheduleError(f"template '{template.name}' is not in the {CAMPAIGN_FOLDER!r} folder")
    refreshed = None
    if action.refresh_first:
        refreshed = refresh(group)  # commits: the campaign below sees the new members
    day = run.due_at.astimezone(ZoneInfo(action.timezone)).date()
    campaign = Campaign(name=_campaign_name(group, day), owner_id=action.owner_id,
                        email_template_id=template.id, start_date=day, active=True,
                        description=f"Created by the scheduled action '{action.name}' "
                                    f"for target group '{group.name}'.")
    db.session.add(campaign)
    db.session.flush()  # its id and number; committed with the members and messages
    db.session.execute(update(ledger).where(ledger.c.id == run.id)
                       .values(campaign_id=campaign.id))
    result = change_audience(ctx, campaign.id, "copy_group", group.id)  # commits all of it
    counts = campaign_email_counts(campaign.id)
    email = result.get("email") or {"queued": 0, "suppressed": 0}
    result.update(campaign=campaign.name, campaign_number=campaign.number, template=template.name,
                  by_reason={k: v for k, v in counts.items() if k.startswith("suppressed_")})
    if refreshed:
        result["group_refresh"] = refreshed
    words = (_("campaign '%(name)s' created, %(added)s members linked, ", name=campaign.name,
               added=_n(result.get("added", 0)))
             + _email_words(counts, email["queued"], email["suppressed"]))
    if refreshed:
        words = f"{_refresh_words(refreshed)}; {words}"
    return result, words, campaign.id


def activity_day(action: ScheduledAction, due_at: datetime) -> date:
    """The day a group-activities run plans from, in the action's zone."""
    today = due_at.astimezone(ZoneInfo(action.timezone)).date()
    if action.activity_day == ActivityDay.NEXT_WORKING_DAY:
        weekdays = {int(d) for d in Settings.get().working_days.split(",") if d.strip()}
        return working_days(today + timedelta(days=1), 1, weekdays)[0]
    if action.activity_day == ActivityDay.PLUS_DAYS:
        return today + timedelta(days=action.activity_day_offset or 0)
    return today


def do_group_activities(ctx: JobContext, action: ScheduledAction, run: ScheduledActionRun):
    """Create one activity per group member with the group page's planner (slot settings,
    taken slots skipped), for the owner, a chosen user, or the owner with a fallback."""
    group = _group(action)
    if action.refresh_first:
        refresh(group)
    user_id = action.user_id if action.activity_assignee == ActivityAssignee.USER else None
    fallback = action.user_id if action.activity_assignee == ActivityAssignee.OWNER_OR_USER \
        else None
    day = activity_day(action, run.due_at)
    result = plan(ctx.run_id, group.id, day, user_id, fallback, now=clock.now())
    result["created"] = create_from_plan(ctx.run_id, action.activity_subject,
                                         action.activity_type, action.campaign_id)
    ctx.progress(result["created"], result["created"])  # commits
    result.update(group=group.name, day=day.isoformat())
    words = _("%(created)s activities '%(subject)s' created for '%(group)s' from %(day)s for "
              "%(users)s user(s)", created=_n(result["created"]), subject=action.activity_subject,
              group=group.name, day=day.isoformat(), users=len(result["per_user"]))
    if result.get("unassigned"):
        words += "; " + _("%(count)s contacts had nobody to take them",
                          count=_n(result["unassigned"]))
    return result, words, None


RUNNERS = {
    ActionKind.REFRESH_GROUP: do_refresh_group,
    ActionKind.COPY_GROUP: do_copy_group,
    ActionKind.GROUP_EMAIL: do_group_email,
    ActionKind.GROUP_ACTIVITIES: do_group_activities,
}


@job("scheduled_action")
def run_scheduled_action(ctx: JobContext, run_id: int) -> dict:
    """Do what one ledger row's action does and record the outcome on the row."""
    run = db.session.get(ScheduledActionRun, run_id)
    if run is None:
        raise LookupError(f"scheduled run {run_id} does not exist")
    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return {"already": run.status, **(run.result or {})}  # a repeat: done once already
    run.status, run.started_at = RunStatus.RUNNING, utcnow()
    run.job_run_id = run.job_run_id or ctx.run_id
    db.session.commit()
    action = run.action
    try:
        runner = RUNNERS.get(action.kind)
        if runner is None:
            raise ScheduleError(f"unknown action type {action.kind!r}")
        result, summary, campaign_id = runner(ctx, action, run)
    except BaseException as exc:
        db.session.rollback()
        record_outcome(run_id, False, error=f"{type(exc).__name__}: {exc}")
        db.session.commit()
        raise  # the job run fails too: never report success for a failed run
    result = {**result, "summary": summary}
    record_outcome(run_id, True, result=result, summary=summary, campaign_id=campaign_id)
    db.session.commit()
    return result


# --- undo ---------------------------------------------------------------------------------------


def start_undo_run(run: ScheduledActionRun, user_id: int | None = None) -> JobRun:
    """Enqueue the undo of a run that created or filled a campaign."""
    if run.campaign_id is None or run.status != RunStatus.DONE or run.job_run_id is None:
        raise ScheduleError("only a finished run that created or filled a campaign can be undone")
    if (run.result or {}).get("undone_by"):
        raise ScheduleError(f"this run was already undone by job {run.result['undone_by']}")
    return enqueue("undo_scheduled_run", {"run_id": run.id}, user_id=user_id,
                   scheduled_action_id=run.action_id)


@job("undo_scheduled_run")
def undo_scheduled_run(ctx: JobContext, run_id: int) -> dict:
    """Undo a run: its unsent messages are cancelled, the members it added removed (the
    audience undo), and a campaign it created is made inactive. One transaction."""
    run = db.session.get(ScheduledActionRun, run_id)
    if run is None or run.campaign_id is None or run.job_run_id is None:
        raise ScheduleError(f"scheduled run {run_id} did not create or fill a campaign")
    if (run.result or {}).get("undone_by"):
        raise ScheduleError(f"run {run_id} was already undone by job {run.result['undone_by']}")
    outbox, members = OutboxMessage.__table__, CampaignMember.__table__
    added = select(members.c.contact_id).where(members.c.campaign_id == run.campaign_id,
                                               members.c.job_id == run.job_run_id)
    cancelled = db.session.execute(
        update(outbox)
        .where(outbox.c.campaign_id == run.campaign_id,
               outbox.c.state.in_((OutboxState.QUEUED, OutboxState.DEFERRED)),
               outbox.c.contact_id.in_(added))
        .values(state=OutboxState.SUPPRESSED, suppressed_reason="cancelled",
                last_error=f"cancelled by undo job {ctx.run_id}")
    ).rowcount
    removed, _restored = revert(run.job_run_id, run.campaign_id)
    campaign = db.session.get(Campaign, run.campaign_id)
    created = run.action.kind == ActionKind.GROUP_EMAIL
    if created:
        campaign.active = False
    words = f"undone: {_n(removed)} members removed, {_n(cancelled)} unsent messages cancelled"
    if created:
        words += f"; campaign '{campaign.name}' made inactive"
    run.result = {**(run.result or {}), "undone_by": ctx.run_id, "undo": words}
    ctx.progress(1, 1)  # commits
    return {"run_id": run_id, "removed": removed, "cancelled": cancelled, "summary": words}


def overdue_actions(now: datetime | None = None) -> list[ScheduledAction]:
    """Active actions whose due time passed more than a few minutes ago (the dashboard)."""
    now = now or clock.now()
    return list(db.session.scalars(
        select(ScheduledAction)
        .where(ScheduledAction.active.is_(True), ScheduledAction.next_run_at < now - MISSED_AFTER)
        .order_by(ScheduledAction.next_run_at).limit(20)
    ))


def last_tick() -> SchedulerTick | None:
    """The scheduler's last tick on this queue."""
    return db.session.get(SchedulerTick, current_app.config["KOHDE_QUEUE"])

