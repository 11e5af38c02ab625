"""RQ workers that run each job inside the Flask app's context."""

from __future__ import annotations

import logging
import os

from flask import Flask, g
from rq import SimpleWorker, Worker

from models import db

from .queue import get_queue, get_redis
from .runs import lose_run, reap_expired, requeue_lost

log = logging.getLogger(__name__)


class AppContextMixin:
    """Wraps every job in ``app.app_context()`` and drops the session afterwards."""

    app: Flask

    def work(self, *args, **kwargs):  # noqa: D102 (RQ's entry point)
        # The worker's own loop runs RQ's maintenance, which fires the failure callback
        # for jobs abandoned by a killed work horse: that callback needs the app too.
        with self.app.app_context():
            start_sweep()
            return super().work(*args, **kwargs)

    def perform_job(self, job, queue, execution):  # noqa: D102 (RQ's hook)
        with self.app.app_context():
            g.rq_worker_name = self.name  # recorded in the run's lease
            try:
                return super().perform_job(job, queue, execution)
            except Exception:  # RQ's own bookkeeping failed: log it, keep the worker going
                log.exception("job %s: RQ could not record its end", job.id)
                return False
            finally:
                db.session.remove()


def start_sweep() -> None:
    """What every worker does as it starts: fail runs whose worker died (lease expired)
    and put back runs Redis lost. A database or Redis outage does not stop the start."""
    try:
        reaped = reap_expired()
        lost = requeue_lost()
    except Exception as exc:  # the scheduler's next tick does the same
        db.session.rollback()
        log.error("start-up sweep failed: %s: %s", type(exc).__name__, exc)
        return
    if reaped:
        log.warning("failed %d job run(s) whose worker was lost: %s", len(reaped), reaped)
    if lost:
        log.warning("requeued %d lost job run(s)", len(lost))


class AppWorker(AppContextMixin, Worker):
    """The production worker: forks a work horse per job, so a crash cannot take it down."""

    def main_work_horse(self, job, queue):  # noqa: D102
        with self.app.app_context():
            # The horse is a fork: never reuse the parent's pooled database connections.
            db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):  # noqa: D102 (RQ's hook)
        # RQ calls no failure callback on this path; the run is failed (and retried) here at
        # once, without waiting for its lease to run out. Only if that horse held it.
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        signal = f", signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else ""
        try:
            if lose_run(job.id, f"work horse {retpid} died (exit status {ret_val}{signal})",
                        pid=retpid):
                log.warning("job run %s: work horse %s died; failed it", job.id, retpid)
        except Exception as exc:  # the reaper does it once the lease runs out
            log.error("could not record the lost job run %s: %s", job.id, exc)
        finally:
            db.session.remove()


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in its own process: for tests and the CLI's burst runs."""


def make_worker(app: Flask, simple: bool = False, name: str | None = None) -> Worker:
    """A worker on Kohde's queue that runs jobs inside ``app``."""
    cls = AppSimpleWorker if simple else AppWorker
    with app.app_context():
        worker = cls([get_queue(app)], connection=get_redis(app), name=name)
    worker.app = app
    return worker
