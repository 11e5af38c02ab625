"""`kohde schedules …`: list, show, create, run now, pause, resume and delete scheduled actions."""

from __future__ import annotations

import json
from datetime import datetime, time

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from jobs.schedules import run_now
from models import (
    ActionKind,
    Campaign,
    EmailTemplate,
    ScheduledAction,
    Settings,
    TargetGroup,
    User,
    clock,
    db,
)
from models.recurrence import Frequency, parse_weekdays
from models.schedules.ledger import ScheduleError, pause, resume
from models.users import user_by_email

from .lookup import by_id_or_name
from .waiting import ensure_redis, wait_for

TYPES = {"refresh-group": ActionKind.REFRESH_GROUP, "group-activities": ActionKind.GROUP_ACTIVITIES,
         "group-email": ActionKind.GROUP_EMAIL, "copy-group": ActionKind.COPY_GROUP}


def _action(ident: str) -> ScheduledAction:
    return by_id_or_name(ScheduledAction, ident, ScheduledAction.name, "scheduled action")


def _user(email: str) -> User:
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user {email!r}")
    return user


def _local(moment: datetime | None, tz: str) -> str | None:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes") if moment else None


def action_as_dict(action: ScheduledAction, history: bool = False) -> dict:
    """An action as plain data, for --json (times in UTC and in the action's zone)."""
    data = {
        "id": action.id, "name": action.name, "type": action.kind, "origin": action.origin,
        "target_group": action.target_group.name if action.target_group else None,
        "campaign": action.campaign.name if action.campaign else None,
        "template": action.template.name if action.template else None,
        "owner": action.owner.email if action.owner else None,
        "user": action.user.email if action.user else None,
        "schedule": action.recurrence.describe(), "timezone": action.timezone,
        "active": action.active, "paused_reason": action.paused_reason,
        "failure_streak": action.failure_streak,
        "next_run_at": action.next_run_at, "next_run_local": _local(action.next_run_at,
                                                                    action.timezone),
        "last_run_at": action.last_run_at, "last_status": action.last_status,
    }
    if history:
        data["runs"] = [{
            "id": r.id, "due_at": r.due_at, "trigger": r.trigger, "status": r.status,
            "job": r.job_run_id, "started_at": r.started_at, "finished_at": r.finished_at,
            "duration_seconds": r.duration_seconds, "summary": r.summary, "error": r.error,
        } for r in action.history[:50]]
    return data


@click.group("schedules")
def schedules_group():
    """Scheduled actions: what runs when (Admin → Scheduled actions)."""


@schedules_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def list_schedules(as_json: bool):
    """Every scheduled action with its next run (local time), last run and state."""
    rows = db.session.scalars(select(ScheduledAction).order_by(ScheduledAction.id)).all()
    if as_json:
        click.echo(json.dumps([action_as_dict(a) for a in rows], indent=2, default=str))
        return
    for a in rows:
        state = "active" if a.active else "paused"
        next_local = _local(a.next_run_at, a.timezone) or "—"
        last = f"{a.last_status} {a.last_run_at:%Y-%m-%d %H:%M}" if a.last_run_at else "never run"
        streak = f", {a.failure_streak} failed in a row" if a.failure_streak else ""
        click.echo(f"{a.id:>4}  {a.name:<40} {a.kind:<16} {state:<6} next {next_local}  "
                   f"last {last}{streak}")


@schedules_group.command("show")
@click.argument("action")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def show_schedule(action: str, as_json: bool):
    """One action, its next 10 runs and its run history."""
    a = _action(action)
    data = action_as_dict(a, history=True)
    preview = [{"at": o.at, "local": o.local.isoformat(timespec="minutes"), "note": o.note}
               for o in a.recurrence.preview(clock.now())] if not a.recurrence.problems() else []
    data["next_runs"] = preview
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    for key, value in data.items():
        if key in ("runs", "next_runs"):
            continue
        click.echo(f"{key}: {value}")
    click.echo("next runs:")
    for o in preview:
        click.echo(f"  {o['local']}" + (f"  ({o['note']})" if o["note"] else ""))
    click.echo("runs:")
    for r in data["runs"]:
        click.echo(f"  {r['due_at']:%Y-%m-%d %H:%M} UTC  {r['status']:<8} {r['job'] or ''}  "
                   f"{r['summary'] or (r['error'] or '').split(chr(10))[0]}")


def _hhmm(value: str, option: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time HH:MM", param_hint=option) from None


@schedules_group.command("create")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(list(TYPES)), required=True)
@click.option("--group", "group_ref", required=True, help="Target group (id or name).")
@click.option("--campaign", "campaign_ref", help="copy-group: the campaign (id, number or name).")
@click.option("--template", "template_ref", help="group-email: a template instead of the group's.")
@click.option("--user", "user_email", help="group-activities: the user (or fallback) by email.")
@click.option("--owner", "owner_email", help="The action's owner (owns campaigns it creates).")
@click.option("--once", metavar="ISO", help="Once, at this local date and time.")
@click.option("--hourly", type=int, metavar="N", help="Every N hours (from --start or now).")
@click.option("--start", metavar="ISO", help="--hourly: the first run (local).")
@click.option("--daily", metavar="HH:MM", help="Every day at this local time.")
@click.option("--weekly", metavar="1,3,5", help="On these ISO weekdays (1 = Monday), with --at.")
@click.option("--monthly", type=int, metavar="D", help="On this day of the month, with --at.")
@click.option("--at", "at_time", metavar="HH:MM", help="The time for --weekly / --monthly.")
@click.option("--cron", metavar="EXPR", help="A cron expression, in local time.")
@click.option("--timezone", "tz", help="IANA zone (default: the installation's).")
@click.option("--refresh-first", is_flag=True, help="Refresh the group before each run.")
@click.option("--assign", type=click.Choice(["owner", "user", "owner-or-user"]), default="owner",
              show_default=True, help="group-activities: whose calendar.")
@click.option("--day", "day", default="today", show_default=True,
              help="group-activities: today, next-working-day or +N (days).")
@click.option("--subject", default="Call", show_default=True, help="group-activities.")
@click.option("--activity-type", default="call", show_default=True, help="group-activities.")
@click.option("--catch-up", type=click.Choice(["latest", "skip"]), default="latest",
              show_default=True)
@click.option("--overlap", type=click.Choice(["skip", "queue"]), default="skip",
              show_default=True)
@click.option("--max-failures", type=int, default=3, show_default=True)
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def create_schedule(name, kind, group_ref, campaign_ref, template_ref, user_email, owner_email,
                    once, hourly, start, daily, weekly, monthly, at_time, cron, tz,
                    refresh_first, assign, day, subject, activity_type, catch_up, overlap,
                    max_failures, paused, as_json):
    """Create a scheduled action; prints its next runs. Exactly one frequency option."""
    chosen = [k for k, v in {"--once": once, "--hourly": hourly, "--daily": daily,
                             "--weekly": weekly, "--monthly": monthly, "--cron": cron}.items()
              if v is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --once, --hourly, --daily, --weekly, "
                               "--monthly, --cron")
    action = ScheduledAction(
        name=name, kind=TYPES[kind], refresh_first=refresh_first, catch_up=catch_up,
        overlap=overlap, max_failures=max_failures, active=not paused,
        timezone=tz or Settings.get().timezone, activity_subject=subject,
        activity_type=activity_type, activity_assignee=assign.replace("-", "_"),
    )
    action.target_group = by_id_or_name(TargetGroup, group_ref, TargetGroup.name, "target group")
    if campaign_ref:
        action.campaign = by_id_or_name(Campaign, campaign_ref, Campaign.name, "campaign")
    if template_ref:
        action.template = by_id_or_name(EmailTemplate, template_ref, EmailTemplate.name,
                                        "template")
    if user_email:
        action.user = _user(user_email)
    if owner_email:
        action.owner = _user(owner_email)
    if day == "today":
        action.activity_day = "today"
    elif day in ("next-working-day", "next_working_day"):
        action.activity_day = "next_working_day"
    elif day.startswith("+") and day[1:].isdigit():
        action.activity_day, action.activity_day_offset = "plus_days", int(day[1:])
    else:
        raise click.BadParameter("today, next-working-day or +N", param_hint="--day")
    try:
        if once:
            action.frequency, action.start_at = Frequency.ONCE, datetime.fromisoformat(once)
        elif hourly is not None:
            action.frequency, action.interval_hours = Frequency.HOURLY, hourly
            action.start_at = datetime.fromisoformat(start) if start else None
        elif daily:
            action.frequency, action.time_of_day = Frequency.DAILY, _hhmm(daily, "--daily")
        elif weekly:
            action.frequency = Frequency.WEEKLY
            action.weekdays = ",".join(map(str, parse_weekdays(weekly)))
        elif monthly is not None:
            action.frequency, action.day_of_month = Frequency.MONTHLY, monthly
        else:
            action.frequency, action.cron = Frequency.CRON, cron
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=chosen[0]) from None
    if action.start_at and action.start_at.tzinfo:  # an offset given: its wall time there
        action.start_at = action.start_at.replace(tzinfo=None)
    if action.frequency == Frequency.HOURLY and action.start_at is None:
        from zoneinfo import ZoneInfo

        local_now = clock.now().astimezone(ZoneInfo(action.timezone)).replace(tzinfo=None)
        action.start_at = local_now.replace(minute=0, second=0, microsecond=0)
    if at_time:
        action.time_of_day = _hhmm(at_time, "--at")
    problems = action.problems()
    if problems:
        db.session.rollback()
        raise click.ClickException("; ".join(f"{f}: {m}" for f, m in problems.items()))
    if action.active:
        action.compute_next_run(clock.now())
    db.session.add(action)
    db.session.commit()
    if as_json:
        click.echo(json.dumps(action_as_dict(action), indent=2, default=str))
        return
    click.echo(f"created scheduled action {action.id} '{action.name}': "
               f"{action.recurrence.describe()}")
    for o in action.recurrence.preview(clock.now(), 3):
        click.echo(f"  next: {o.local.isoformat(timespec='minutes')}"
                   + (f"  ({o.note})" if o.note else ""))


@schedules_group.command("run-now")
@click.argument("action")
@click.option("--no-wait", is_flag=True, help="Print the job id and return.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def run_now_command(action: str, no_wait: bool, as_json: bool):
    """Run an action now (its due time is this minute) and wait for it."""
    a = _action(action)
    ensure_redis()
    try:
        run = run_now(a)
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None
    if run.job_run is None:
        click.echo(f"run {run.id} waits for the previous run to finish")
        return
    if no_wait:
        click.echo(json.dumps({"id": run.job_run_id}) if as_json else run.job_run_id)
        return
    wait_for(run.job_run, as_json=as_json)
    db.session.rollback()
    if not as_json:
        run = db.session.get(type(run), run.id)
        click.echo(run.summary or run.status)


@schedules_group.command("pause")
@click.argument("action")
@click.option("--reason", default="paused by hand", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def pause_command(action: str, reason: str, as_json: bool):
    """Stop an action from running until it is resumed."""
    a = _action(action)
    pause(a, reason)
    click.echo(json.dumps(action_as_dict(a), indent=2, default=str) if as_json
               else f"paused '{a.name}'")


@schedules_group.command("resume")
@click.argument("action")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def resume_command(action: str, as_json: bool):
    """Run an action again from its next due time (missed ones are not made up)."""
    a = _action(action)
    try:
        resume(a)
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(action_as_dict(a), indent=2, default=str) if as_json
               else f"resumed '{a.name}': next run {_local(a.next_run_at, a.timezone)}")


@schedules_group.command("delete")
@click.argument("action")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def delete_command(action: str, as_json: bool):
    """Delete an action and its run history (the jobs and what they did stay)."""
    a = _action(action)
    name, action_id = a.name, a.id
    db.session.delete(a)
    db.session.commit()
    click.echo(json.dumps({"deleted": action_id, "name": name}) if as_json
               else f"deleted '{name}'")
