"""Chaos: how a send of N messages recovers from the faults a real installation meets.

On PostgreSQL, with DEFAULT settings (30 s leases, a reaper pass every 10 s, the
scheduler's 60 s tick, 50 messages a second), one `kohde worker` and one
`kohde scheduler` as subprocesses, a local aiosmtpd sink (in this process) and a Redis
of its own (an embedded redis-server on a free port). Each scenario queues N messages
afresh, starts the processes and a send, and once a sixth of them is out injects one
fault:

* horse      — kill -9 of the work horse running the send (what the OOM killer does);
* worker     — kill -9 of the whole worker (its horse too), then a new worker is
  started at once, as a supervisor would;
* pg_terminate — ``pg_terminate_backend`` of every other connection to the database
  (what a restart or failover does to the connections);
* redis_flush  — ``FLUSHDB`` of the Redis the jobs go through.

One row per scenario: messages lost (never delivered), delivered twice, seconds from the
fault until the sink received the next message ("resumed"), and until every message was
out. It wipes the database it runs on, so only a database named ``kohde_bench…`` (made
here when missing) or one given with --force. See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from sqlalchemy import create_engine, func, insert, literal, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.seed import bench_database, database_arguments  # noqa: E402
from jobs import embedded_redis  # noqa: E402
from jobs.email import sink  # noqa: E402
from jobs.email.sender import start_senders  # noqa: E402
from jobs.queue import get_redis  # noqa: E402
from models import (  # noqa: E402
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    JobRun,
    JobStatus,
    OutboxMessage,
    OutboxState,
    Settings,
    db,
    utcnow,
)
from models.email.outbox import queue_campaign_join  # noqa: E402
from webadmin.config import database_url  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/kohde_bench_chaos"
SCENARIOS = ("horse", "worker", "pg_terminate", "redis_flush")
JOB_ID = "chaos"  # the members' job id: queue_campaign_join picks exactly them
QUEUE = "kohde-chaos"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: size, scenarios, database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages per scenario (N)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--give-up", type=float, default=300,
                        help="seconds after the fault before what is left counts as lost")
    args = database_arguments(parser).parse_args(argv)
    args.database_url = args.database_url or DEFAULT_URL
    return args


def ensure_database(url: str) -> None:
    """Create the bench database when it does not exist yet (PostgreSQL)."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                           {"d": parsed.database}):
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def create_audience(messages: int) -> int:
    """N contacts in a campaign with a template (default settings); the campaign's id."""
    template = EmailTemplate(name="Chaos", subject="Hei {{ contact.first_name }}",
                             body_html="<p>Hei!</p>{{ unsubscribe_url }}")
    campaign = Campaign(name="Chaos", email_template=template)
    db.session.add(campaign)
    Settings.get()  # the defaults: 50 messages a second
    db.session.commit()
    db.session.execute(insert(Contact), [{"first_name": f"P{n}", "last_name": "Chaos",
                                          "email": f"p{n}@example.fi"} for n in range(messages)])
    db.session.execute(insert(CampaignMember).from_select(
        ["campaign_id", "contact_id", "added_at", "job_id"],
        select(literal(campaign.id), Contact.id, literal(utcnow(), CampaignMember.added_at.type),
               literal(JOB_ID))))
    db.session.commit()
    return campaign.id


def fresh_outbox(campaign_id: int, messages: int) -> None:
    """An empty outbox and job history, then the campaign's N messages queued again."""
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.execute(JobRun.__table__.delete())
    db.session.commit()
    assert queue_campaign_join(campaign_id, job_id=JOB_ID)["queued"] == messages
    db.session.commit()


class World:
    """The processes of one scenario: workers and a scheduler, stopped at the end."""

    def __init__(self, env: dict):
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "webadmin.cli", *args, "--quiet"],
                                env=self.env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        for pid in db.session.scalars(select(JobRun.worker_pid).where(
                JobRun.worker_pid.is_not(None))):
            try:
                os.kill(pid, signal.SIGKILL)  # an orphaned horse
            except (ProcessLookupError, PermissionError):
                pass
        db.session.remove()


def running_sender() -> JobRun | None:
    db.session.rollback()
    return db.session.scalar(select(JobRun).where(JobRun.kind == "send_outbox",
                                                  JobRun.status == JobStatus.RUNNING))


def unsent() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).where(OutboxMessage.state != OutboxState.SENT))


def wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def forget_connections() -> None:
    """Drop every pooled connection of this process (after a fault some are dead)."""
    try:
        db.session.invalidate()  # closes without the ROLLBACK a dead connection would refuse
    except Exception:
        pass
    db.session.remove()
    db.engine.dispose()


def fault(name: str, world: World, redis_conn) -> None:
    """Inject one fault into the running send."""
    run = running_sender()
    if name == "horse":
        os.kill(run.worker_pid, signal.SIGKILL)
    elif name == "worker":
        world.procs[0].kill()  # the worker
        os.kill(run.worker_pid, signal.SIGKILL)  # and its horse (its own process group)
        world.start("worker")  # a supervisor starts a new one
    elif name == "pg_terminate":
        db.session.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        db.session.commit()
        forget_connections()  # this process's other pooled connections died too
    elif name == "redis_flush":
        redis_conn.flushdb()


def scenario(name: str, args, campaign_id: int, env: dict, memory, redis_conn) -> dict:
    """One scenario, from a fresh outbox to every message out (or --give-up)."""
    redis_conn.flushdb()
    fresh_outbox(campaign_id, args.messages)
    memory.messages.clear()
    world = World(env)
    try:
        world.start("worker")
        world.start("scheduler")
        start_senders()  # as a campaign join does
        assert wait(lambda: len(memory.messages) >= args.messages // 6, 120), "sending never began"
        assert wait(lambda: running_sender() is not None, 10), "no sender running"
        fault(name, world, redis_conn)
        at_fault = time.monotonic()
        time.sleep(0.2)  # what was in flight at the fault arrives
        seen = len(memory.messages)
        resumed = None
        while time.monotonic() - at_fault < args.give_up:
            if resumed is None and len(memory.messages) > seen:
                resumed = time.monotonic() - at_fault
            if len(set(memory.recipients())) >= args.messages and unsent() == 0:
                break
            time.sleep(0.1)
        done = time.monotonic() - at_fault
        wait(lambda: running_sender() is None, 15)  # the last sender records its end
        per_recipient = Counter(memory.recipients())
        runs = db.session.scalars(select(JobRun).where(JobRun.kind == "send_outbox")).all()
        return {
            "scenario": name,
            "lost": args.messages - len(per_recipient),
            "duplicated": sum(n - 1 for n in per_recipient.values() if n > 1),
            "resumed_s": resumed,
            "all_out_s": done if len(per_recipient) >= args.messages else None,
            "runs": len(runs),
            "failed": sum(r.status == JobStatus.FAILED for r in runs),
            "left_running": sum(r.status == JobStatus.RUNNING for r in runs),
        }
    finally:
        world.stop()


def fmt(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print the table."""
    args = parse_args(argv)
    ensure_database(args.database_url)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="kohde-chaos-"))
    redis_port, smtp_port = embedded_redis.free_port(), embedded_redis.free_port()
    redis_proc = embedded_redis.start(redis_port, workdir)
    memory = sink.MemorySink()
    controller = sink.start(memory, smtp_port)
    config = {"REDIS_URL": embedded_redis.url(redis_port), "KOHDE_QUEUE": QUEUE,
              "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
              "KOHDE_BASE_URL": "https://crm.example.fi", "KOHDE_INSTANCE_PATH": str(workdir)}
    rows = []
    try:
        with bench_database(args, **config) as (app, url):
            env = {k: v for k, v in os.environ.items() if not k.startswith("KOHDE_")}
            env.update({k: str(v) for k, v in config.items()}, DATABASE_URL=url,
                       SECRET_KEY="bench")
            # bench_database's app context: its session is the one to invalidate after a fault
            campaign_id = create_audience(args.messages)
            print(f"{args.messages:,} messages per scenario, default settings "
                  f"(lease {app.config['KOHDE_JOB_LEASE_SECONDS']:g} s, reaper pass "
                  f"{app.config['KOHDE_REAPER_INTERVAL']:g} s, tick "
                  f"{app.config['KOHDE_SCHEDULER_INTERVAL']:g} s, "
                  f"{Settings.get().email_messages_per_second} messages/s)\n")
            for name in names:
                row = scenario(name, args, campaign_id, env, memory, get_redis())
                rows.append(row)
                print(f"  {name}: {row}", flush=True)
            forget_connections()
    finally:
        controller.stop()
        embedded_redis.stop(redis_proc)
    print("\n| scenario | lost | duplicated | resumed after (s) | all out after (s) | sender runs "
          "(failed) | left running |\n|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['scenario']} | {row['lost']} | {row['duplicated']} "
              f"| {fmt(row['resumed_s'])} | {fmt(row['all_out_s'])} "
              f"| {row['runs']} ({row['failed']}) | {row['left_running']} |")


if __name__ == "__main__":
    main()
