"""What every bulk command shares: make sure Redis is there, wait for a job, show progress."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from rq import Worker

from jobs import embedded_redis
from jobs.queue import get_queue, redis_url
from models import JobRun, JobStatus, db


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
            as_json: bool = False) -> JobRun | None:  # fmt: skip
    """Start a job with ``start`` (a typed starter; Redis made sure of first) and wait for
    it: the finished run; with ``no_wait``, print its id and answer None."""
    ensure_redis()
    run = start()
    if no_wait:
        click.echo(json.dumps({"id": run.id}) if as_json else run.id)
        return None
    return wait_for(run, as_json=as_json)


def wait_for(run: JobRun, as_json: bool = False) -> JobRun:
    """Wait until ``run`` finishes, with a progress bar; exit 1 when it failed."""
    worker = _start_burst_worker()
    run_id = run.id
    try:
        with click.progressbar(length=100, label=run.kind, file=sys.stderr,
                               show_percent=True, show_eta=False) as bar:  # fmt: skip
            shown = 0
            while True:
                run = _load(run_id)
                if run.percent > shown:
                    bar.update(run.percent - shown)
                    shown = run.percent
                if run.finished:
                    break
                if worker is not None and worker.poll() is not None and not run.finished:
                    run = _load(run_id)
                    if not run.finished:
                        raise click.ClickException(f"the worker stopped before job {run_id} ended")
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


def run_as_dict(run: JobRun) -> dict:
    """A job run as plain data, for --json."""
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
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
    }
