"""Big jobs split (rule 4): 1 worker against 2, for an import and a campaign email queue.

On one fresh schema, with real `kohde worker` processes on a real Redis:

1. import a CSV of --rows contacts (N/20 companies, ~1 % bad emails): as one run
   (the floor: KOHDE_CHUNK_ROWS above the file's size), then split into ranges of
   --chunk rows with 1 worker, then with 2 workers;
2. copy a campaign of --members members into a campaign with a template, which adds
   them and queues its email: one statement (the floor), then in contact-id ranges
   with 1 worker and with 2.

Each line is the time from enqueueing the job to its run being ``done`` (a split one's
last chunk settles it), contacts and companies emptied before each import. Senders are
held (a queued sender run due tomorrow stands in for them) so the email lines measure the
queue, not the sending (bench/outbox_send.py measures that). The table's ratio is
time ÷ the floor's: below 1.00× the split pays. It wipes its database like bench/seed.py.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, insert, literal, select, text  # noqa: E402

from bench.seed import bench_database, database_arguments  # noqa: E402
from bench.table import Line, print_table  # noqa: E402
from jobs.campaigns import start_audience_change  # noqa: E402
from jobs.imports import start_import_contacts  # noqa: E402
from jobs.queue import get_redis  # noqa: E402
from jobs.runs import dedupe_key  # noqa: E402
from models import (  # noqa: E402
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    JobRun,
    JobStatus,
    OutboxMessage,
    db,
    utcnow,
)
from models.campaigns.audience import Action  # noqa: E402

QUEUE = "kohde-bench-split"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Sizes, chunk size, Redis, and the shared database options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows to import")
    parser.add_argument("--members", type=int, default=500_000,
                        help="campaign members whose email is queued")
    parser.add_argument("--chunk", type=int, default=50_000, help="KOHDE_CHUNK_ROWS")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of the three lines, interleaved; the fastest is shown")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL",
                                                              "redis://127.0.0.1:6379/1"))
    return database_arguments(parser).parse_args(argv)


def write_csv(path: Path, rows: int) -> None:
    """``rows`` contacts: N/20 companies, every 97th email malformed."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["first_name", "last_name", "email", "company", "city", "language"])
        for n in range(rows):
            email = f"bad-{n}" if n % 97 == 5 else f"person{n}@example{n % 50}.fi"
            company = f"Company {n % max(rows // 20, 1)} Oy"
            out.writerow([f"First{n}", f"Last{n % 5000}", email, company,
                          ("Helsinki", "Turku", "Oulu")[n % 3], "fi"])


class Workers:
    """`kohde worker` processes started for one measurement, stopped by their pids."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "webadmin.cli", "worker", "--quiet"], env=self.env,
                cwd=ROOT))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def wait_done(run_id: str, limit: float = 3600) -> float:
    """Seconds until the run is finished; exits when it failed."""
    began = time.perf_counter()
    while True:
        db.session.rollback()
        run = db.session.get(JobRun, run_id)
        if run.finished:
            if run.status != JobStatus.DONE:
                sys.exit(f"{run.kind} {run.id} failed: {run.error}")
            return time.perf_counter() - began
        if time.perf_counter() - began > limit:
            sys.exit(f"{run_id} not done within {limit:.0f} s")
        time.sleep(0.1)


def measure(app, env: dict[str, str], workers: int, chunk: int, start) -> tuple[float, JobRun]:
    """Start ``workers`` workers with KOHDE_CHUNK_ROWS=``chunk``, enqueue ``start()``, time it."""
    app.config["KOHDE_CHUNK_ROWS"] = chunk
    pool = Workers({**env, "KOHDE_CHUNK_ROWS": str(chunk)})
    pool.start(workers)
    try:
        time.sleep(3)  # the workers' start-up (app, sweep) is not the job's time
        began = time.perf_counter()
        run = start()
        wait_done(run.id)
        seconds = time.perf_counter() - began
    finally:
        pool.stop()
    return seconds, db.session.get(JobRun, run.id)


def empty_contacts() -> None:
    """No contacts or companies, and (PostgreSQL) statistics that say so: every import
    starts from the same planner state, not the first from none and the later ones from
    the last one's million rows."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE outbox_messages, campaign_members, contacts, "
                                "companies RESTART IDENTITY CASCADE"))
        db.session.commit()
        analyze("contacts, companies")
    else:
        db.session.execute(delete(Contact))
        db.session.execute(delete(Company))
        db.session.commit()


def analyze(tables: str) -> None:
    """Fresh planner statistics for ``tables`` (PostgreSQL)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"ANALYZE {tables}"))
        db.session.commit()


def hold_senders() -> None:
    """A queued sender run due tomorrow: start_senders() finds it and starts none."""
    params = {"slot": 0}
    key = dedupe_key("send_outbox", params)
    db.session.add(JobRun(id=f"{key.replace(':', '-')}-held", kind="send_outbox",
                          dedupe_key=key, params=params, status=JobStatus.QUEUED,
                          not_before=utcnow() + timedelta(days=1)))
    db.session.commit()


def bench_imports(app, env, args, data: Path) -> list[Line]:
    path = data / "contacts.csv"
    write_csv(path, args.rows)
    floor = f"floor: import {args.rows:,} rows as one run, 1 worker"
    best: dict[str, Line] = {}
    for _round in range(args.rounds):
        for name, workers, chunk in ((floor, 1, args.rows + 1),
                                     ("import split, 1 worker", 1, args.chunk),
                                     ("import split, 2 workers", 2, args.chunk)):
            empty_contacts()
            seconds, run = measure(app, env, workers, chunk,
                                   lambda: start_import_contacts(path))
            assert run.result["imported"] == args.rows - len(range(5, args.rows, 97)), run.result
            keep(best, Line(name, args.rows, seconds, floor=floor), run, args.rounds)
    return list(best.values())


def keep(best: dict[str, Line], line: Line, run: JobRun, rounds: int) -> None:
    """Print one measurement; keep the fastest of each line."""
    print(f"  {line.operation}: {line.seconds:.1f} s ({run.result.get('chunks', 1)} chunk(s)), "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    line.note = f"{run.result.get('chunks', 1)} chunk(s)" + (
        f", fastest of {rounds}" if rounds > 1 else "")
    if line.operation not in best or line.seconds < best[line.operation].seconds:
        best[line.operation] = line


def bench_email(app, env, args) -> list[Line]:
    source = Campaign(name="Source")
    db.session.add(source)
    db.session.commit()
    db.session.execute(insert(CampaignMember).from_select(
        ["campaign_id", "contact_id"],
        select(literal(source.id), Contact.id).order_by(Contact.id).limit(args.members)))
    db.session.commit()
    members = db.session.scalar(select(func.count()).where(
        CampaignMember.campaign_id == source.id))
    floor = f"floor: copy {members:,} members + queue their email in one statement"
    best: dict[str, Line] = {}
    setups = ((floor, 1, members + 1), ("email queue split, 1 worker", 1, args.chunk),
              ("email queue split, 2 workers", 2, args.chunk))
    for n, (name, workers, chunk) in enumerate(setups * args.rounds):
        target = Campaign(name=f"Target {n}", email_template=EmailTemplate(
            name=f"Welcome {n}", subject="Hello", body_html="<p>Hi</p>{{ unsubscribe_url }}"))
        db.session.add(target)
        db.session.commit()
        seconds, run = measure(app, env, workers, chunk, lambda t=target: start_audience_change(
            t.id, Action.COPY_CAMPAIGN, source.id))
        made = db.session.scalar(select(func.count()).where(
            OutboxMessage.campaign_id == target.id))
        assert made == members, (made, members)
        keep(best, Line(name, members, seconds, floor=floor), run, args.rounds)
    return list(best.values())


def main(argv: list[str] | None = None) -> None:
    """Run both measurements and print one table."""
    args = parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="kohde-bench-split-"))
    with bench_database(args, REDIS_URL=args.redis_url, KOHDE_QUEUE=QUEUE,
                        KOHDE_DATA_DIR=str(data)) as (app, url):
        env = dict(os.environ, DATABASE_URL=url, REDIS_URL=args.redis_url, KOHDE_QUEUE=QUEUE,
                   KOHDE_DATA_DIR=str(data), SECRET_KEY="bench", KOHDE_JOB_LEASE_SECONDS="60")
        with app.app_context():
            get_redis(app).delete(f"rq:queue:{QUEUE}")
            hold_senders()
            lines = bench_imports(app, env, args, data) + bench_email(app, env, args)
            print(f"\nload average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
                  f"{os.getloadavg()[2]:.2f}")
            print_table("split", db.engine.dialect.name, lines)


if __name__ == "__main__":
    main()
