"""Liveness of job runs (docs/architecture.md, rule 9): leases, the heartbeat thread, writes that
outlast a dropped database connection, and which failures are the infrastructure's.

A running job run holds a lease: ``lease_expires_at`` in its row, renewed every third of
the lease by a :class:`Heartbeat` thread (on a connection of its own, so a job busy in a
long statement still renews it) and by each ``progress()``. A process killed with
SIGKILL renews nothing: the lease runs out and the reaper (``jobs.runs.reap_expired``)
fails the run and retries it. Nothing here relies on RQ calling anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from models import JobRun, JobStatus, db, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
job_runs = JobRun.__table__


class RunLost(Exception):
    """The run is no longer this process's: the reaper failed it (a retry may be running)."""


def safe_text(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of a non-UTF-8 file, say) replaced,
    so that Redis and the database can store it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def connection_error(exc: BaseException) -> bool:
    """A lost or refused database connection (restart, failover, pg_terminate_backend, a
    locked SQLite file): the kind of error a later attempt gets past."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def infrastructure_error(exc: BaseException) -> bool:
    """A failure of the machinery, not of the job's own logic (bad input): retried.

    A lost database or Redis connection, and an interrupt or exit (a worker shut down
    under the job). Timeouts are not retried: a job that ran out of time once would
    most likely do it again, for hours.
    """
    if not isinstance(exc, Exception):  # SystemExit, KeyboardInterrupt: shut down under it
        return True
    return connection_error(exc) or isinstance(exc, RedisError)


def lease_values(lease_seconds: float | None = None) -> dict:
    """The columns that renew a lease now (the app's KOHDE_JOB_LEASE_SECONDS by default)."""
    lease = lease_seconds or current_app.config["KOHDE_JOB_LEASE_SECONDS"]
    now = utcnow()
    return {"heartbeat_at": now, "lease_expires_at": now + timedelta(seconds=lease)}


def retry_db(write: Callable[[], T], seconds: float | None = None, what: str = "write") -> T:
    """Run ``write`` (which uses the session and commits), again after a lost connection:
    the session is rolled back (a fresh connection is checked out next time) and the write
    repeated with backoff, for ``seconds`` (KOHDE_DB_RETRY_SECONDS) at most, then raised.

    Only for writes that can be repeated alone: nothing else may be pending in the session.
    """
    if seconds is None:
        seconds = current_app.config["KOHDE_DB_RETRY_SECONDS"]
    deadline = time.monotonic() + seconds
    delay = 0.25
    while True:
        try:
            return write()
        except Exception as exc:
            if not connection_error(exc):
                raise
            try:
                db.session.rollback()
            except Exception:  # the connection is gone; the session forgets it
                db.session.close()
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s failed (%s); retrying in %.1f s", what, type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class Heartbeat:
    """Renews a running run's lease every third of it, from a thread with its own database
    connection, while the job works. If the row is no longer running (the reaper took it
    during an outage), ``lost`` is set and the renewals stop: the job should stop too."""

    def __init__(self, engine: Engine, run_id: str, lease_seconds: float):
        self.engine = engine
        self.run_id = run_id
        self.lease = lease_seconds
        self.interval = max(lease_seconds / 3, 0.1)
        self.lost = threading.Event()
        # Progress inside one long transaction (JobContext.progress_aside): written with the
        # next renewal, on this thread's connection, so a page sees it before the commit.
        self.progress: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"kohde-heartbeat-{run_id}")

    def start(self) -> Heartbeat:
        """Start renewing (returns self)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the run's end is being recorded, or was)."""
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)

    def _beat(self) -> None:
        conn = None
        while not self._stop.wait(self.interval):
            try:
                if conn is None:
                    conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                now = utcnow()
                renewed = conn.execute(
                    update(job_runs)
                    .where(job_runs.c.id == self.run_id, job_runs.c.status == JobStatus.RUNNING)
                    .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=self.lease),
                            **(self.progress or {}))
                ).rowcount
            except Exception as exc:  # keep beating: the database may be back next time
                log.warning("heartbeat of job run %s failed: %s", self.run_id, type(exc).__name__)
                if conn is not None:
                    try:
                        conn.invalidate()
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                continue
            if not renewed:
                log.error("job run %s is no longer running here (reaped?); stopping", self.run_id)
                self.lost.set()
                break
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
