"""Mass-creation of slotted activities, next to the raw-SQL floor and a naive loop.

One run, one fresh schema: N contacts spread over 50 owners (round robin, every
one with an owner and a company), a target group of all of them, the default
settings (15-minute slots 08:00–16:00, Monday to Friday: 32 a day, so 100,000
contacts fill about 63 working days per owner). Then three ways to the same
activities, each starting from an empty activities table:

* floor — the slot grid written (the days and times laid out in Python, as the job
  does), a read of the owners' activities over the grid for clashes (the check the
  job makes; none here, the table is empty, so nothing moves past a taken slot), then
  two hand-written ``INSERT … SELECT``: the members numbered per owner
  (``row_number``) joined to the grid (the n-th contact takes the n-th slot), ids and
  activity numbers computed in the same statement; then the contact links. No plan
  table, no report;
* job   — ``models.activities.slots.plan`` + ``create_from_plan`` in one transaction,
  timed through the commit: what the ``group_activities`` job does (busy-slot
  check, plan table, numbers, links, clean-up, the per-user report);
* naive — per contact, one query for the owner's next free slot, then
  ``session.add`` of an Activity and an ActivityContact, on at most 5,000
  contacts; its rows/s extrapolates.

A last line runs the job once more for the same group: now every slot of the
first round is taken, so it shows the planner's cost with N activities in the way.

It wipes its database like bench/seed.py: PostgreSQL only in a database
whose name starts with ``kohde_bench``, or any with --force. See bench/README.md.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Not this folder on the path: bench/email.py would stand in for the standard library's
# email package. And this checkout's code, even when the installed package is another copy.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bench.seed import (  # noqa: E402
    SEED,
    bench_database,
    database_arguments,
    references,
    run_floor,
)
from bench.table import Line, print_table  # noqa: E402
from models import (  # noqa: E402
    Activity,
    ActivityContact,
    ActivitySlot,
    Contact,
    Settings,
    TargetGroup,
    TargetGroupMember,
    db,
)
from models.activities.slots import create_from_plan, plan, slot_times, working_days  # noqa: E402
from models.groups.refresh import refresh  # noqa: E402
from models.seed import seed_demo  # noqa: E402
from models.settings import SettingsValues  # noqa: E402

OWNERS = 50
NAIVE_MAX = 5_000
DAY = date(2027, 1, 4)  # a Monday
FLOOR_JOB = "bench-floor"
UTC = ZoneInfo("UTC")

# First the check the job makes too: do the owners' activities (not cancelled) overlap
# any grid slot? One read of them over the grid; none do here (the table is empty), so
# the n-th member of an owner (by contact id) takes the n-th slot with no reflow past
# taken ones. (The check cannot sit in the INSERT as an anti-join: it would read the
# rows the statement is writing, index entries and all, once per row.) Ids are handed
# out in contact-id order from :base, so the links need no join back.
FLOOR_CLASHES = """
SELECT count(*) FROM activities a
JOIN activity_slots s ON s.job_id = :job AND a.start_at < s.end_at AND a.end_at > s.start_at
WHERE a.status <> 'cancelled'
  AND a.owner_id IN (SELECT c.owner_id FROM target_group_members m
                     JOIN contacts c ON c.id = m.contact_id WHERE m.group_id = :group)
"""
FLOOR_ACTIVITIES = """
INSERT INTO activities (id, number, type, subject, notes, owner_id, start_at, end_at, status,
                        company_id, job_id, created_at, updated_at)
SELECT :base + r.g, 'A-' || (:base + r.g), 'call', 'Bench call', '', r.owner_id, s.start_at,
       s.end_at, 'planned', r.company_id, :job, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM (SELECT c.id, c.owner_id, c.company_id,
             row_number() OVER (PARTITION BY c.owner_id ORDER BY c.id) AS n,
             row_number() OVER (ORDER BY c.id) AS g
      FROM target_group_members m JOIN contacts c ON c.id = m.contact_id
      WHERE m.group_id = :group) AS r
JOIN activity_slots s ON s.job_id = :job AND s.seq = r.n
"""
FLOOR_LINKS = """
INSERT INTO activity_contacts (activity_id, contact_id)
SELECT :base + row_number() OVER (ORDER BY m.contact_id), m.contact_id
FROM target_group_members m WHERE m.group_id = :group
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: sizes, database and what may be wiped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="group members (N)")
    parser.add_argument("--owners", type=int, default=OWNERS, help="users owning the contacts")
    return database_arguments(parser).parse_args(argv)


def seed(contacts: int, owners: int) -> int:
    """Owners, N/20 companies, N contacts (round robin over owners) and a group of them all."""
    seed_demo(0, max(contacts // 20, 1), owners, SEED)
    run_floor(contacts, references())  # bench/seed.py's INSERT … SELECT of contacts
    group = TargetGroup(name="Everyone", criteria={"all": []})
    db.session.add(group)
    db.session.commit()
    refresh(group)
    db.session.commit()
    return group.id


def empty_activities() -> None:
    """Every way starts from an empty activities table (and no left-over slots or plans)."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE activities, activity_contacts, activity_slots, "
                              "activity_plans, workflow_runs RESTART IDENTITY"))
        else:
            for table in ("workflow_runs", "activity_contacts", "activities", "activity_slots",
                          "activity_plans"):
                conn.execute(text(f"DELETE FROM {table}"))


def counts() -> tuple[int, int]:
    """(activities, contact links) written."""
    return (db.session.scalar(select(func.count()).select_from(Activity)),
            db.session.scalar(select(func.count()).select_from(ActivityContact)))


def grid(settings: SettingsValues, contacts: int, owners: int) -> list[tuple[datetime, datetime]]:
    """The slot grid (UTC) long enough for the busiest owner, as the job would lay it out."""
    tz = settings.tz
    times = slot_times(settings)
    per_owner = -(-contacts // owners)
    days = working_days(DAY, -(-per_owner // len(times)),
                        {int(d) for d in settings.working_days.split(",")})
    return [(datetime.combine(d, b, tz).astimezone(UTC), datetime.combine(d, e, tz).astimezone(UTC))
            for d in days for b, e in times]


def run_floor_sql(group_id: int, slots: list[tuple[datetime, datetime]]) -> float:
    """The grid written (as the job writes its own), then the two INSERT … SELECTs."""
    params = {"base": 0, "group": group_id, "job": FLOOR_JOB}
    began = time.perf_counter()
    db.session.execute(insert(ActivitySlot), [
        {"job_id": FLOOR_JOB, "seq": n, "start_at": s, "end_at": e}
        for n, (s, e) in enumerate(slots, 1)])
    assert db.session.scalar(text(FLOOR_CLASHES), params) == 0
    db.session.execute(text(FLOOR_ACTIVITIES), params)
    db.session.execute(text(FLOOR_LINKS), params)
    if db.engine.dialect.name == "postgresql":  # ids were given explicitly: move the sequence on
        db.session.execute(text("SELECT setval('activities_id_seq', (SELECT max(id) FROM "
                                "activities))"))
    db.session.commit()
    return time.perf_counter() - began


def run_job(group_id: int, job_id: str) -> tuple[float, float]:
    """plan + create_from_plan + commit, as the job runs them; (seconds, of which planning)."""
    began = time.perf_counter()
    result = plan(job_id, group_id, DAY)
    planned = time.perf_counter()
    created = create_from_plan(job_id, "Bench call", "call")
    db.session.commit()
    done = time.perf_counter()
    assert created == result["planned"], (created, result["planned"])
    return done - began, planned - began


def run_naive(rows: int, slots: list[tuple[datetime, datetime]]) -> float:
    """Per contact: one query for the owner's last end, the next slot after it, two objects."""
    session = db.session
    starts = [s for s, _ in slots]
    members = session.execute(
        select(Contact.id, Contact.owner_id, Contact.company_id)
        .join(TargetGroupMember, TargetGroupMember.contact_id == Contact.id)
        .order_by(Contact.id).limit(rows)
    ).all()
    began = time.perf_counter()
    for contact_id, owner_id, company_id in members:
        last_end = session.scalar(
            select(func.max(Activity.end_at))
            .where(Activity.owner_id == owner_id, Activity.start_at >= slots[0][0])
        )
        n = 0 if last_end is None else bisect.bisect_left(starts, last_end)
        activity = Activity(type="call", subject="Bench call", notes="", owner_id=owner_id,
                            start_at=slots[n][0], end_at=slots[n][1], status="planned",
                            company_id=company_id, job_id="bench-naive")
        session.add(activity)
        session.flush()  # the id, for the number and the link
        activity.number = f"A-{activity.id}"
        session.add(ActivityContact(activity_id=activity.id, contact_id=contact_id))
    session.commit()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, seed, the three measurements, the table; then clean up unless --keep."""
    args = parse_args(argv)
    naive_rows = min(args.contacts, NAIVE_MAX)
    with bench_database(args):
        dialect = db.engine.dialect.name
        group_id = seed(args.contacts, args.owners)
        Settings.get()  # the row, made once
        settings = Settings.current()
        db.session.commit()
        slots = grid(settings, args.contacts, args.owners)
        per_day = len(slot_times(settings))
        if dialect == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()

        floor_seconds = run_floor_sql(group_id, slots)
        assert counts() == (args.contacts, args.contacts), counts()
        empty_activities()

        naive_seconds = run_naive(naive_rows, slots)
        assert counts() == (naive_rows, naive_rows), counts()
        empty_activities()

        job_seconds, plan_seconds = run_job(group_id, "bench-job")
        assert counts() == (args.contacts, args.contacts), counts()
        # The same group again: every slot of the first round is taken now, so the
        # planner skips N existing activities (its grid doubles once).
        again_seconds, again_plan = run_job(group_id, "bench-job-again")
        assert counts() == (2 * args.contacts, 2 * args.contacts), counts()

        print(f"contacts: {args.contacts:,}; owners: {args.owners}; slots a day: {per_day}; "
              f"working days filled: {len(slots) // per_day}\n")
        floor, naive = "floor: INSERT … SELECT ×2", "naive: query + session.add"
        print_table("activities", dialect, [
            Line(floor, args.contacts, floor_seconds, naive=naive),
            Line(naive, naive_rows, naive_seconds, floor, naive),
            Line("job: plan + create_from_plan", args.contacts, job_seconds, floor, naive),
            Line("job again, N activities in the way", args.contacts, again_seconds, floor,
                 naive),
        ])
        print(f"(job: {plan_seconds:.2f} s planning, {job_seconds - plan_seconds:.2f} s "
              f"creating and committing; again: {again_plan:.2f} s planning)")


if __name__ == "__main__":
    main()
