"""The set-based slot planner against a plain Python planner, on random calendars.

jobs/activities.py finds free slots with one sorted pass over slots and existing
activities; here a brute-force loop checks every slot against every activity.
Random existing activities cover partial overlaps, edges touching a slot, long
activities starting before the first day, cancelled ones, and the switch to
summer time (Sunday 28 March 2027 in Helsinki).
"""

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jobs.groups import refresh
from jobs.runs import enqueue
from models import (
    Activity,
    ActivityContact,
    ActivityStatus,
    Contact,
    JobRun,
    JobStatus,
    Role,
    TargetGroup,
    db,
)
from models.activities.slots import dry_run, slot_times, working_days
from tests.conftest import activity_slots, make_user

HELSINKI = ZoneInfo("Europe/Helsinki")
UTC = ZoneInfo("UTC")
FIRST_DAY = date(2027, 3, 25)  # Thursday; the clocks go forward on Sunday the 28th


def reference_plan(settings, existing, people, fallback_id):
    """contact id -> (owner id, start, end): each owner's n-th contact, n-th free slot."""
    times = slot_times(settings)
    weekdays = {int(d) for d in settings.working_days.split(",")}
    grid = [(datetime.combine(d, b, HELSINKI).astimezone(UTC),
             datetime.combine(d, e, HELSINKI).astimezone(UTC))
            for d in working_days(FIRST_DAY, 40, weekdays) for b, e in times]
    queues: dict[int, list[int]] = {}
    for contact_id, owner_id in sorted(people.items()):
        owner = owner_id or fallback_id
        if owner is not None:
            queues.setdefault(owner, []).append(contact_id)
    plan = {}
    for owner, queue in queues.items():
        busy = [(a.start_at, a.end_at) for a in existing
                if a.owner_id == owner and a.status != ActivityStatus.CANCELLED]
        free = [s for s in grid if not any(b0 < s[1] and b1 > s[0] for b0, b1 in busy)]
        for contact_id, (start, end) in zip(queue, free, strict=False):
            plan[contact_id] = (owner, start, end)
    return plan


@pytest.fixture
def calendar_settings(ctx):
    """45-minute slots from 08:00; the last ends 11:45 (12:00 is not a multiple of 45)."""
    return activity_slots(45, time(12, 0))


def random_world(rng: random.Random):
    """Four owners and a bystander, 30 contacts (some without owner), messy calendars;
    the fourth owner has nothing in them (the planner's path for idle users)."""
    users = [make_user(f"u{n}@example.fi", Role.USER) for n in range(5)]
    people = [Contact(last_name=f"C{n}", email=f"c{n}@example.fi",
                      owner=rng.choice([*users[:3], users[0], users[4], None]))
              for n in range(30)]
    existing = []
    for _ in range(60):
        day = FIRST_DAY + timedelta(days=rng.randrange(-3, 9))
        if rng.random() < 0.5:  # on a slot's edge: touching is not overlapping
            at = datetime.combine(day, time(8)) + timedelta(minutes=45 * rng.randrange(-1, 6))
        else:
            at = datetime.combine(day, time(rng.randrange(6, 13), rng.choice([0, 5, 15, 30, 45])))
        start = at.replace(tzinfo=HELSINKI)
        minutes = rng.choice([5, 15, 30, 45, 60, 90, 240, 60 * 26, 60 * 80])
        status = rng.choice([ActivityStatus.PLANNED] * 3 + [ActivityStatus.DONE,
                                                            ActivityStatus.CANCELLED])
        end = start + timedelta(minutes=minutes)
        existing.append(Activity(owner=rng.choice(users[:4]), subject="Existing", start_at=start,
                                 end_at=end, status=status))
    group = TargetGroup(name="Random", criteria={"all": []})
    db.session.add_all([*people, *existing, group])
    db.session.commit()
    refresh(group)
    return users, people, existing, group


@pytest.mark.parametrize("seed", range(6))
def test_the_job_plans_what_a_brute_force_planner_plans(calendar_settings, run_jobs, seed):
    rng = random.Random(seed)
    users, people, existing, group = random_world(rng)
    fallback = users[1] if seed % 2 else None
    owners = {p.id: p.owner_id for p in people}
    expected = reference_plan(calendar_settings, existing, owners, fallback and fallback.id)

    preview = dry_run(group.id, FIRST_DAY, None, fallback and fallback.id)
    assert preview["planned"] == len(expected)
    run = enqueue("group_activities", {"group_id": group.id, "day": FIRST_DAY.isoformat(),
                                       "fallback_user_id": fallback and fallback.id})
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.DONE, run.error
    assert run.result["per_user"] == preview["per_user"]
    made = db.session.execute(
        select(ActivityContact.contact_id, Activity.owner_id, Activity.start_at, Activity.end_at)
        .join(Activity, Activity.id == ActivityContact.activity_id)
        .where(Activity.job_id == run.id)
    ).all()
    assert {c: (o, s, e) for c, o, s, e in made} == expected
