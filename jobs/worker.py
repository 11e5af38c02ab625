"""RQ workers that run each job inside the Flask app's context."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker, Worker

from models import db

from .queue import get_queue, get_redis


class AppContextMixin:
    """Wraps every job in ``app.app_context()`` and drops the session afterwards."""

    app: Flask

    def work(self, *args, **kwargs):  # noqa: D102 (RQ's entry point)
        # The worker's own loop runs RQ's maintenance, which fires the failure callback
        # for jobs abandoned by a killed work horse: that callback needs the app too.
        with self.app.app_context():
            return super().work(*args, **kwargs)

    def perform_job(self, job, queue, execution):  # noqa: D102 (RQ's hook)
        with self.app.app_context():
            try:
                return super().perform_job(job, queue, execution)
            finally:
                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    """The production worker: forks a work horse per job, so a crash cannot take it down."""

    def main_work_horse(self, job, queue):  # noqa: D102
        with self.app.app_context():
            # The horse is a fork: never reuse the parent's pooled database connections.
            db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in its own process: for tests and the CLI's burst runs."""


def make_worker(app: Flask, simple: bool = False, name: str | None = None) -> Worker:
    """A worker on Kohde's queue that runs jobs inside ``app``."""
    cls = AppSimpleWorker if simple else AppWorker
    with app.app_context():
        worker = cls([get_queue(app)], connection=get_redis(app), name=name)
    worker.app = app
    return worker
