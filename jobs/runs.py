"""Job runs: one enqueue helper, one executor, and the progress a page can read.

A job is a plain function registered with ``@job("kind")`` that takes a
:class:`JobContext` and keyword parameters (ids and primitives). The database
row is written before anything reaches Redis, and its id is the RQ job id, so
the database stays the truth (docs/architecture.md, rule 1).

A running run holds a lease (``jobs.liveness``); ``reap_expired()`` fails the runs whose
lease ran out ("worker lost") and, like every infrastructure failure, retries them as a
new run linked to the old one (``attempt``, ``retry_of_id``), up to KOHDE_JOB_ATTEMPTS.
Every run id has a random part; at most one run per request (dedupe key) is active,
which a partial unique index in the database guarantees.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, g, has_app_context
from flask_babel import force_locale
from redis import Redis
from redis.exceptions import RedisError
from rq import Callback
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from models import ACTIVE_STATUSES, WORKER_LOST, JobRun, JobStatus, db, utcnow

from .liveness import Heartbeat, RunLost, infrastructure_error, lease_values, retry_db, safe_text
from .queue import get_queue, get_redis

log = logging.getLogger(__name__)

REGISTRY: dict[str, Callable] = {}
DEFAULT_TIMEOUT = 6 * 3600  # seconds; big imports on big installations take a while
# RQ's states for a job that will not run (again) under this id.
RQ_ENDED = ("finished", "failed", "stopped", "canceled")


def job(kind: str) -> Callable[[Callable], Callable]:
    """Register a function as the job of ``kind``."""

    def register(func: Callable) -> Callable:
        REGISTRY[kind] = func
        return func

    return register


class JobFailed(Exception):
    """What RQ records when a job raised: the run's error text, made safe to store."""


@dataclass
class JobContext:
    """What a running job can see and tell: its row id, its starter, its progress."""

    run_id: str
    user_id: int | None
    result: dict = field(default_factory=dict)
    heartbeat: Heartbeat | None = None
    # A chunk of a split job (jobs.split): its progress is added up into its parent's.
    parent_id: str | None = None
    # Set by jobs.split.fan_out: the run ends when its chunks have, not when it returns.
    waiting: bool = False

    def progress(self, done: int, total: int | None = None, *, alone: bool = False) -> None:
        """Record progress, renew the lease and commit: jobs call this after each chunk.

        The commit is the job's own too. ``alone``: nothing else is pending in the session,
        so after a lost connection the write is simply repeated (KOHDE_DB_RETRY_SECONDS);
        otherwise the error goes up and the run is retried as a whole.
        """
        values = {"progress_done": done, **lease_values()}
        if total is not None:
            values["progress_total"] = total

        def write() -> int:
            count = db.session.execute(
                update(JobRun).where(JobRun.id == self.run_id, JobRun.status == JobStatus.RUNNING)
                .values(**values)
            ).rowcount
            if count and self.parent_id is not None:
                from .split import chunk_progress  # split builds on this module

                chunk_progress(self.parent_id)
            db.session.commit()
            return count

        if not (retry_db(write, what=f"progress of {self.run_id}") if alone else write()):
            if self.heartbeat is not None:
                self.heartbeat.lost.set()
        self.check()

    def progress_aside(self, done: int, total: int | None = None) -> None:
        """Record progress without committing: for a job that must stay one transaction
        (a retry runs under a new id, so committed halves would be done twice). The
        heartbeat writes it on its own connection with its next renewal; on SQLite, where
        the job's open write holds the only write lock, only the final commit shows it."""
        if self.heartbeat is not None:
            values = {"progress_done": done}
            if total is not None:
                values["progress_total"] = total
            self.heartbeat.progress = values

    @property
    def lost(self) -> bool:
        """Whether the run was taken from this process (the reaper failed it meanwhile)."""
        return self.heartbeat is not None and self.heartbeat.lost.is_set()

    def check(self) -> None:
        """Raise :class:`RunLost` when the run is no longer this process's."""
        if self.lost:
            raise RunLost(f"job run {self.run_id} was failed by the reaper while it ran")


def dedupe_key(kind: str, params: dict) -> str:
    """``kind:digest`` of the canonical parameters: the same request, the same key."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def new_run_id(key: str) -> str:
    """``kind-digest-random``: readable, and unique in every database sharing a Redis."""
    return f"{key.replace(':', '-')}-{secrets.token_hex(5)}"


def _active_run(key: str) -> JobRun | None:
    return db.session.scalar(
        select(JobRun).where(JobRun.dedupe_key == key, JobRun.status.in_(ACTIVE_STATUSES))
    )


def enqueue(
    kind: str,
    params: dict | None = None,
    *,
    user_id: int | None = None,
    scheduled_action_id: int | None = None,
    timeout: int = DEFAULT_TIMEOUT,
) -> JobRun:
    """Record a job run and put it on the queue; a repeat while one is active returns that
    one, unless it is dead (its lease expired, or RQ ended it or forgot it): that one is
    failed and a new run starts.

    Two simultaneous clicks insert two rows with different ids; the partial unique index
    on the dedupe key of active runs lets exactly one in, and the other click gets it.
    """
    if kind not in REGISTRY:
        raise KeyError(f"unknown job kind {kind!r}")
    params = params or {}
    key = dedupe_key(kind, params)
    active = _active_run(key)
    if active is not None:
        if _alive(active):
            return active
        db.session.rollback()
        return enqueue(kind, params, user_id=user_id, scheduled_action_id=scheduled_action_id,
                       timeout=timeout)
    run = JobRun(
        id=new_run_id(key),
        kind=kind,
        dedupe_key=key,
        params=params,
        user_id=user_id,
        scheduled_action_id=scheduled_action_id,
        status=JobStatus.QUEUED,
    )
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the other click won: hand back its run
        return _active_run(key) or enqueue(
            kind, params, user_id=user_id, scheduled_action_id=scheduled_action_id, timeout=timeout
        )
    _put_on_queue(run.id, timeout)
    return run


def _alive(run: JobRun) -> bool:
    """An active run that can still end by itself; a dead one is failed here (no retry:
    the repeat request that found it starts the next run)."""
    now = utcnow()
    if run.status == JobStatus.RUNNING:
        if run.lease_expires_at is None or run.lease_expires_at >= now:
            return True
        from .split import has_chunks, settle

        if has_chunks(run.id):  # a split job: alive while its chunks are
            return settle(run.id)
        ended, _ = end_run(run.id, JobStatus.FAILED, error=_lost_message(run), expired_before=now)
        return not ended
    if run.not_before is not None and run.not_before > now:
        return True  # a retry waiting for its time
    try:
        state = rq_status(run.id)
    except RedisError:
        return True  # the row stays queued; a worker or tick puts it on the queue later
    if state is None:
        _put_on_queue(run.id, DEFAULT_TIMEOUT)  # Redis lost it: the run itself is fine
        return True
    if state in RQ_ENDED:
        ended, _ = end_run(run.id, JobStatus.FAILED, only_queued=True,
                           error=f"{WORKER_LOST}: RQ reports the job {state} before it started")
        return not ended
    return True


def rq_status(run_id: str, connection: Redis | None = None) -> str | None:
    """RQ's status of the run's job (queued, started, finished, failed, …), None if RQ does
    not know it (never queued, flushed, expired)."""
    connection = connection or get_redis()
    status = connection.hget(Job.key_for(run_id), "status")
    return status.decode() if status is not None else None


def _put_on_queue(run_id: str, timeout: int = DEFAULT_TIMEOUT) -> None:
    try:
        get_queue().enqueue(
            execute,
            run_id,
            job_id=run_id,
            unique=True,
            job_timeout=timeout,
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
            on_failure=Callback(on_rq_failure),
        )
    except DuplicateJobError:
        # Already on the queue under this id (a racing requeue). Ids are random, so an
        # ended job with this id cannot be another run's; if it ended, the run is dead.
        state = rq_status(run_id)
        log.warning("job run %s is already in Redis (%s)", run_id, state)
        if state in RQ_ENDED:
            end_run(run_id, JobStatus.FAILED, only_queued=True, retry=True,
                    error=f"{WORKER_LOST}: RQ already had an ended job ({state}) with this id")
    except RedisError as exc:
        # The row stays queued in the database (the truth): `kohde jobs requeue`, the
        # scheduler or the next worker to start puts it on the queue once Redis answers.
        log.error("job run %s is recorded but Redis refused it (%s); it will be requeued",
                  run_id, exc)


def requeue_lost() -> list[str]:
    """Put queued runs that Redis no longer knows (flushed, restarted) back on the queue,
    and retries whose time has come. A queued run RQ has ended without it starting (its
    start could not be recorded) is failed and retried."""
    conn = get_redis()
    now = utcnow()
    due = db.session.scalars(
        select(JobRun.id).where(JobRun.status == JobStatus.QUEUED,
                                or_(JobRun.not_before.is_(None), JobRun.not_before <= now))
        .order_by(JobRun.enqueued_at)
    ).all()
    db.session.rollback()
    lost = []
    for run_id in due:
        state = rq_status(run_id, conn)
        if state is None:
            _put_on_queue(run_id)
            lost.append(run_id)
        elif state in RQ_ENDED:
            end_run(run_id, JobStatus.FAILED, only_queued=True, retry=True,
                    error=f"{WORKER_LOST}: RQ reports the job {state} before it started")
    return lost


def _lost_message(run) -> str:
    last = run.heartbeat_at or run.started_at
    since = f" since {last:%Y-%m-%d %H:%M:%S} UTC" if last else ""
    who = f"{run.worker_name or 'its worker'} (pid {run.worker_pid} on {run.worker_host})"
    return f"{WORKER_LOST}: no heartbeat from {who}{since}; its lease expired"


def reap_expired(now: datetime | None = None) -> list[str]:
    """Fail every running run whose lease has expired ("worker lost") and retry it; the
    ids failed. Runs on every scheduler tick (and reaper pass) and at every worker start."""
    now = now or utcnow()
    lease = timedelta(seconds=current_app.config["KOHDE_JOB_LEASE_SECONDS"])
    rows = db.session.scalars(
        select(JobRun).where(JobRun.status == JobStatus.RUNNING,
                             or_(JobRun.lease_expires_at < now, JobRun.lease_expires_at.is_(None)))
    ).all()
    expired = [
        (run.id, _lost_message(run)) for run in rows
        # A run without a lease was started before leases existed: give it one lease.
        if run.lease_expires_at is not None or (run.started_at or now) < now - lease
    ]
    from .split import parents_among, settle

    parents = parents_among([run_id for run_id, _ in expired])
    db.session.rollback()
    for parent_id in parents:  # a split job lives through its chunks; ended by the last one
        settle(parent_id)
    expired = [(run_id, message) for run_id, message in expired if run_id not in parents]
    reaped = []
    for run_id, message in expired:
        ended, _ = end_run(run_id, JobStatus.FAILED, error=message, retry=True, expired_before=now)
        if ended:
            log.warning("job run %s: %s", run_id, message)
            reaped.append(run_id)
    return reaped


def lose_run(run_id: str, error: str, pid: int | None = None) -> bool:
    """Fail a running run whose process is known dead (its work horse was killed) at once,
    and retry it; ``pid``: only if that process held it."""
    ended, _ = end_run(run_id, JobStatus.FAILED, error=f"{WORKER_LOST}: {error}", retry=True,
                       pid=pid)
    return ended


def retry_delay(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1`` of a run that failed at attempt ``attempt``."""
    return current_app.config["KOHDE_JOB_RETRY_SECONDS"] * 2 ** (attempt - 1)


def end_run(run_id: str, status: str, *, error: str | None = None, result: dict | None = None,
            retry: bool = False, only_queued: bool = False, expired_before: datetime | None = None,
            pid: int | None = None) -> tuple[bool, JobRun | None]:
    """Record how an active run ended, if it is still active (and, for the reaper, still
    expired; for a dead horse, still that process's). With ``retry``, a failed run that has
    attempts left gets its next attempt in the same transaction. Retries a lost database
    connection for KOHDE_DB_RETRY_SECONDS. Answers (whether it ended it, the retry)."""
    conditions = [JobRun.id == run_id]
    if only_queued:
        conditions.append(JobRun.status == JobStatus.QUEUED)
    else:
        conditions.append(JobRun.status.in_(ACTIVE_STATUSES))
    if expired_before is not None:
        conditions.append(or_(JobRun.lease_expires_at < expired_before,
                              JobRun.lease_expires_at.is_(None)))
    if pid is not None:
        conditions.append(JobRun.worker_pid == pid)
    values: dict = {"status": status}
    if error is not None:
        values["error"] = safe_text(error)
    if result is not None:
        values["result"] = result

    def write(with_retry: bool) -> tuple[bool, JobRun | None]:
        values["finished_at"] = utcnow()
        ended = db.session.execute(update(JobRun).where(*conditions).values(**values)).rowcount
        following = _next_attempt(run_id) if ended and with_retry else None
        db.session.commit()
        return bool(ended), following

    def attempt() -> tuple[bool, JobRun | None]:
        try:
            return write(retry and status == JobStatus.FAILED)
        except IntegrityError:  # a new run of the same request got in first: no retry
            db.session.rollback()
            return write(False)

    ended, following = retry_db(attempt, what=f"recording the end of job run {run_id}")
    if ended and following is None:
        from .split import settle_parent_of

        settle_parent_of(run_id)  # the last chunk of a split job ends its parent
    if following is not None:
        log.warning("job run %s failed; attempt %d is %s (from %s)", run_id, following.attempt,
                    following.id, following.not_before)
        if following.not_before <= utcnow():
            _put_on_queue(following.id)
    return ended, following


def _next_attempt(run_id: str) -> JobRun | None:
    """The retry of a run just failed (in the caller's transaction), if attempts are left
    and no other run of the same request is active."""
    run = db.session.get(JobRun, run_id, populate_existing=True)
    if run is None or run.attempt >= current_app.config["KOHDE_JOB_ATTEMPTS"]:
        return None
    if _active_run(run.dedupe_key) is not None:
        return None
    following = JobRun(
        id=new_run_id(run.dedupe_key),
        kind=run.kind,
        dedupe_key=run.dedupe_key,
        params=run.params,
        user_id=run.user_id,
        scheduled_action_id=run.scheduled_action_id,
        status=JobStatus.QUEUED,
        attempt=run.attempt + 1,
        retry_of_id=run.id,
        parent_id=run.parent_id,
        not_before=utcnow() + timedelta(seconds=retry_delay(run.attempt)),
    )
    db.session.add(following)
    db.session.flush()
    return following


def attempts(run: JobRun) -> list[JobRun]:
    """Every attempt of the request ``run`` belongs to, first to last."""
    chain = [run]
    while chain[0].retry_of_id and len(chain) < 50:
        earlier = db.session.get(JobRun, chain[0].retry_of_id)
        if earlier is None:
            break
        chain.insert(0, earlier)
    while len(chain) < 50:
        later = db.session.scalar(select(JobRun).where(JobRun.retry_of_id == chain[-1].id))
        if later is None:
            break
        chain.append(later)
    return chain


def execute(run_id: str):
    """RQ's entry point: take the queued run (with a lease), run its function while a
    heartbeat renews the lease, and record how it ended."""
    config = current_app.config
    lease = config["KOHDE_JOB_LEASE_SECONDS"]

    def start() -> int:
        taken = db.session.execute(
            update(JobRun).where(JobRun.id == run_id, JobRun.status == JobStatus.QUEUED)
            .values(status=JobStatus.RUNNING, started_at=utcnow(), error=None,
                    worker_name=(g.get("rq_worker_name") or "")[:120] or None,
                    worker_host=socket.gethostname()[:120], worker_pid=os.getpid(),
                    **lease_values(lease))
        ).rowcount
        db.session.commit()
        return taken

    if not retry_db(start, what=f"starting job run {run_id}"):
        run = db.session.get(JobRun, run_id)
        if run is None:
            raise LookupError(f"job run {run_id} is not in the database")
        log.info("job run %s is %s, not queued; not running it again", run_id, run.status)
        return run.result
    run = db.session.get(JobRun, run_id)
    func = REGISTRY[run.kind]
    heartbeat = Heartbeat(db.engine, run_id, lease).start()
    ctx = JobContext(run_id=run.id, user_id=run.user_id, heartbeat=heartbeat,
                     parent_id=run.parent_id)
    g.acting_user_id = run.user_id
    try:
        try:
            # What the job writes for people (an import's row report, its result in words)
            # is in the language of whoever started it.
            with force_locale(_language_of(run.user_id)):
                result = func(ctx, **run.params)
        except BaseException as exc:  # timeouts and interrupts too: the row must not stay running
            try:
                db.session.rollback()
            except Exception:
                db.session.close()
            error = _describe(exc)
            end_run(run_id, JobStatus.FAILED, error=error, result=ctx.result,
                    retry=infrastructure_error(exc) and not isinstance(exc, RunLost))
            if isinstance(exc, Exception):
                # RQ stores the text in Redis: the safe one, never the original exception.
                raise JobFailed(safe_text(error)) from None
            raise
        result = result if isinstance(result, dict) else ctx.result
        if ctx.waiting:  # split: its last chunk ends it (jobs.split.settle)
            return result
        end_run(run_id, JobStatus.DONE, result=result)
        return result
    finally:
        heartbeat.stop()


def _language_of(user_id: int | None) -> str:
    """The language the user who started a job chose (English for the scheduler's)."""
    from models import User

    user = db.session.get(User, user_id) if user_id else None
    return (user.language if user is not None else None) or "en"


def _describe(exc: BaseException) -> str:
    # The message first (that is what a person reads), the traceback after it.
    message = f"{type(exc).__name__}: {exc}"
    return safe_text(message + "\n\n" + "".join(traceback.format_exception(exc))[-8000:])


def on_rq_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ failure callback: a second chance for failures outside execute(). Liveness does
    not depend on it (the reaper does that); it only records sooner."""
    if not has_app_context():  # the worker runs jobs inside the app; see jobs.worker
        log.error("job %s failed outside an app context: %s", job.id, safe_text(str(exc_value)))
        return
    db.session.rollback()
    run = db.session.get(JobRun, job.id)
    if run is not None and not run.finished:
        end_run(job.id, JobStatus.FAILED, error=safe_text(f"{exc_type.__name__}: {exc_value}"),
                retry=infrastructure_error(exc_value))
