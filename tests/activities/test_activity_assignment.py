"""The planner with any selection and assignment, and never into a slot that has begun."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jobs.groups import refresh
from models import ActivityPlan, Contact, Role, TargetGroup, db, utcnow
from models.activities.assignment import assignees, evenly, to_owner
from models.activities.slots import dry_run, plan_for
from tests.activities.wizard_support import hourly_slots
from tests.conftest import make_user

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
def people(ctx):
    """Ten contacts: four of Anna's, six without an owner; four users."""
    hourly_slots()
    users = [make_user(f"u{n}@example.fi", Role.USER) for n in range(4)]
    rows = [Contact(last_name=f"C{n}", owner=users[0] if n < 4 else None) for n in range(10)]
    db.session.add_all(rows)
    db.session.commit()
    return {"users": users, "contacts": rows}


def all_ids():
    return select(Contact.id.label("id"))


def owners_of(query) -> dict[int, int | None]:
    sub = query.subquery()
    return dict(db.session.execute(select(sub.c.contact_id, sub.c.owner_id)).all())


def test_evenly_among_three_users_counts_differ_by_at_most_one(people):
    three = [u.id for u in people["users"][1:]]
    got = owners_of(evenly(all_ids(), three))
    assert set(got) == {c.id for c in people["contacts"]}
    counts = Counter(got.values())
    assert set(counts) == set(three)
    assert max(counts.values()) - min(counts.values()) <= 1  # 10 among 3: 4, 3, 3


def test_evenly_ignores_ids_that_are_not_users_and_leaves_none_unassigned(people):
    got = owners_of(evenly(all_ids(), [people["users"][1].id, 99999]))
    assert set(got.values()) == {people["users"][1].id}


def test_owner_with_fallback_and_without(people):
    anna, fallback = people["users"][0], people["users"][3]
    with_fallback = Counter(owners_of(to_owner(all_ids(), fallback.id)).values())
    assert with_fallback == {anna.id: 4, fallback.id: 6}
    without = Counter(owners_of(to_owner(all_ids())).values())
    assert without == {anna.id: 4, None: 6}


def test_a_fixed_user_gets_all(people):
    user = people["users"][2]
    assert set(owners_of(assignees(all_ids(), user_id=user.id)).values()) == {user.id}


def test_today_slots_that_have_started_are_not_used(people):
    user = people["users"][1]
    today = date(2026, 11, 24)  # a Tuesday
    now = datetime(2026, 11, 24, 10, 20, tzinfo=HELSINKI)  # the 10:00 slot has begun
    result = plan_for("t-today", assignees(all_ids(), user_id=user.id), today, now)
    starts = sorted(db.session.scalars(select(ActivityPlan.start_at)
                                       .where(ActivityPlan.job_id == "t-today")))
    local = [s.astimezone(HELSINKI) for s in starts]
    assert local[0] == datetime(2026, 11, 24, 11, tzinfo=HELSINKI)
    assert [s.hour for s in local[:5]] == [11, 12, 13, 14, 15]  # the last one ends at 16:00
    assert local[5] == datetime(2026, 11, 25, 8, tzinfo=HELSINKI)
    assert result["per_user"][str(user.id)] == {"2026-11-24": 5, "2026-11-25": 5}
    db.session.rollback()


def test_a_later_day_keeps_its_early_slots_and_the_real_clock_is_respected(people):
    group = TargetGroup(name="All", criteria={"all": []})
    db.session.add(group)
    db.session.commit()
    refresh(group)
    user = people["users"][1]
    tomorrow = datetime.now(HELSINKI).date() + timedelta(days=1)
    later = dry_run(group.id, tomorrow, user.id)
    assert later["per_user"][str(user.id)][tomorrow.isoformat()] == 8  # 08:00 … 15:00

    before = utcnow()
    plan_for("t-now", assignees(all_ids(), user_id=user.id), datetime.now(HELSINKI).date())
    first = db.session.scalar(select(ActivityPlan.start_at).where(ActivityPlan.job_id == "t-now")
                              .order_by(ActivityPlan.start_at))
    assert first >= before
    assert first.astimezone(UTC) - before < timedelta(hours=17)  # the next free slot, not later
    db.session.rollback()
