"""The pieces big jobs are split with: even id ranges, and progress inside one long
transaction carried by the heartbeat."""

from __future__ import annotations

import time

from sqlalchemy import insert, select

from jobs.liveness import Heartbeat
from jobs.runs import JobContext
from models import Contact, JobRun, JobStatus, db
from models.ranges import even_ranges


def test_even_ranges_hold_the_same_number_of_rows_however_sparse_the_ids(ctx):
    db.session.execute(insert(Contact), [{"id": n * n, "email": f"c{n}@example.fi"}
                                         for n in range(1, 11)])  # ids 1, 4, 9, …, 100
    db.session.commit()
    ranges = even_ranges(Contact.id, Contact.id > 1, size=4)
    assert ranges == [{"low": 4, "high": 35}, {"low": 36, "high": 99}, {"low": 100, "high": 100}]
    counts = [db.session.scalar(select(db.func.count()).where(
        Contact.id > 1, Contact.id.between(r["low"], r["high"]))) for r in ranges]
    assert counts == [4, 4, 1]
    assert even_ranges(Contact.id, Contact.id > 1000, size=4) == []


def test_progress_aside_reaches_the_row_with_the_next_heartbeat(app, ctx):
    db.session.add(JobRun(id="long-1", kind="group_activities", dedupe_key="k",
                          status=JobStatus.RUNNING))
    db.session.commit()
    heartbeat = Heartbeat(db.engine, "long-1", 0.3).start()
    try:
        JobContext(run_id="long-1", user_id=None, heartbeat=heartbeat).progress_aside(40, 100)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            db.session.rollback()
            run = db.session.get(JobRun, "long-1")
            if run.progress_done == 40:
                break
            time.sleep(0.05)
    finally:
        heartbeat.stop()
    assert (run.progress_done, run.progress_total) == (40, 100)
