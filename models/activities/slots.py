"""Mass-creating calendar activities for a target group's (or any selection's) contacts,
slotted set-based.

Each contact gets one activity for its owner (or a chosen user) in the first
free slot from the chosen day on: slots run back to back from the earliest
start, none ends after the latest end, the rest continue on the next working
day, and slots the user already has something in are skipped. The plan is
made in SQL with window functions — contacts numbered per user, free slots
numbered per user, the n-th contact gets the n-th free slot — and only the
slot grid (working days × times, a few thousand rows) is made in Python. A user with
nothing in the grid's span takes the grid as it is (contact n, slot n, by the grid's
key); for users with activities there, the busy check and the pairing are each one
sort over two merged lists rather than a join, so the cost stays N log N on SQLite too
and does not grow with a user's history (bench/activities.py measures both).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import Select

from models import (
    Activity,
    ActivityContact,
    ActivityPlan,
    ActivitySlot,
    ActivityStatus,
    Settings,
    db,
    utcnow,
)

from ..ranges import even_ranges
from .assignment import assignees, group_member_ids

activities, links = Activity.__table__, ActivityContact.__table__
plans, slots = ActivityPlan.__table__, ActivitySlot.__table__
PLAN_COLUMNS = ["job_id", "contact_id", "owner_id", "company_id", "start_at", "end_at"]
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


def _write_grid(job_id: str, days: list[date], times, tz: ZoneInfo,
                not_before: datetime | None = None) -> tuple[datetime, datetime] | None:
    """Write the job's slot grid, less slots starting before ``not_before``; return when its
    first slot starts and its last one ends (None: no slot left)."""
    db.session.execute(delete(slots).where(slots.c.job_id == job_id))
    rows, seq = [], 0
    for day in days:
        for begin, end in times:
            # seq counts every grid slot, skipped or not: summary() finds a day's first by it
            seq += 1
            start = datetime.combine(day, begin, tz).astimezone(ZoneInfo("UTC"))
            if not_before is None or start >= not_before:
                rows.append({
                    "job_id": job_id, "seq": seq, "start_at": start,
                    "end_at": datetime.combine(day, end, tz).astimezone(ZoneInfo("UTC")),
                })
    if not rows:
        return None
    db.session.execute(insert(ActivitySlot), rows)
    return rows[0]["start_at"], rows[-1]["end_at"]


def _assignees(group_id: int, user_id: int | None, fallback_id: int | None) -> Select:
    """Each member with the user who gets its activity (NULL: nobody to give it to)."""
    return assignees(group_member_ids(group_id), user_id=user_id, fallback_id=fallback_id)


def _free_slots(job_id: str, users, window: tuple[datetime, datetime]):
    """Each user's free grid slots, numbered in time order (n = 1, 2, …).

    A slot is taken when one of the user's activities (not cancelled) starts before
    the slot ends and ends after it starts. So the user's activities (by start) and
    the slots (by end) go into one ordered list, and the latest end among the
    activities before a slot says whether it is taken: one sort over slots and
    activities, where a lookup per slot reads the user's whole history every time.
    """
    first, last = window
    stream = union_all(
        select(users.c.owner_id, slots.c.end_at.label("at"), literal(0).label("side"),
               slots.c.seq, slots.c.start_at, slots.c.end_at, null().label("until"))
        .select_from(users.join(slots, slots.c.job_id == job_id)),
        select(activities.c.owner_id, activities.c.start_at, literal(1), null(), null(), null(),
               activities.c.end_at)
        .where(activities.c.owner_id.in_(select(users.c.owner_id)),
               activities.c.status != ActivityStatus.CANCELLED,
               activities.c.start_at < last, activities.c.end_at > first),
    ).subquery("stream")
    # At the same instant the slot sorts first: an activity starting as a slot ends is no clash.
    latest = func.max(stream.c.until).over(
        partition_by=stream.c.owner_id, order_by=(stream.c.at, stream.c.side), rows=(None, 0)
    )
    marked = select(stream.c.owner_id, stream.c.side, stream.c.seq, stream.c.start_at,
                    stream.c.end_at, latest.label("latest")).subquery("marked")
    return (
        select(marked.c.owner_id, marked.c.start_at, marked.c.end_at,
               func.row_number().over(partition_by=marked.c.owner_id,
                                      order_by=marked.c.seq).label("n"))
        .where(marked.c.side == 0,
               or_(marked.c.latest.is_(None), marked.c.latest <= marked.c.start_at))
        .subquery("free")
    )


def _plan_once(job_id: str, assigned: Select, window, wanted: int, users: list[int]) -> int:
    """Write the plan for this grid; return how many of the ``wanted`` contacts (those with
    a user, one of ``users``) found no free slot in it.

    A user with nothing in the grid's time span (the common case: a first mass-creation)
    has every grid slot free, so the n-th contact simply takes the n-th slot, found by
    its key. Only the users with activities in the span need the busy check and the
    merge of numbered lists below.
    """
    db.session.execute(delete(plans).where(plans.c.job_id == job_id))
    who = assigned.subquery("who")
    first, last = window
    busy = list(db.session.scalars(
        select(activities.c.owner_id).distinct()
        .where(activities.c.owner_id.in_(users),
               activities.c.status != ActivityStatus.CANCELLED,
               activities.c.start_at < last, activities.c.end_at > first)))
    idle = select(
        who.c.contact_id, who.c.owner_id, who.c.company_id,
        func.row_number().over(partition_by=who.c.owner_id, order_by=who.c.contact_id).label("n"),
    ).where(who.c.owner_id.is_not(None), who.c.owner_id.not_in(busy)).subquery("idle")
    # The grid leaves out slots already started (a prefix), so its first seq may be past 1.
    before_first = db.session.scalar(
        select(func.min(slots.c.seq) - 1).where(slots.c.job_id == job_id))
    db.session.execute(insert(plans).from_select(PLAN_COLUMNS, select(
        literal(job_id), idle.c.contact_id, idle.c.owner_id, idle.c.company_id,
        slots.c.start_at, slots.c.end_at,
    ).select_from(idle.join(slots, (slots.c.job_id == job_id)
                            & (slots.c.seq == idle.c.n + before_first)))))
    if busy:
        _plan_busy(job_id, who, busy, window)
    planned = db.session.scalar(select(func.count()).where(plans.c.job_id == job_id))
    return wanted - planned


def _plan_busy(job_id: str, who, busy: list[int], window) -> None:
    """The plan of the contacts of ``busy`` users, who have activities in the grid's span:
    the n-th contact gets the user's n-th free slot."""
    ranked = select(
        who.c.contact_id, who.c.owner_id, who.c.company_id,
        func.row_number().over(partition_by=who.c.owner_id, order_by=who.c.contact_id).label("n"),
    ).where(who.c.owner_id.in_(busy)).subquery("ranked")
    users = select(who.c.owner_id).where(who.c.owner_id.in_(busy)).distinct().subquery("users")
    free = _free_slots(job_id, users, window)
    # Pair the n-th contact with the n-th free slot by merging both numbered lists per
    # user (contact n sorts just before slot n) and looking one row ahead. A join of
    # the two derived tables would do, but SQLite runs it as a nested loop: N × slots.
    merged = union_all(
        select(ranked.c.owner_id, ranked.c.n, literal(0).label("side"), ranked.c.contact_id,
               ranked.c.company_id, null().label("start_at"), null().label("end_at")),
        select(free.c.owner_id, free.c.n, literal(1), null(), null(), free.c.start_at,
               free.c.end_at),
    ).subquery("merged")
    ahead = {"partition_by": merged.c.owner_id, "order_by": (merged.c.n, merged.c.side)}
    paired = select(
        merged.c.owner_id, merged.c.n, merged.c.side, merged.c.contact_id, merged.c.company_id,
        func.lead(merged.c.n).over(**ahead).label("slot_n"),
        func.lead(merged.c.start_at).over(**ahead).label("start_at"),
        func.lead(merged.c.end_at).over(**ahead).label("end_at"),
    ).subquery("paired")
    db.session.execute(
        insert(plans).from_select(
            PLAN_COLUMNS,
            select(literal(job_id), paired.c.contact_id, paired.c.owner_id, paired.c.company_id,
                   paired.c.start_at, paired.c.end_at)
            # the row ahead is this contact's slot only if it is a slot with the same n
            .where(paired.c.side == 0, paired.c.slot_n == paired.c.n,
                   paired.c.start_at.is_not(None)),
        )
    )


def plan(job_id: str, group_id: int, day: date, user_id=None, fallback_id=None,
         now: datetime | None = None) -> dict:
    """Plan one activity per member into ``activity_plans``; return what it would create."""
    return plan_for(job_id, _assignees(group_id, user_id, fallback_id), day, now)


def plan_for(job_id: str, assigned: Select, day: date, now: datetime | None = None) -> dict:
    """Plan one activity per row of ``assigned`` (contact_id, owner_id, company_id; see
    jobs.activity_assignment) from ``day`` on; return what it would create.

    From today on nothing is planned into a slot that has already started (``now``,
    default the current time); a day in the past is planned as asked.
    """
    settings = Settings.current()
    tz = settings.tz
    times = slot_times(settings)
    weekdays = settings.weekdays
    now = now or utcnow()
    not_before = now if day >= now.astimezone(tz).date() else None
    busiest, wanted, users = _per_user(assigned)
    days = math.ceil(busiest / len(times)) + EXTRA_DAYS
    while True:
        window = _write_grid(job_id, working_days(day, days, weekdays), times, tz, not_before)
        if window and _plan_once(job_id, assigned, window, wanted, users) == 0:
            break
        days *= 2  # existing activities took more slots than the margin: widen the grid
    return summary(job_id, assigned, tz)


def _per_user(assigned: Select) -> tuple[int, int, list[int]]:
    """(the most contacts one user gets, the contacts that have a user, those users): one
    pass over the selection, a row per user."""
    who = assigned.subquery()
    counts = db.session.execute(
        select(who.c.owner_id, func.count()).where(who.c.owner_id.is_not(None))
        .group_by(who.c.owner_id)).all()
    return (max((n for _, n in counts), default=0), sum(n for _, n in counts),
            [owner for owner, _ in counts])


def summary(job_id: str, assigned: Select, tz: ZoneInfo) -> dict:
    """Per user: how many activities on which days; and the members nobody can take.

    Counted in SQL, not row by row: each grid day's first slot is merged in with the
    planned rows in time order, so a running count of those marks is a row's day. (A
    join of the plan to its slots on start time is a nested loop on SQLite.)
    """
    per_day = len(slot_times(Settings.current()))
    merged = union_all(
        select(plans.c.start_at, plans.c.owner_id, literal(0).label("mark"))
        .where(plans.c.job_id == job_id),
        select(slots.c.start_at, null(), literal(1))
        .where(slots.c.job_id == job_id, (slots.c.seq - 1) % per_day == 0),
    ).subquery("merged")
    dated = select(
        merged.c.start_at, merged.c.owner_id, merged.c.mark,
        func.sum(merged.c.mark).over(order_by=(merged.c.start_at, merged.c.mark.desc()))
        .label("day"),
    ).subquery("dated")
    counted = db.session.execute(
        select(dated.c.owner_id, func.count(), func.min(dated.c.start_at))
        .where(dated.c.mark == 0)
        .group_by(dated.c.owner_id, dated.c.day)
        .order_by(dated.c.owner_id, dated.c.day)
    ).all()
    per_user: dict[str, dict[str, int]] = {}
    for owner_id, n, first_start in counted:  # one row per user and day
        per_user.setdefault(str(owner_id), {})[first_start.astimezone(tz).date().isoformat()] = n
    who = assigned.subquery()
    unassigned = db.session.scalar(select(func.count()).where(who.c.owner_id.is_(None)))
    return {"planned": sum(n for _, n, _ in counted), "unassigned": unassigned,
            "per_user": per_user}


def create_from_plan(job_id: str, subject: str, activity_type: str, campaign_id=None,
                     notes: str = "", *, size: int | None = None,
                     step: Callable[[int, int], None] | None = None) -> int:
    """Turn the plan into numbered activities and their contact links; clear the plan.

    Each plan row gets its activity id before the insert, so the number ("A-" + id)
    goes in with the row and the links come from the plan without a join back —
    an UPDATE of every new row and a join on (owner, start) cost more than the
    inserts themselves. Handing out ids is the part that differs by dialect.

    ``size``: a statement per contact-id range of that many plan rows, ``step(done,
    total)`` after each (rule 4); all in the caller's one transaction, which a retry
    (a new job id) needs: committed halves would be made twice.
    """
    values = {"subject": subject, "activity_type": activity_type, "campaign_id": campaign_id,
              "job_id": job_id, "notes": notes, "now": utcnow()}
    # The grid goes first: a write, so on SQLite this transaction holds the write lock
    # before _create_sqlite reads the highest id.
    db.session.execute(delete(slots).where(slots.c.job_id == job_id))
    created = db.session.scalar(select(func.count()).where(plans.c.job_id == job_id))
    create = _create_postgresql if db.engine.dialect.name == "postgresql" else _create_sqlite
    if size is None or created <= size:
        create(values, plans.c.job_id == job_id)
    else:
        done = 0
        for span in even_ranges(plans.c.contact_id, plans.c.job_id == job_id, size=size):
            create(values, plans.c.job_id == job_id,
                   plans.c.contact_id.between(span["low"], span["high"]))
            done = min(done + size, created)
            if step is not None:
                step(done, created)
    db.session.execute(delete(plans).where(plans.c.job_id == job_id))
    return created


def _new_activities(src, values: dict):
    """INSERT … SELECT of activities from ``src`` (a plan with an ``id`` column)."""
    now = literal(values["now"], activities.c.created_at.type)
    return insert(activities).from_select(
        ["id", "number", "type", "subject", "notes", "owner_id", "start_at", "end_at", "status",
         "company_id", "campaign_id", "job_id", "created_at", "updated_at"],
        select(src.c.id, literal("A-") + cast(src.c.id, String), literal(values["activity_type"]),
               literal(values["subject"]), literal(values["notes"]), src.c.owner_id, src.c.start_at,
               src.c.end_at, literal(ActivityStatus.PLANNED.value), src.c.company_id,
               literal(values["campaign_id"], activities.c.campaign_id.type),
               literal(values["job_id"]), now, now),
    )


def _create_postgresql(values: dict, *which) -> None:
    """One statement: ids from the table's sequence (safe beside other writers), the
    activities in a data-modifying CTE, the links from the same numbered plan rows."""
    src = (
        select(func.nextval(func.pg_get_serial_sequence("activities", "id")).label("id"),
               plans.c.contact_id, plans.c.owner_id, plans.c.company_id, plans.c.start_at,
               plans.c.end_at)
        .where(*which)
        # in contact order, the foreign-key checks read the contacts' index in order too
        .order_by(plans.c.contact_id)
        .cte("src")
    )
    made = _new_activities(src, values).cte("made")
    db.session.execute(
        insert(links).from_select(["activity_id", "contact_id"],
                                  select(src.c.id, src.c.contact_id)).add_cte(made)
    )


def _create_sqlite(values: dict, *which) -> None:
    """Ids after the current highest one: SQLite lets one writer at a time, and this
    transaction already holds the write lock (create_from_plan wrote first), so no one
    else can take them."""
    base = db.session.scalar(select(func.coalesce(func.max(activities.c.id), 0)))
    numbered = (
        select((literal(base) + func.row_number().over(order_by=plans.c.contact_id)).label("id"),
               plans.c.contact_id, plans.c.owner_id, plans.c.company_id, plans.c.start_at,
               plans.c.end_at)
        .where(*which)
        .subquery("src")
    )
    db.session.execute(_new_activities(numbered, values))
    db.session.execute(
        insert(links).from_select(["activity_id", "contact_id"],
                                  select(numbered.c.id, numbered.c.contact_id))
    )


def dry_run(group_id: int, day: date, user_id=None, fallback_id=None,
            now: datetime | None = None) -> dict:
    """What a mass-creation would do, planned with the same SQL and then thrown away."""
    try:
        return plan(f"dry-run-{uuid.uuid4().hex}", group_id, day, user_id, fallback_id, now)
    finally:
        db.session.rollback()
