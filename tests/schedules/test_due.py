"""The due check with a fake clock: a simulated month of daily, weekly, monthly and cron
actions across Helsinki's daylight-saving changes, two schedulers, catch-up after a
scheduler was down, overlap, and Run now against the scheduler."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, time, timedelta

import pytest

from jobs.scheduler import tick
from jobs.schedules import ScheduleError, run_now
from models import ScheduledAction, SchedulerTick, clock, db

from ..conftest import process_env
from .support import action, ledger, local, tick_at

MONTHS = {
    # spring: 03:30 does not exist on Sunday 2027-03-28 (03:00 → 04:00)
    "spring": (local(2027, 3, 14, 0, 0), local(2027, 4, 14, 0, 0), (2027, 3, 28)),
    # autumn: 03:00–03:59 happens twice on Sunday 2027-10-31 (04:00 → 03:00)
    "autumn": (local(2027, 10, 17, 0, 0), local(2027, 11, 17, 0, 0), (2027, 10, 31)),
}


def _expected(kind: str, start: datetime, end: datetime, dst_day) -> list[datetime]:
    """The due instants by hand: 03:30 Helsinki, except 04:00 on the spring-forward day."""
    days = []
    cursor = datetime(start.year, start.month, start.day)
    while True:
        instant = local(cursor.year, cursor.month, cursor.day, 3, 30)
        if (cursor.year, cursor.month, cursor.day) == dst_day and dst_day[1] == 3:
            instant = local(2027, 3, 28, 4, 0)
        if instant >= end:
            break
        if instant > start and (
            kind in ("daily", "cron")
            or (kind == "weekly" and cursor.isoweekday() in (3, 7))
            or (kind == "monthly" and cursor.day == 28)
        ):
            days.append(instant)
        cursor += timedelta(days=1)
    return days


@pytest.mark.parametrize("season", ["spring", "autumn"])
def test_a_simulated_month_fires_exactly_at_the_due_times(app, ctx, season):
    start, end, dst_day = MONTHS[season]
    common = {"overlap": "queue"}  # no jobs run here: later due times wait in the ledger
    made = {
        "daily": action(start, frequency="daily", time_of_day=time(3, 30), **common),
        "weekly": action(start, frequency="weekly", weekdays="3,7", time_of_day=time(3, 30),
                         **common),
        "monthly": action(start, frequency="monthly", day_of_month=28, time_of_day=time(3, 30),
                          **common),
        "cron": action(start, frequency="cron", cron="30 3 * * *", **common),
    }
    expected = {kind: _expected(kind, start, end, dst_day) for kind in made}
    assert len(expected["daily"]) == 31 and len(expected["weekly"]) == 9
    assert len(expected["monthly"]) == 1
    all_due = sorted({d for dues in expected.values() for d in dues})
    # A tick every three hours of the month, and one a minute before and at each due time.
    hours = int((end - start).total_seconds() // 3600)
    ticks = {start + timedelta(hours=h) for h in range(0, hours, 3)}
    ticks |= {d - timedelta(minutes=1) for d in all_due} | set(all_due)
    for moment in sorted(ticks):
        before = {kind: len(ledger(a.id)) for kind, a in made.items()}
        tick_at(moment)
        for kind, a in made.items():
            runs = ledger(a.id)
            due_now = [d for d in expected[kind] if d == moment]
            assert len(runs) == before[kind] + len(due_now), (kind, moment)
            if due_now:
                assert runs[-1].due_at == moment and runs[-1].trigger == "schedule"
    for kind, a in made.items():
        assert [r.due_at for r in ledger(a.id)] == expected[kind], kind


def test_the_spring_gap_runs_at_four_and_the_autumn_repeat_once(app, ctx):
    daily = action(local(2027, 3, 27, 12), frequency="daily", time_of_day=time(3, 30),
                   overlap="queue")
    assert daily.next_run_at == local(2027, 3, 28, 4, 0)
    assert tick_at(local(2027, 3, 28, 4, 0) - timedelta(minutes=1))["due"] == 0
    assert tick_at(local(2027, 3, 28, 4, 0))["started"] == 1
    db.session.refresh(daily)
    assert daily.next_run_at == local(2027, 3, 29, 3, 30)

    autumn = action(local(2027, 10, 30, 12), frequency="cron", cron="30 3 * * *", name="cron",
                    overlap="queue")
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 03:30 EEST, the first 03:30
    assert autumn.next_run_at == first
    tick_at(first)
    tick_at(first + timedelta(hours=1))  # 03:30 EET, the second 03:30: nothing again
    assert [r.due_at for r in ledger(autumn.id)] == [first]
    db.session.refresh(autumn)
    assert autumn.next_run_at == local(2027, 11, 1, 3, 30)


def test_two_schedulers_at_once_give_one_run_per_due_time(app, ctx):
    due = local(2027, 5, 3, 9, 0)
    a = action(due - timedelta(hours=1), frequency="daily", time_of_day=time(9, 0))
    barrier, results, errors = threading.Barrier(2), [], []

    def scheduler():
        with app.app_context():
            barrier.wait()
            try:
                results.append(tick()["schedules"])
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

    # The clock is one per process: frozen here, once, for both threads.
    with clock.frozen(due):
        threads = [threading.Thread(target=scheduler) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert len(ledger(a.id)) == 1
    assert sorted(r.get("started", 0) for r in results) == [0, 1]


def test_two_scheduler_processes_give_one_run_per_due_time(app, ctx):
    due = local(2027, 5, 3, 9, 0)
    a = action(due - timedelta(hours=1), frequency="daily", time_of_day=time(9, 0))
    env = process_env(app)
    # --interval 1: the second waits that long for the first one's lock, then ticks too.
    cmd = [sys.executable, "-m", "webadmin.cli", "scheduler", "--burst", "--quiet",
           "--interval", "1", "--now", due.isoformat()]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    runs = ledger(a.id)
    assert [r.due_at for r in runs] == [due]
    assert runs[0].job_run_id is not None
    tick_row = db.session.get(SchedulerTick, app.config["KOHDE_QUEUE"])
    assert tick_row.ticked_as == due


def test_a_scheduler_down_three_days_runs_the_latest_missed_once(app, ctx):
    a = action(local(2027, 5, 1, 12), frequency="daily", time_of_day=time(9, 0))
    assert a.next_run_at == local(2027, 5, 2, 9, 0)
    back = local(2027, 5, 5, 10, 0)  # 2nd, 3rd, 4th and 5th at 09:00 went by
    assert tick_at(back)["started"] == 1
    runs = ledger(a.id)
    assert [(r.due_at, r.trigger) for r in runs] == [(local(2027, 5, 5, 9, 0), "catch_up")]
    db.session.refresh(a)
    assert a.next_run_at == local(2027, 5, 6, 9, 0)
    assert tick_at(back + timedelta(minutes=1))["due"] == 0


def test_catch_up_skip_runs_nothing_for_missed_times(app, ctx):
    a = action(local(2027, 5, 1, 12), frequency="daily", time_of_day=time(9, 0), catch_up="skip")
    tick_at(local(2027, 5, 5, 10, 0))
    runs = ledger(a.id)
    assert [(r.status, r.job_run_id) for r in runs] == [("skipped", None)]
    assert "missed" in runs[0].summary
    db.session.refresh(a)
    assert a.next_run_at == local(2027, 5, 6, 9, 0)


def test_overlap_skip_while_the_previous_run_is_still_queued(app, ctx):
    a = action(local(2027, 5, 1, 12), frequency="hourly", interval_hours=1,
               start_at=datetime(2027, 5, 2, 9, 0))
    tick_at(local(2027, 5, 2, 9, 0))
    tick_at(local(2027, 5, 2, 10, 0))  # the 09:00 run has not run (no worker)
    assert [r.status for r in ledger(a.id)] == ["queued", "skipped"]


def test_run_now_and_the_scheduler_share_the_due_minute(app, ctx, run_jobs):
    due = local(2027, 5, 3, 9, 0)
    a = action(due - timedelta(hours=1), frequency="daily", time_of_day=time(9, 0))
    with clock.frozen(due + timedelta(seconds=20)):
        run = run_now(a)
    assert run.due_at == due and run.trigger == "run_now"
    run_jobs()
    assert tick_at(due + timedelta(seconds=30)).get("taken") == 1
    assert len(ledger(a.id)) == 1
    with clock.frozen(due + timedelta(seconds=40)), pytest.raises(ScheduleError, match="already"):
        run_now(db.session.get(ScheduledAction, a.id))
    db.session.refresh(a)
    assert a.next_run_at == local(2027, 5, 4, 9, 0)


def test_overlap_queue_waits_and_starts_after_the_previous_run(app, ctx, run_jobs):
    a = action(local(2027, 5, 1, 12), frequency="hourly", interval_hours=1, overlap="queue",
               start_at=datetime(2027, 5, 2, 9, 0))
    tick_at(local(2027, 5, 2, 9, 0))
    tick_at(local(2027, 5, 2, 10, 0))  # the 09:00 run is still queued
    assert [r.status for r in ledger(a.id)] == ["queued", "waiting"]
    run_jobs()
    assert [r.status for r in ledger(a.id)] == ["done", "waiting"]
    assert tick_at(local(2027, 5, 2, 10, 1)).get("released") == 1
    run_jobs()
    assert [r.status for r in ledger(a.id)] == ["done", "done"]


def test_a_run_whose_job_failed_elsewhere_is_settled_by_the_next_tick(app, ctx):
    from models import JobRun

    a = action(local(2027, 5, 1, 12), frequency="daily", time_of_day=time(9, 0))
    tick_at(local(2027, 5, 2, 9, 0))
    (run,) = ledger(a.id)
    job = db.session.get(JobRun, run.job_run_id)
    job.status, job.error = "failed", "LeaseExpired: the worker died"  # what a reaper writes
    db.session.commit()
    assert tick_at(local(2027, 5, 2, 9, 1)).get("settled") == 1
    (run,) = ledger(a.id)
    assert run.status == "failed" and "worker died" in run.error
    db.session.refresh(a)
    assert a.failure_streak == 1 and a.last_status == "failed"
