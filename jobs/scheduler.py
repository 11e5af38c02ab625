"""The scheduler process: every interval, one *tick* runs Kohde's periodic checks.

A check is a plain function registered with ``@periodic("name")``; it takes the
tick's time (UTC), does its work in the database, commits, and returns what it
did. The built-in checks put back what a crash or a Redis flush left behind
and keep the outbox moving; scheduled actions (README: Scheduled actions) register theirs the
same way. Every check is idempotent (conditional UPDATEs, deterministic job ids),
so two ticks at once change nothing twice; the process lock below only keeps
two schedulers from doing the same work side by side.

The process is rq-scheduler's (its loop, its lock with expiry, its heartbeat,
and any job put in Redis with ``enqueue_at``/``schedule``), with the tick added
to each pass and a gentler SIGTERM: a pass that has started finishes.

Liveness checks (``@periodic(..., quick=True)``: the reaper, due retries, messages of
dead senders, starting a sender) also run between ticks, every KOHDE_REAPER_INTERVAL
seconds, so a dead worker's run is failed and retried within a lease and a pass.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime

from flask import Flask
from rq_scheduler import Scheduler

from models import clock, db
from models.email.outbox import messages_due, release_dead_claims, requeue_stuck
from models.jobs import active_of_kind

from .email.sender import start_senders
from .queue import get_queue, get_redis
from .runs import reap_expired, requeue_lost

log = logging.getLogger(__name__)

PERIODIC: dict[str, Callable[[datetime], object]] = {}
QUICK: set[str] = set()  # also run on the reaper passes between ticks


def periodic(name: str, quick: bool = False) -> Callable[[Callable], Callable]:
    """Register ``func(now)`` to run on every tick (in registration order); ``quick``: also
    on every reaper pass between ticks (cheap liveness checks)."""

    def register(func: Callable[[datetime], object]) -> Callable[[datetime], object]:
        PERIODIC[name] = func
        if quick:
            QUICK.add(name)
        return func

    return register


def tick(now: datetime | None = None, quick_only: bool = False) -> dict[str, object]:
    """Run every periodic check once (inside an app context) and return what each did;
    ``quick_only``: only the quick ones (a reaper pass).

    A check that fails is logged and rolled back; the others still run, and the next
    tick tries it again (a database or Redis outage must not stop the scheduler).
    """
    now = now or clock.now()  # the one clock: `kohde scheduler --burst --now` sets it
    done: dict[str, object] = {}
    for name, check in PERIODIC.items():
        if quick_only and name not in QUICK:
            continue
        try:
            done[name] = check(now)
        except Exception as exc:  # reported as failed, never as done; the next tick retries
            db.session.rollback()
            log.exception("periodic check %s failed", name)
            done[name] = f"failed: {type(exc).__name__}: {exc}"
    return done


@periodic("expired_leases", quick=True)
def reap_expired_runs(now: datetime) -> int:
    """Running runs whose lease expired (their worker died) are failed and retried."""
    return len(reap_expired())


@periodic("dead_senders_messages", quick=True)
def release_messages_of_dead_senders(now: datetime) -> int:
    """Messages claimed by a sender run that is no longer alive go back to ``queued``."""
    return release_dead_claims()


@periodic("lost_job_runs", quick=True)
def requeue_lost_runs(now: datetime) -> int:
    """Queued runs that Redis no longer knows (flushed, restarted) go back on the queue,
    and so do retries whose time has come."""
    return len(requeue_lost())


@periodic("stuck_messages")
def requeue_stuck_messages(now: datetime) -> int:
    """Messages a crashed sender left in ``sending`` go back to ``queued``."""
    return requeue_stuck()


@periodic("outbox_send", quick=True)
def start_sender_when_due(now: datetime) -> bool:
    """Start a send job when messages are due and none is on its way: deferred messages
    come due again later, and a join whose send job was lost still gets sent."""
    due = messages_due(now)
    active = active_of_kind("send_outbox")
    db.session.rollback()  # end the read; enqueue() writes in a transaction of its own
    if not due or active:
        return False
    # The deterministic job id makes a racing second tick get the same run back.
    start_senders()
    return True


class KohdeScheduler(Scheduler):
    """rq-scheduler's process running Kohde's tick on each pass, inside ``app``."""

    def __init__(self, app: Flask, interval: float | None = None):
        interval = interval or app.config["KOHDE_SCHEDULER_INTERVAL"]
        # A pass every reaper interval; the full tick every ``interval``.
        passes = min(interval, app.config["KOHDE_REAPER_INTERVAL"])
        with app.app_context():
            queue = get_queue(app)
            super().__init__(queue=queue, connection=get_redis(app), interval=passes)
        self.app = app
        self.interval = interval
        self._last_full_tick: float | None = None
        # rq-scheduler's lock is one key for every app on the Redis server; ours is per queue.
        self.scheduler_lock_key = f"kohde:{queue.name}:scheduler_lock"
        self.last_tick: dict[str, object] = {}
        self._in_pass = False
        self._stop_after_pass = False

    def enqueue_jobs(self):
        """One pass (under the lock): rq-scheduler's due Redis jobs, then Kohde's tick."""
        self._in_pass = True
        try:
            moved = super().enqueue_jobs()
            began = time.monotonic()
            last = self._last_full_tick
            full = last is None or began - last >= self.interval - self._interval / 2
            with self.app.app_context():
                self.last_tick = tick(quick_only=not full)
            if full:
                self._last_full_tick = began
            # Quiet when there was nothing to do: a line a minute would drown the dev log.
            log.log(logging.INFO if any(self.last_tick.values()) else logging.DEBUG,
                    "tick: %s", self.last_tick)
            return moved
        finally:
            self._in_pass = False
            if self._stop_after_pass:
                raise SystemExit(0)  # run()'s finally releases the lock and registers death

    def _install_signal_handlers(self):
        # rq-scheduler raises SystemExit wherever the signal lands, a database transaction
        # included; here a pass in progress finishes first, a sleep ends at once.
        def stop(signum, frame):
            log.info("scheduler stopping (signal %s)", signum)
            if self._in_pass:
                self._stop_after_pass = True
                return
            raise SystemExit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
