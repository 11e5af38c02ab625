"""Scheduled actions that run: the due check on every scheduler tick, Run now, the job that
does each action type, and undo of a run.

The run ledger (claiming a due time, its row, outcomes, overlap and missed runs, pausing
after N failures) is models/schedules/ledger.py; this module enqueues the jobs it hands
back.

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

from models import (
    CAMPAIGN_FOLDER,
    ActionKind,
    ActivityAssignee,
    ActivityDay,
    Campaign,
    JobRun,
    RunStatus,
    ScheduledAction,
    ScheduledActionRun,
    Settings,
    TargetGroup,
    clock,
    db,
)
from models.activities.slots import create_from_plan, plan, working_days
from models.campaigns import unused_name
from models.campaigns.membership import revert
from models.email.outbox import campaign_email_counts, cancel_unsent_to_added
from models.groups.refresh import refresh
from models.labels import label
from models.schedules import ledger
from models.schedules.ledger import ScheduleError

from .campaigns import change_audience
from .runs import JobContext, enqueue, job
from .scheduler import periodic

__all__ = ["ScheduleError", "run_due_actions", "run_now", "start_schedule_run",
           "start_undo_run"]

log = logging.getLogger(__name__)


# --- starting runs --------------------------------------------------------------------------


def start_schedule_run(run: ScheduledActionRun) -> JobRun:
    """Enqueue the job for one ledger row and link them (commits)."""
    action = run.action
    job_run = enqueue("scheduled_action", {"run_id": run.id},
                      user_id=run.user_id or action.owner_id,
                      scheduled_action_id=action.id)
    ledger.link_job(run.id, job_run.id)
    return job_run


def start_due(action_id: int, now: datetime) -> str:
    """Take one due action (models/schedules/ledger.py: claim_due) and enqueue its job.
    Returns what happened ("started", "waiting", "skipped", "taken", "paused", "not due")."""
    outcome, run_id = ledger.claim_due(action_id, now)
    if run_id is not None:
        start_schedule_run(db.session.get(ScheduledActionRun, run_id))
    return outcome


def run_now(action: ScheduledAction, user_id: int | None = None) -> ScheduledActionRun:
    """Run an action at once, for the click's minute as its due time (so a scheduler tick
    for that same minute cannot run it a second time). Raises ScheduleError."""
    run = ledger.claim_now(action, user_id)
    if run.status == RunStatus.QUEUED:
        start_schedule_run(run)
    return run


@periodic("schedules")
def run_due_actions(now: datetime) -> dict[str, int]:
    """The tick's check: settle the ledger, then start every action that is due."""
    now = now if now is not None else clock.now()
    done = ledger.settle(start_schedule_run)
    due = ledger.due_action_ids(now)
    db.session.rollback()
    outcomes: dict[str, int] = {}
    for action_id in due:
        outcome = start_due(action_id, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    ledger.record_tick(current_app.config["KOHDE_QUEUE"], now, len(due),
                       outcomes.get("started", 0))
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
                             refresh_group=action.refresh_first, split=False)
    words = _("%(added)s members of '%(group)s' added to '%(campaign)s'",
              added=_n(result.get("added", 0)), group=group.name, campaign=campaign_name)
    email = result.get("email") or {}
    if email.get("queued") or email.get("suppressed"):
        words += ", " + _email_words({}, email["queued"], email["suppressed"])
    return result, words, action.campaign_id


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
    # "<group> <local date>", and " (2)", " (3)" … when that name is taken already.
    name = unused_name(f"{group.name} {day.isoformat()}"[:200])
    campaign = Campaign(name=name, owner_id=action.owner_id,
                        email_template_id=template.id, start_date=day, active=True,
                        description=f"Created by the scheduled action '{action.name}' "
                                    f"for target group '{group.name}'.")
    db.session.add(campaign)
    db.session.flush()  # its id and number; committed with the members and messages
    ledger.set_campaign(run.id, campaign.id)
    result = change_audience(ctx, campaign.id, "copy_group", group.id,
                             split=False)  # commits all of it
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
    if not ledger.mark_running(run, ctx.run_id):
        return {"already": run.status, **(run.result or {})}  # a repeat: done once already
    action = run.action
    try:
        runner = RUNNERS.get(action.kind)
        if runner is None:
            raise ScheduleError(f"unknown action type {action.kind!r}")
        result, summary, campaign_id = runner(ctx, action, run)
    except BaseException as exc:
        db.session.rollback()
        ledger.record_outcome(run_id, False, error=f"{type(exc).__name__}: {exc}")
        db.session.commit()
        raise  # the job run fails too: never report success for a failed run
    result = {**result, "summary": summary}
    ledger.record_outcome(run_id, True, result=result, summary=summary, campaign_id=campaign_id)
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
    cancelled = cancel_unsent_to_added(run.campaign_id, run.job_run_id,
                                       f"cancelled by undo job {ctx.run_id}")
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
