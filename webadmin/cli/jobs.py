"""`kohde jobs …` and `kohde worker`."""

from __future__ import annotations

import json
import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from jobs import embedded_redis
from jobs.bulk import can_undo, start_undo
from jobs.queue import redis_url
from jobs.runs import requeue_lost
from jobs.scheduler import KohdeScheduler
from jobs.worker import make_worker
from models import JobRun, clock, db
from models.email.outbox import requeue_stuck
from models.jobs import recent_runs

from ..admin.bulk.sentences import bulk_sentence
from .waiting import ensure_redis, run_as_dict, run_job, wait_for


@click.group("jobs")
def jobs_group():
    """List and inspect job runs."""


@jobs_group.command("list")
@click.option("--limit", default=20, show_default=True)
@click.option("--status", help="Only runs in this status (queued, running, done, failed, or "
                              "stuck: running, but the lease expired: its worker is gone).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def list_jobs(limit: int, status: str | None, as_json: bool):
    """The most recent job runs, newest first."""
    runs = recent_runs(limit, status)
    if as_json:
        click.echo(json.dumps([run_as_dict(r) for r in runs], indent=2, default=str))
        return
    for run in runs:
        counts = ", ".join(f"{k} {v}" for k, v in (run.result or {}).items()
                           if isinstance(v, int))
        attempt = f"  attempt {run.attempt}" if run.attempt > 1 else ""
        click.echo(f"{run.enqueued_at:%Y-%m-%d %H:%M:%S}  {run.shown_status:<8} "
                   f"{run.percent:>3} %  {run.id}  {counts}{attempt}")


@jobs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def show_job(run_id: str, as_json: bool):
    """Everything recorded about one job run."""
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise click.ClickException(f"no job run {run_id!r} (see `kohde jobs list`)")
    data = run_as_dict(run)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    for key, value in data.items():
        if key == "error" and value:
            click.echo(f"error:\n{value}")
        else:
            click.echo(f"{key}: {value}")


@jobs_group.command("wait")
@click.argument("run_id")
@click.option("--timeout", "wait_timeout", type=float, metavar="S",
              help="Stop waiting after S seconds (exit status 2; the job goes on).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def wait_job(run_id: str, wait_timeout: float | None, as_json: bool):
    """Wait for a job run (and its retries) to finish, with a progress bar."""
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise click.ClickException(f"no job run {run_id!r} (see `kohde jobs list`)")
    ensure_redis()
    wait_for(run, as_json=as_json, timeout=wait_timeout)


@jobs_group.command("undo")
@click.argument("run_id")
@click.option("--no-wait", is_flag=True, help="Print the undo's job id and return at once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@with_appcontext
def undo_job(run_id: str, no_wait: bool, as_json: bool):
    """Undo a finished bulk or audience job (put back what it changed, where nobody changed
    it since)."""
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise click.ClickException(f"no job run {run_id!r} (see `kohde jobs list`)")
    if not can_undo(run):
        raise click.ClickException(f"job {run_id} cannot be undone (not finished, undone "
                                   "already, or of a kind without undo)")
    done = run_job(lambda: start_undo(run), no_wait=no_wait, as_json=as_json)
    if done is not None and not as_json:
        click.echo(bulk_sentence(done) or json.dumps(done.result, default=str))


@jobs_group.command("requeue")
@with_appcontext
def requeue_jobs():
    """Put queued runs that Redis lost (flush, restart) back on the queue."""
    ensure_redis()
    lost = requeue_lost()
    click.echo(f"requeued {len(lost)} job(s)" + (": " + ", ".join(lost) if lost else ""))


def _log_setup(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _wait_for_redis(burst: bool) -> None:
    # With REDIS_URL (or in `kohde dev`, where the embedded server is starting next to us)
    # wait for it; alone, start the embedded one.
    if current_app.config.get("REDIS_URL") or burst:
        embedded_redis.wait_until_up(redis_url(), seconds=20)
    else:
        ensure_redis()


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a fork.")
@click.option("--quiet", is_flag=True, help="Only warnings and errors.")
@with_appcontext
def worker_command(burst: bool, simple: bool, quiet: bool):
    """Start an RQ worker for Kohde's queue with this installation's config."""
    _log_setup(quiet)
    _wait_for_redis(burst)
    # The worker's start (jobs.worker.start_sweep) fails runs whose worker died and puts
    # back runs Redis lost; messages claimed without a run wait KOHDE_OUTBOX_STUCK_SECONDS.
    stuck = requeue_stuck()
    if stuck:
        logging.getLogger(__name__).warning("requeued %d message(s) left in sending", stuck)
    worker = make_worker(current_app._get_current_object(), simple=simple or burst)
    worker.work(burst=burst, logging_level="WARNING" if quiet else "INFO")


@click.command("scheduler")
@click.option("--interval", type=float,
              help="Seconds between ticks (default: KOHDE_SCHEDULER_INTERVAL, 60).")
@click.option("--burst", is_flag=True, help="Run one tick and stop.")
@click.option("--now", "as_of", metavar="ISO-DATETIME",
              help="With --burst: tick as if it were this moment (UTC unless an offset is "
                   "given), e.g. to check what a set-up would run.")
@click.option("--quiet", is_flag=True, help="Only warnings and errors.")
@with_appcontext
def scheduler_command(interval: float | None, burst: bool, as_of: str | None, quiet: bool):
    """Run the scheduler: every interval, requeue lost job runs and messages stuck in
    'sending', and start a send job when messages are due. Stops on SIGTERM / Ctrl-C
    (a tick in progress finishes first). Several schedulers may run; one ticks at a time."""
    if as_of:
        if not burst:
            raise click.UsageError("--now needs --burst (one tick as of that moment)")
        try:
            clock.set_now(clock.parse_moment(as_of))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--now") from None
    _log_setup(quiet)
    logging.getLogger("rq_scheduler").setLevel(logging.WARNING if quiet else logging.INFO)
    _wait_for_redis(burst)
    scheduler = KohdeScheduler(current_app._get_current_object(), interval)
    click.echo(f"scheduler ticking every {scheduler.interval:g} s", err=True)
    scheduler.run(burst=burst)
    if burst:
        click.echo(json.dumps(scheduler.last_tick, default=str))
