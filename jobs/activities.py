"""Mass-creating calendar activities for a target group's contacts, slotted set-based.

Each contact gets one activity for its owner (or a chosen user) in the first
free slot from the chosen day on: slots run back to back from the earliest
start, none ends after the latest end, the rest continue on the next working
day, and slots the user already has something in are skipped. The plan is
made in SQL with window functions — contacts numbered per user, free slots
numbered per user, the n-th contact gets the n-th free slot — and only the
slot grid (working days × times, a few thousand rows) is made in Python.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, delete, exists, func, insert, literal, select, update

from models import (
    Activity,
    ActivityContact,
    ActivityPlan,
    ActivitySlot,
    ActivityStatus,
    ActivityType,
    Contact,
    Settings,
    TargetGroupMember,
    db,
    utcnow,
)

from .runs import JobContext, job

activities, links = Activity.__table__, ActivityContact.__table__
plans, slots = ActivityPlan.__table__, ActivitySlot.__table__
contacts, members = Contact.__table__, TargetGroupMember.__table__
EXTRA_DAYS = 5  # grid margin for slots taken by existing activities; grown if not enough


class ActivityError(ValueError):
    """A mass-creation that cannot run (no such group, a bad setting, …)."""


def working_days(start: date, count: int, weekdays: set[int]) -> list[date]:
    """``count`` working days from ``start`` on (ISO weekdays, 1 = Monday)."""
    if not weekdays:
        raise ActivityError("no working days are set (Admin → Settings)")
    days, day = [], start
    while len(days) < count:
        if day.isoweekday() in weekdays:
            days.append(day)
        day += timedelta(days=1)
    return days


def slot_times(settings: Settings) -> list[tuple[time, time]]:
    """The day's slots: back to back from the earliest start, none ending after the latest end."""
    duration = timedelta(minutes=settings.activity_duration_minutes)
    if duration <= timedelta(0):
        raise ActivityError("the activity duration must be positive (Admin → Settings)")
    day = date(2000, 1, 3)
    start = datetime.combine(day, settings.activity_earliest_start)
    last_end = datetime.combine(day, settings.activity_latest_end)
    result = []
    while start + duration <= last_end:
        result.append((start.time(), (start + duration).time()))
        start += duration
    if not result:
        raise ActivityError("no slot fits between the earliest start and the latest end")
    return result


def _write_grid(job_id: str, days: list[date], times, tz: ZoneInfo) -> None:
    db.session.execute(delete(slots).where(slots.c.job_id == job_id))
    rows, seq = [], 0
    for day in days:
        for begin, end in times:
            seq += 1
            rows.append({
                "job_id": job_id, "seq": seq,
                "start_at": datetime.combine(day, begin, tz).astimezone(ZoneInfo("UTC")),
                "end_at": datetime.combine(day, end, tz).astimezone(ZoneInfo("UTC")),
            })  # fmt: skip
    db.session.execute(insert(ActivitySlot), rows)


def _assignees(group_id: int, user_id: int | None, fallback_id: int | None):
    """Each member with the user who gets its activity (NULL: nobody to give it to)."""
    owner = (literal(user_id) if user_id else func.coalesce(contacts.c.owner_id,
                                                            literal(fallback_id)))  # fmt: skip
    return (
        select(contacts.c.id.label("contact_id"), owner.label("owner_id"),
               contacts.c.company_id.label("company_id"))
        .select_from(members.join(contacts, contacts.c.id == members.c.contact_id))
        .where(members.c.group_id == group_id)
    )  # fmt: skip


def _plan_once(job_id: str, group_id: int, user_id, fallback_id) -> int:
    """Write the plan for this grid; return how many contacts found no free slot in it."""
    db.session.execute(delete(plans).where(plans.c.job_id == job_id))
    who = _assignees(group_id, user_id, fallback_id).subquery("who")
    ranked = select(
        who.c.contact_id, who.c.owner_id, who.c.company_id,
        func.row_number().over(partition_by=who.c.owner_id, order_by=who.c.contact_id).label("n"),
    ).where(who.c.owner_id.is_not(None)).subquery("ranked")  # fmt: skip
    users = select(ranked.c.owner_id).distinct().subquery("users")
    busy = exists().where(
        activities.c.owner_id == users.c.owner_id,
        activities.c.status != ActivityStatus.CANCELLED,
        activities.c.start_at < slots.c.end_at,
        activities.c.end_at > slots.c.start_at,
    )
    free = (
        select(users.c.owner_id, slots.c.start_at, slots.c.end_at,
               func.row_number().over(partition_by=users.c.owner_id,
                                      order_by=slots.c.seq).label("n"))
        .select_from(users.join(slots, slots.c.job_id == job_id))
        .where(~busy)
        .subquery("free")
    )  # fmt: skip
    db.session.execute(
        insert(plans).from_select(
            ["job_id", "contact_id", "owner_id", "company_id", "start_at", "end_at"],
            select(literal(job_id), ranked.c.contact_id, ranked.c.owner_id, ranked.c.company_id,
                   free.c.start_at, free.c.end_at)
            .select_from(ranked.join(free, and_(free.c.owner_id == ranked.c.owner_id,
                                                free.c.n == ranked.c.n))),
        )
    )  # fmt: skip
    wanted = db.session.scalar(select(func.count()).select_from(ranked))
    planned = db.session.scalar(select(func.count()).where(plans.c.job_id == job_id))
    return wanted - planned


def plan(job_id: str, group_id: int, day: date, user_id=None, fallback_id=None) -> dict:
    """Plan one activity per member into ``activity_plans``; return what it would create."""
    settings = Settings.get()
    tz = ZoneInfo(settings.timezone)
    times = slot_times(settings)
    weekdays = {int(d) for d in settings.working_days.split(",") if d.strip()}
    busiest = _busiest(group_id, user_id, fallback_id)
    days = math.ceil(busiest / len(times)) + EXTRA_DAYS
    while True:
        _write_grid(job_id, working_days(day, days, weekdays), times, tz)
        if _plan_once(job_id, group_id, user_id, fallback_id) == 0:
            break
        days *= 2  # existing activities took more slots than the margin: widen the grid
    return summary(job_id, group_id, user_id, fallback_id, tz)


def _busiest(group_id, user_id, fallback_id) -> int:
    who = _assignees(group_id, user_id, fallback_id).subquery()
    per_owner = (select(func.count().label("n")).where(who.c.owner_id.is_not(None))
                 .group_by(who.c.owner_id).subquery())  # fmt: skip
    return db.session.scalar(select(func.max(per_owner.c.n))) or 0


def summary(job_id: str, group_id: int, user_id, fallback_id, tz: ZoneInfo) -> dict:
    """Per user: how many activities on which days; and the members nobody can take."""
    rows = db.session.execute(
        select(plans.c.owner_id, plans.c.start_at).where(plans.c.job_id == job_id)
    ).all()
    per_user: dict[int, dict[str, int]] = {}
    for owner_id, start_at in rows:  # planned rows, at most one per member: a report, not work
        day = start_at.astimezone(tz).date().isoformat()
        per_user.setdefault(owner_id, {}).setdefault(day, 0)
        per_user[owner_id][day] += 1
    who = _assignees(group_id, user_id, fallback_id).subquery()
    unassigned = db.session.scalar(select(func.count()).where(who.c.owner_id.is_(None)))
    return {"planned": len(rows), "unassigned": unassigned,
            "per_user": {str(k): v for k, v in sorted(per_user.items())}}  # fmt: skip


def create_from_plan(job_id: str, subject: str, activity_type: str, campaign_id=None) -> int:
    """Turn the plan into activities, numbers and contact links (three statements)."""
    now = utcnow()
    db.session.execute(
        insert(activities).from_select(
            ["type", "subject", "notes", "owner_id", "start_at", "end_at", "status",
             "company_id", "campaign_id", "job_id", "created_at", "updated_at"],
            select(literal(activity_type), literal(subject), literal(""), plans.c.owner_id,
                   plans.c.start_at, plans.c.end_at, literal(ActivityStatus.PLANNED.value),
                   plans.c.company_id, literal(campaign_id, activities.c.campaign_id.type),
                   literal(job_id), literal(now, activities.c.created_at.type),
                   literal(now, activities.c.updated_at.type))
            .where(plans.c.job_id == job_id),
        )
    )  # fmt: skip
    db.session.execute(
        update(activities)
        .where(activities.c.job_id == job_id, activities.c.number.is_(None))
        .values(number=literal("A-") + cast(activities.c.id, String))
    )
    db.session.execute(
        insert(links).from_select(
            ["activity_id", "contact_id"],
            select(activities.c.id, plans.c.contact_id).select_from(
                plans.join(activities, and_(activities.c.job_id == plans.c.job_id,
                                            activities.c.owner_id == plans.c.owner_id,
                                            activities.c.start_at == plans.c.start_at))
            ).where(plans.c.job_id == job_id),
        )
    )  # fmt: skip
    created = db.session.scalar(select(func.count()).where(activities.c.job_id == job_id))
    db.session.execute(delete(plans).where(plans.c.job_id == job_id))
    db.session.execute(delete(slots).where(slots.c.job_id == job_id))
    return created


@job("group_activities")
def create_group_activities(
    ctx: JobContext,
    group_id: int,
    day: str,
    subject: str = "Call",
    activity_type: str = ActivityType.CALL.value,
    user_id: int | None = None,
    fallback_user_id: int | None = None,
    campaign_id: int | None = None,
) -> dict:
    """One activity per group member, slotted into users' calendars (one transaction)."""
    if activity_type not in set(ActivityType):
        raise ActivityError(f"unknown activity type {activity_type!r}")
    result = plan(ctx.run_id, group_id, date.fromisoformat(day), user_id, fallback_user_id)
    result["created"] = create_from_plan(ctx.run_id, subject, activity_type, campaign_id)
    ctx.progress(result["created"], result["created"])  # commits
    return result


def dry_run(group_id: int, day: date, user_id=None, fallback_id=None) -> dict:
    """What a mass-creation would do, planned with the same SQL and then thrown away."""
    try:
        return plan(f"dry-run-{uuid.uuid4().hex}", group_id, day, user_id, fallback_id)
    finally:
        db.session.rollback()
