"""`kohde activities …`: mass-create slotted activities for a target group, list them, and
change many at once (reassign, shift, set-status: dry run, wait, --json)."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from jobs.activities import start_group_activities
from jobs.bulk import (
    CHANGES,
    start_reassign_slotted,
    start_set_owner,
    start_set_status,
    start_shift,
)
from models import Activity, ActivityStatus, ActivityType, Campaign, TargetGroup, User, db
from models.activities.slots import ActivityError, dry_run
from models.bulk.changes import would_change
from models.settings import installation_tz

from ..auth import find_user
from .lookup import by_id_or_name
from .selections import run_bulk, selection_from, selection_options
from .waiting import run_job


def _user(email: str | None) -> User | None:
    if not email:
        return None
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"no user {email!r}")
    return user


@click.group("activities")
def activities_group():
    """Calendar activities."""


@activities_group.command("create-for-group")
@click.argument("group")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="The first day to fill.")
@click.option("--user", "user_email", help="Give every activity to this user (email).")
@click.option("--fallback-user", "fallback_email",
              help="For contacts without an owner (else they are reported).")
@click.option("--subject", default="Call", show_default=True)
@click.option("--type", "activity_type", type=click.Choice([t.value for t in ActivityType]),
              default="call", show_default=True)
@click.option("--campaign", help="Link the activities to this campaign (id, number or name).")
@click.option("--dry-run", "dry", is_flag=True, help="Per user: how many, on which days.")
@click.option("--no-wait", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def create_for_group(group, day, user_email, fallback_email, subject, activity_type, campaign,
                     dry, no_wait, as_json):
    """One activity per member of GROUP, back to back in the users' calendars from --date."""
    found = by_id_or_name(TargetGroup, group, TargetGroup.name, "target group")
    user, fallback = _user(user_email), _user(fallback_email)
    campaign_id = by_id_or_name(Campaign, campaign, Campaign.name, "campaign").id if campaign \
        else None
    if dry:
        try:
            result = dry_run(found.id, day.date(), user and user.id, fallback and fallback.id)
        except ActivityError as exc:
            raise click.ClickException(str(exc)) from None
        _print_plan(result, as_json)
        return
    run = run_job(lambda: start_group_activities(
        found.id, day.date(), subject=subject, activity_type=activity_type,
        user_id=user and user.id, fallback_user_id=fallback and fallback.id,
        campaign_id=campaign_id), no_wait=no_wait, as_json=as_json)
    if run and not as_json:
        _print_plan(run.result, False)
        click.echo(f"created {run.result['created']} activities")


def _print_plan(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    emails = dict(db.session.execute(select(User.id, User.email)).all())
    for user_id, days in result["per_user"].items():
        per_day = ", ".join(f"{d}: {n}" for d, n in days.items())
        click.echo(f"{emails.get(int(user_id), user_id)}: {sum(days.values())} ({per_day})")
    if result["unassigned"]:
        click.echo(f"{result['unassigned']} contact(s) have no owner: use --fallback-user")


@activities_group.command("list")
@click.option("--user", "user_email", help="Only this user's activities.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Only this day.")
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_activities(user_email, day, limit, as_json):
    """Activities by start time, in the installation's time zone."""
    tz = installation_tz()
    query = select(Activity).order_by(Activity.start_at, Activity.id).limit(limit)
    if user_email:
        query = query.where(Activity.owner_id == _user(user_email).id)
    if day:
        start = datetime.combine(day.date(), time(0), tz)
        query = query.where(Activity.start_at >= start, Activity.start_at < start + timedelta(1))
    rows = db.session.scalars(query).all()
    data = [{"number": a.number, "type": a.type, "subject": a.subject,
             "owner": a.owner.email if a.owner else None,
             "start": a.start_at.astimezone(tz).isoformat(),
             "end": a.end_at.astimezone(tz).isoformat(), "status": a.status,
             "contacts": [c.id for c in a.contacts]} for a in rows]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for a in data:
        click.echo(f"{a['start'][:16]}–{a['end'][11:16]}  {a['number'] or '':<10} {a['owner']}  "
                   f"{a['type']}: {a['subject']}")




def _activities(opts: dict):
    return selection_from("activities", opts["ids"], opts["where"], opts["search"])


@activities_group.command("reassign")
@click.argument("owner")
@click.option("--slotted-from", "day", type=click.DateTime(["%Y-%m-%d"]),
              help="Move them into OWNER's free slots from this day on (default: keep the "
                   "times).")
@selection_options(contacts=False)
@with_appcontext
def reassign(owner, day, **opts):
    """Give the chosen activities to OWNER (a user's email), keeping their times or into
    OWNER's free slots (--slotted-from)."""
    user = _user(owner)
    selection = _activities(opts)
    if day is None:
        run_bulk(selection, lambda: start_set_owner(selection, user.id), dry=opts["dry"],
                 no_wait=opts["no_wait"], as_json=opts["as_json"],
                 would_change=lambda: would_change(selection, CHANGES["activities.owner_id"],
                                                   user.id))
        return
    run_bulk(selection, lambda: start_reassign_slotted(selection, user.id, day.date()),
             dry=opts["dry"], no_wait=opts["no_wait"], as_json=opts["as_json"])


@activities_group.command("shift")
@click.option("--days", type=int, default=0, help="Days to move by (negative: earlier).")
@click.option("--hours", type=int, default=0, help="Hours to move by (negative: earlier).")
@selection_options(contacts=False)
@with_appcontext
def shift(days, hours, **opts):
    """Move the chosen activities by --days and/or --hours."""
    minutes = days * 24 * 60 + hours * 60
    if not minutes or abs(minutes) > 3650 * 24 * 60:
        raise click.ClickException("give --days or --hours (not 0, at most ten years)")
    selection = _activities(opts)
    run_bulk(selection, lambda: start_shift(selection, minutes), dry=opts["dry"],
             no_wait=opts["no_wait"], as_json=opts["as_json"])


@activities_group.command("set-status")
@click.argument("status", type=click.Choice([s.value for s in ActivityStatus]))
@selection_options(contacts=False)
@with_appcontext
def set_status(status, **opts):
    """Set the status of the chosen activities (done, cancelled, planned)."""
    selection = _activities(opts)
    run_bulk(selection, lambda: start_set_status(selection, status), dry=opts["dry"],
             no_wait=opts["no_wait"], as_json=opts["as_json"],
             would_change=lambda: would_change(selection, CHANGES["activities.status"], status))
