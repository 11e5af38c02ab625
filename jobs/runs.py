"""Job runs: one enqueue helper, one executor, and the progress a page can read.

A job is a plain function registered with ``@job("kind")`` that takes a
:class:`JobContext` and keyword parameters (ids and primitives). The database
row is written before anything reaches Redis, and its id is the RQ job id, so
the database stays the truth (ENGINEERING.md rule 1).
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import g, has_app_context
from redis.exceptions import RedisError
from rq import Callback
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from models import ACTIVE_STATUSES, JobRun, JobStatus, db, utcnow

from .queue import get_queue, get_redis

log = logging.getLogger(__name__)

REGISTRY: dict[str, Callable] = {}
DEFAULT_TIMEOUT = 6 * 3600  # seconds; big imports on big installations take a while


def job(kind: str) -> Callable[[Callable], Callable]:
    """Register a function as the job of ``kind``."""

    def register(func: Callable) -> Callable:
        REGISTRY[kind] = func
        return func

    return register


@dataclass
class JobContext:
    """What a running job can see and tell: its row id, its starter, its progress."""

    run_id: str
    user_id: int | None
    result: dict = field(default_factory=dict)

    def progress(self, done: int, total: int | None = None) -> None:
        """Record progress and commit: jobs call this after each chunk of work."""
        values = {"progress_done": done}
        if total is not None:
            values["progress_total"] = total
        db.session.execute(update(JobRun).where(JobRun.id == self.run_id).values(**values))
        db.session.commit()


def dedupe_key(kind: str, params: dict) -> str:
    """``kind:digest`` of the canonical parameters: the same request, the same key."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


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
    """Record a job run and put it on the queue; a repeat while one is active returns that one.

    The id is deterministic: ``kind-digest-N`` where N counts finished runs with
    the same parameters. Two simultaneous clicks compute the same id, so the
    primary key lets exactly one of them in, and RQ's ``unique=True`` refuses a
    second queue entry with that id.
    """
    if kind not in REGISTRY:
        raise KeyError(f"unknown job kind {kind!r}")
    params = params or {}
    key = dedupe_key(kind, params)
    active = _active_run(key)
    if active is not None:
        return active
    # Count finished runs only: while one is active the count stands still, so a
    # racing second click computes the very same id and the primary key refuses it.
    finished = db.session.scalar(
        select(func.count()).where(JobRun.dedupe_key == key, JobRun.status.not_in(ACTIVE_STATUSES))
    )
    run = JobRun(
        id=f"{key.replace(':', '-')}-{finished + 1}",
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
        return db.session.get(JobRun, run.id) or _active_run(key)
    _put_on_queue(run.id, timeout)
    return run


def _put_on_queue(run_id: str, timeout: int) -> None:
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
        pass  # already queued under this id: nothing to add
    except RedisError as exc:
        # The row stays queued in the database (the truth): `kohde jobs requeue`, or the
        # next worker to start, puts it on the queue once Redis answers again.
        log.error("job run %s is recorded but Redis refused it (%s); it will be requeued",
                  run_id, exc)  # fmt: skip


def requeue_lost() -> list[str]:
    """Put queued runs that Redis no longer knows (flushed, restarted) back on the queue."""
    conn = get_redis()
    lost = [
        run_id
        for run_id in db.session.scalars(select(JobRun.id).where(JobRun.status == JobStatus.QUEUED))
        if not Job.exists(run_id, connection=conn)
    ]
    for run_id in lost:
        _put_on_queue(run_id, DEFAULT_TIMEOUT)
    return lost


def _finish(run_id: str, **values) -> None:
    db.session.execute(
        update(JobRun).where(JobRun.id == run_id).values(finished_at=utcnow(), **values)
    )
    db.session.commit()


def execute(run_id: str):
    """RQ's entry point: run the registered function for this row and record how it ended."""
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise LookupError(f"job run {run_id} is not in the database")
    if run.finished:
        log.info("job run %s already %s; not running it again", run_id, run.status)
        return run.result
    func = REGISTRY[run.kind]
    run.status, run.started_at, run.error = JobStatus.RUNNING, utcnow(), None
    db.session.commit()
    ctx = JobContext(run_id=run.id, user_id=run.user_id)
    g.acting_user_id = run.user_id
    try:
        result = func(ctx, **run.params)
    except BaseException as exc:  # also timeouts and interrupts: the row must not stay "running"
        db.session.rollback()
        _finish(run_id, status=JobStatus.FAILED, error=_describe(exc), result=ctx.result)
        raise  # RQ records the failure too; never report success for a failed job
    result = result if isinstance(result, dict) else ctx.result
    _finish(run_id, status=JobStatus.DONE, result=result)
    return result


def _describe(exc: BaseException) -> str:
    # The message first (that is what a person reads), the traceback after it.
    message = f"{type(exc).__name__}: {exc}"
    return message + "\n\n" + "".join(traceback.format_exception(exc))[-8000:]


def on_rq_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ failure callback: covers failures outside execute() (e.g. a lost work horse)."""
    if not has_app_context():  # the worker runs jobs inside the app; see jobs.worker
        log.error("job %s failed outside an app context: %s", job.id, exc_value)
        return
    db.session.rollback()
    run = db.session.get(JobRun, job.id)
    if run is not None and not run.finished:
        _finish(job.id, status=JobStatus.FAILED, error=f"{exc_type.__name__}: {exc_value}")
