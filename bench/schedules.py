"""How long a scheduler tick takes with many scheduled actions and nothing due.

One fresh schema, one target group and N scheduled actions (default 10,000: daily,
weekly, monthly, cron and every-N-hours, active, their next runs spread over the
coming week; a tenth paused). Nothing is due at the measured moment. On the same
data, each --rounds times, fastest and median:

* floor — the hand-written ``SELECT id FROM scheduled_actions WHERE active AND
  next_run_at <= :now ORDER BY next_run_at LIMIT 500``: what the index answers;
* due check — ``jobs.schedules.run_due_actions(now)``, the tick's scheduled-actions
  check: settling the ledger (unsettled rows only), the due query, recording the tick
  (an upsert and a commit);
* whole tick — ``jobs.scheduler.tick(now)``: every periodic check (lost job runs,
  stuck messages, the outbox), the due check included;
* naive — what a schedule kept nowhere costs: load every action and compute its
  next due time from its recurrence in Python (once; it is slow).

No Redis is needed (nothing is due, nothing is enqueued). It wipes its database like
bench/seed.py: PostgreSQL only in a database named ``kohde_bench…`` or with --force.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from bench.seed import bench_database, database_arguments  # noqa: E402
from bench.table import Line, print_table  # noqa: E402
from jobs.scheduler import tick  # noqa: E402
from jobs.schedules import run_due_actions  # noqa: E402
from models import ScheduledAction, TargetGroup, db  # noqa: E402

FLOOR = """SELECT id FROM scheduled_actions
           WHERE active AND next_run_at <= :now ORDER BY next_run_at LIMIT 500"""
NOW = datetime(2027, 5, 3, 6, 0, tzinfo=UTC)  # a Monday morning


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Size, rounds and the database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--actions", type=int, default=10_000, help="scheduled actions (N)")
    parser.add_argument("--rounds", type=int, default=30, help="timed ticks per operation")
    return database_arguments(parser).parse_args(argv)


def _rows(n: int, group_id: int) -> list[dict]:
    """N actions of every frequency, next runs spread over the week after NOW."""
    shapes = [
        {"frequency": "daily", "time_of_day": clock_time(7, 30)},
        {"frequency": "weekly", "weekdays": "1,3,5", "time_of_day": clock_time(9, 0)},
        {"frequency": "monthly", "day_of_month": 31, "time_of_day": clock_time(8, 0)},
        {"frequency": "cron", "cron": "15 */4 * * 1-5"},
        {"frequency": "hourly", "interval_hours": 6, "start_at": datetime(2027, 1, 1, 0, 0)},
    ]
    rows = []
    for i in range(n):
        row = {
            "name": f"bench action {i}", "kind": "refresh_group", "origin": "manual",
            "target_group_id": group_id, "timezone": "Europe/Helsinki", "active": i % 10 != 0,
            "next_run_at": NOW + timedelta(minutes=1 + (i * 7919) % (7 * 24 * 60)),
            "weekdays": "", "refresh_first": False, "activity_assignee": "owner",
            "activity_day": "today", "activity_day_offset": 0, "activity_type": "call",
            "activity_subject": "", "params": {}, "catch_up": "latest", "overlap": "skip",
            "max_failures": 3, "failure_streak": 0,
            "created_at": NOW - timedelta(days=30), "updated_at": NOW - timedelta(days=30),
        }
        row.update(shapes[i % len(shapes)])
        rows.append(row)
    return rows


def timed(func, rounds: int) -> tuple[float, float]:
    """Fastest and median milliseconds of ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        func()
        times.append((time.perf_counter() - began) * 1000)
    return min(times), statistics.median(times)


def naive() -> None:
    """Every action loaded and its next due time computed in Python."""
    due = []
    for action in db.session.scalars(select(ScheduledAction)):
        if action.active and action.recurrence.next_after(NOW - timedelta(days=1)) <= NOW:
            due.append(action.id)
    db.session.rollback()


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, N actions, the measurements, the table."""
    args = parse_args(argv)
    with bench_database(args, KOHDE_QUEUE="kohde-bench") as (app, url):
        dialect = db.engine.dialect.name
        group = TargetGroup(name="bench", criteria={"all": []})
        db.session.add(group)
        db.session.commit()
        began = time.perf_counter()
        db.session.execute(insert(ScheduledAction), _rows(args.actions, group.id))
        db.session.commit()
        if dialect == "postgresql":
            db.session.remove()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        print(f"{args.actions:,} scheduled actions in {time.perf_counter() - began:.1f} s; "
              f"nothing due at {NOW:%Y-%m-%d %H:%M} UTC\n")

        def floor():
            db.session.execute(text(FLOOR), {"now": NOW.replace(tzinfo=None)
                                             if dialect == "sqlite" else NOW}).all()
            db.session.rollback()

        def check():
            result = run_due_actions(NOW)
            assert result["due"] == 0, result

        def whole():
            result = tick(NOW)
            assert result["schedules"]["due"] == 0, result

        lines = [("floor: the due query", *timed(floor, args.rounds)),
                 ("due check (run_due_actions)", *timed(check, args.rounds)),
                 ("whole tick (every check)", *timed(whole, args.rounds)),
                 ("naive: load all, compute in Python", *timed(naive, 1))]
        floor, naive_name = lines[0][0], lines[-1][0]
        print_table("schedules", dialect, [
            Line(name, args.actions, median / 1000, None if name == floor else floor,
                 naive_name, note=f"fastest {fastest:.2f} ms")
            for name, fastest, median in lines
        ], unit="actions")
        print("(seconds: the median of the rounds)")

if __name__ == "__main__":
    main()
