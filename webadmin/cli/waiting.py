"""What every bulk command shares: make sure Redis is there, wait for a job, show progress.

Waiting never hangs: a run that fails and is retried is followed to its next attempt; when
RQ says the job ended, or no longer knows it, while the database still has it unfinished,
the wait says so and exits non-zero within seconds; and every waiting command takes
``--timeout S``.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import select

from jobs import embedded_redis
from jobs.queue import get_queue, redis_url
from jobs.runs import RQ_ENDED, _put_on_queue, requeue_lost, rq_status
from jobs.split import has_chunks
from models import JobRun, JobStatus, db, utcnow

# How long RQ may disagree with the row (RQ says ended, the commit is on its way) before
# the wait gives up on the run.
DISAGREEMENT_GRACE = 3.0
EXIT_TIMEOUT = 2  # the wait ran out of time; the job goes on


def ensure_redis() -> None:
    """Use REDIS_URL; without it, the embedded server (started here if nobody runs one)."""
    url = redis_url()
    if embedded_redis.is_up(url):
        return
    if current_app.config.get("REDIS_URL"):
        raise click.ClickException(f"Redis at {url} does not answer; is it running?")
    proc = embedded_redis.start(embedded_redis.DEFAULT_PORT, Path(current_app.instance_path))
    atexit.register(embedded_redis.stop, proc)
    click.echo(f"(started an embedded Redis on {url} for this command)", err=True)


def _start_burst_worker() -> subprocess.Popen | None:
    # Nobody listens on the queue: run one worker here until the queue is empty.
    queue = get_queue()
    if Worker.count(queue=queue) > 0:
        return None
    click.echo("(no worker is running: running the job in this terminal)", err=True)
    env = dict(os.environ, REDIS_URL=redis_url())
    return subprocess.Popen(
        [sys.executable, "-m", "webadmin.cli", "worker", "--burst", "--quiet"], env=env
    )


def _load(run_id: str) -> JobRun:
    db.session.rollback()  # end the read transaction so the next read sees the worker's commits
    return db.session.get(JobRun, run_id, populate_existing=True)


def run_job(start: Callable[[], JobRun], *, no_wait: bool = False,
            as_json: bool = False) -> JobRun | None:
    """Start a job with ``start`` (a typed starter; Redis made sure of first) and wait for
    it: the finished run; with ``no_wait``, print its id and answer None."""
    ensure_redis()
    run = start()
    if no_wait:
        click.echo(json.dumps({"id": run.id}) if as_json else run.id)
        return None
    return wait_for(run, as_json=as_json)


def _next_attempt(run: JobRun) -> JobRun | None:
    return db.session.scalar(select(JobRun).where(JobRun.retry_of_id == run.id))


def _rq_disagrees(run: JobRun) -> str | None:
    """Why RQ's view says this unfinished run will not end by itself (None: it may).

    A queued run RQ does not know (Redis flushed, or a retry whose time has come) is put on
    the queue here instead: the database is the truth."""
    if run.status == JobStatus.RUNNING and has_chunks(run.id):
        return None  # a split job: RQ ended its part; its chunk runs carry it (jobs.split)
    try:
        state = rq_status(run.id)
    except RedisError:
        return None  # Redis is away; --timeout bounds the wait
    if state in RQ_ENDED:
        return f"RQ reports job {run.id} {state}, but the database still has it {run.status}"
    if state is None:
        if run.status == JobStatus.QUEUED:
            if run.not_before is None or run.not_before <= utcnow():
                _put_on_queue(run.id)
            return None
        return f"RQ no longer knows job {run.id} (Redis flushed?), but the database has it running"
    return None


def wait_timeout() -> float | None:
    """The running command's ``--timeout`` (None: no limit)."""
    context = click.get_current_context(silent=True)
    return context.meta.get("kohde.wait_timeout") if context else None


def wait_for(run: JobRun, as_json: bool = False, timeout: float | None = None) -> JobRun:
    """Wait until ``run`` (or, when it fails and is retried, its last attempt) finishes,
    with a progress bar; exit 1 when it failed or RQ says it will not finish, 2 when
    ``timeout`` (default: the command's ``--timeout``) runs out first."""
    timeout = timeout if timeout is not None else wait_timeout()
    deadline = time.monotonic() + timeout if timeout else None
    worker = _start_burst_worker()
    run_id = run.id
    disagreeing_since = None
    checked = 0.0
    try:
        with click.progressbar(length=100, label=run.kind, file=sys.stderr,
                               show_percent=True, show_eta=False) as bar:
            shown = 0
            while True:
                run = _load(run_id)
                if run.percent > shown:
                    bar.update(run.percent - shown)
                    shown = run.percent
                if run.finished:
                    following = _next_attempt(run) if run.status == JobStatus.FAILED else None
                    if following is None:
                        break
                    reason = (run.error or "").split("\n", 1)[0][:200]
                    click.echo(f"\n(attempt {run.attempt} failed: {reason}; "
                               f"attempt {following.attempt} is job {following.id})", err=True)
                    run_id, disagreeing_since = following.id, None
                    continue
                now = time.monotonic()
                if now - checked >= 0.5:
                    checked = now
                    problem = _rq_disagrees(run)
                    if problem is None:
                        disagreeing_since = None
                    elif disagreeing_since is None:
                        disagreeing_since = now
                    elif now - disagreeing_since >= DISAGREEMENT_GRACE:
                        raise click.ClickException(f"{problem}; see `kohde jobs show {run_id}`")
                if worker is not None and worker.poll() is not None:
                    run = _load(run_id)
                    if run.status == JobStatus.QUEUED:
                        worker = _start_burst_worker()  # a retry came after it left
                    elif has_chunks(run_id):  # a chunk's retry came after it left
                        requeue_lost()
                        worker = _start_burst_worker()
                    elif not run.finished:
                        raise click.ClickException(f"the worker stopped before job {run_id} ended")
                if deadline is not None and now > deadline:
                    click.echo(f"\ngave up waiting after {timeout:g} s: job {run_id} is "
                               f"still {run.shown_status} (`kohde jobs show {run_id}`)", err=True)
                    sys.exit(EXIT_TIMEOUT)
                time.sleep(0.2)
            if run.status == JobStatus.DONE and shown < 100:
                bar.update(100 - shown)
    finally:
        if worker is not None:
            worker.wait(timeout=30)
    if as_json:
        click.echo(json.dumps(run_as_dict(run), indent=2, default=str))
    if run.status == JobStatus.FAILED:
        if not as_json:
            click.echo((run.error or "failed").split("\n", 1)[0], err=True)
        sys.exit(1)
    return run


def add_wait_timeout(command: click.Command) -> None:
    """Give every command that waits for a job (it has ``--no-wait``) a ``--timeout S``,
    kept in the click context for ``wait_for``; groups are walked."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_wait_timeout(sub)
        return
    names = {param.name for param in command.params}
    if "no_wait" not in names or "wait_timeout" in names:
        return
    command.params.append(click.Option(
        ["--timeout", "wait_timeout"], type=float, default=None, metavar="S",
        help="Stop waiting after S seconds (exit status 2; the job goes on)."))
    callback = command.callback

    @functools.wraps(callback)
    def with_timeout(*args, wait_timeout=None, **kwargs):
        click.get_current_context().meta["kohde.wait_timeout"] = wait_timeout
        return callback(*args, **kwargs)

    command.callback = with_timeout


def run_as_dict(run: JobRun) -> dict:
    """A job run as plain data, for --json."""
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.shown_status,
        "params": run.params,
        "user_id": run.user_id,
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "result": run.result,
        "error": run.error,
        "enqueued_at": run.enqueued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": run.duration_seconds,
        "attempt": run.attempt,
        "retry_of": run.retry_of_id,
        "not_before": run.not_before,
        "worker": run.worker_name,
        "worker_pid": run.worker_pid,
        "worker_host": run.worker_host,
        "heartbeat_at": run.heartbeat_at,
        "lease_expires_at": run.lease_expires_at,
    }
