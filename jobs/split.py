"""Big jobs split (docs/architecture.md, rule 4): a parent run fans its work out to chunk runs.

A job over more rows than KOHDE_CHUNK_ROWS cuts its work into ranges (primary-key
ranges, or line ranges of a file) and calls :func:`fan_out`: in the same transaction
as the parent's own writes, one queued child run per range is recorded (``parent_id``,
the range in its parameters), so the database holds every chunk before Redis carries
any. Each child is an ordinary run: any worker takes it, it holds a lease, and a
killed or lost one is failed and retried by the reaper like every run. Its progress is
added up into the parent's, so a page shows one bar.

The parent stays ``running`` after its function returns, without a worker: whoever ends
its last chunk (or the reaper, should that process die first) settles it: ``done`` with
the chunks' results combined when every chunk's last attempt is done, ``failed`` when one
is failed for good (its kind's :func:`on_failure` then keeps what the chunks did and
removes their pieces, as a finisher does on success). While chunks are still active, a
parent whose lease expires only has it renewed: it is alive through its children.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from sqlalchemy import exists, func, select, update

from models import ACTIVE_STATUSES, JobRun, JobStatus, db, utcnow

from .liveness import lease_values, safe_text
from .runs import JobContext, _put_on_queue, dedupe_key, new_run_id

log = logging.getLogger(__name__)

# parent kind → combine(parent's result as fanned out, the chunks' results in order).
FINISHERS: dict[str, Callable[[dict, list[dict]], dict]] = {}
# parent kind → tidy(parent's result as fanned out, how each chunk's last attempt ended):
# what a failed split job keeps of its chunks' work, and the pieces it removes.
ON_FAILURE: dict[str, Callable[[dict, list[dict]], dict]] = {}
BOOKKEEPING = ("parent_id", "seq")  # a chunk's parameters that are not its range


def chunk_rows() -> int:
    """Rows per chunk, and the size above which a job splits (KOHDE_CHUNK_ROWS)."""
    return current_app.config["KOHDE_CHUNK_ROWS"]


def finisher(kind: str) -> Callable[[Callable], Callable]:
    """Register how a split job of ``kind`` combines its chunks' results into its own."""

    def register(func: Callable) -> Callable:
        FINISHERS[kind] = func
        return func

    return register


def on_failure(kind: str) -> Callable[[Callable], Callable]:
    """Register what a split job of ``kind`` keeps and removes when it fails: it gets the
    parent's result and, per chunk in order, ``{"seq", "status", "error", "result",
    "params"}`` of its last attempt, and returns the parent's result. It may run again if
    the process settling the parent dies before its commit, so it must be harmless to
    repeat."""

    def register(func: Callable) -> Callable:
        ON_FAILURE[kind] = func
        return func

    return register


def summed(result: dict, chunks: list[dict], keys: tuple[str, ...]) -> dict:
    """``result`` with each of ``keys`` the sum over the chunks' results."""
    return {**result, **{key: sum(chunk.get(key) or 0 for chunk in chunks) for key in keys}}


def fan_out(ctx: JobContext, kind: str, chunks: list[dict], *, total: int,
            result: dict) -> None:
    """Record one queued ``kind`` run per chunk (its parameters: the chunk's, plus
    ``parent_id`` and ``seq``) under the running parent ``ctx``, commit them with the
    parent's pending writes, its ``result`` so far and ``total``, then queue them.

    The parent's function returns right after this; its run stays running until
    :func:`settle` ends it. It gives up its worker pid: a horse that exits after the fan-out
    has lost nothing, and nothing of it may be failed as a dead horse's.
    """
    ids = []
    for seq, chunk in enumerate(chunks):
        params = {"parent_id": ctx.run_id, "seq": seq, **chunk}
        key = dedupe_key(kind, params)
        ids.append(new_run_id(key))
        db.session.add(JobRun(id=ids[-1], kind=kind, dedupe_key=key, params=params,
                              user_id=ctx.user_id, parent_id=ctx.run_id,
                              status=JobStatus.QUEUED))
    db.session.execute(update(JobRun).where(JobRun.id == ctx.run_id)
                       .values(result=result, worker_pid=None))
    ctx.progress(0, total)  # commits the parent's work and its chunks together
    ctx.waiting = True
    for run_id in ids:
        _put_on_queue(run_id)
    log.info("job run %s split into %d %s chunks", ctx.run_id, len(ids), kind)


def has_chunks(run_id: str) -> bool:
    """Whether the run fanned its work out to chunk runs."""
    return bool(db.session.scalar(select(exists().where(JobRun.parent_id == run_id))))


def parents_among(run_ids: list[str]) -> set[str]:
    """Those of ``run_ids`` that have chunk runs."""
    if not run_ids:
        return set()
    return set(db.session.scalars(select(JobRun.parent_id)
                                  .where(JobRun.parent_id.in_(run_ids)).distinct()))


def _last_attempts(parent_id: str) -> list:
    """The latest attempt of each chunk, in chunk order."""
    rows = db.session.execute(
        select(JobRun.dedupe_key, JobRun.attempt, JobRun.status, JobRun.error, JobRun.result,
               JobRun.params).where(JobRun.parent_id == parent_id)
    ).all()
    latest: dict[str, object] = {}
    for row in rows:
        if row.dedupe_key not in latest or row.attempt > latest[row.dedupe_key].attempt:
            latest[row.dedupe_key] = row
    return sorted(latest.values(), key=lambda row: row.params.get("seq", 0))


def _range(params: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in params.items() if k not in BOOKKEEPING)


def settle(parent_id: str) -> bool:
    """End a split parent whose chunks have all ended, or renew its lease while some are
    active; whether it is still waiting. Safe to call from several processes at once: the
    first statement takes the parent's row (a row lock on PostgreSQL, the write lock on
    SQLite) and only a process that still finds it running goes on."""
    taken = db.session.execute(
        update(JobRun).where(JobRun.id == parent_id, JobRun.status == JobStatus.RUNNING)
        .values(**lease_values())
    ).rowcount
    if not taken:
        db.session.rollback()
        return False
    chunks = _last_attempts(parent_id)
    if not chunks or any(c.status in ACTIVE_STATUSES for c in chunks):
        db.session.commit()  # alive through its chunks: the lease renewed above
        return bool(chunks)
    parent = db.session.get(JobRun, parent_id, populate_existing=True)
    failed = [c for c in chunks if c.status == JobStatus.FAILED]
    values: dict = {"finished_at": utcnow()}
    if failed:
        first = failed[0]
        reason = (first.error or "").split("\n", 1)[0]
        values.update(status=JobStatus.FAILED, result={
            **_tidied(parent, chunks), "chunks": len(chunks), "chunks_failed": len(failed)},
            error=safe_text(f"{len(failed)} of {len(chunks)} chunks failed; chunk "
                            f"{first.params.get('seq', 0) + 1} ({_range(first.params)}): "
                            f"{reason}"))
    else:
        combine = FINISHERS.get(parent.kind, lambda result, _chunks: result)
        result = combine(dict(parent.result), [dict(c.result or {}) for c in chunks])
        values.update(status=JobStatus.DONE, result={**result, "chunks": len(chunks)},
                      progress_done=func.coalesce(JobRun.progress_total, JobRun.progress_done))
    db.session.execute(update(JobRun).where(JobRun.id == parent_id).values(**values))
    db.session.commit()
    log.info("split job run %s ended %s (%d chunks)", parent_id, values["status"], len(chunks))
    return False


def _tidied(parent: JobRun, chunks: list) -> dict:
    """The failed parent's result after its kind's ON_FAILURE; a tidy-up that fails is
    logged and the parent fails all the same (it must not stay running for a file)."""
    tidy = ON_FAILURE.get(parent.kind)
    if tidy is None:
        return dict(parent.result)
    ended = [{"seq": c.params.get("seq", 0), "status": c.status, "error": c.error,
              "result": dict(c.result or {}), "params": dict(c.params)} for c in chunks]
    try:
        return tidy(dict(parent.result), ended)
    except Exception:  # noqa: BLE001 - the failure is recorded either way; this is cleanup
        log.exception("split job run %s failed; its pieces could not be tidied", parent.id)
        return dict(parent.result)


def settle_parent_of(run_id: str) -> None:
    """After a run ended: settle its parent, if it is a chunk."""
    parent_id = db.session.scalar(select(JobRun.parent_id).where(JobRun.id == run_id))
    db.session.rollback()
    if parent_id is None:
        return
    try:
        settle(parent_id)
    except Exception as exc:  # the chunk's end is recorded; the reaper settles the parent
        db.session.rollback()
        log.error("could not settle split job run %s: %s", parent_id, exc)


def chunk_progress(parent_id: str) -> None:
    """Add the parent's progress up from its chunks' (the failed attempts' left out) and
    renew its lease, in the caller's transaction: a chunk calls this with its own."""
    child = JobRun.__table__.alias("child")
    done = (select(func.coalesce(func.sum(child.c.progress_done), 0))
            .where(child.c.parent_id == parent_id, child.c.status != JobStatus.FAILED)
            .scalar_subquery())
    db.session.execute(update(JobRun).where(JobRun.id == parent_id,
                                            JobRun.status == JobStatus.RUNNING)
                       .values(progress_done=done, **lease_values()))


def chunk_runs(parent_id: str) -> list[JobRun]:
    """Every chunk run (every attempt) of a split parent, in chunk order."""
    return list(db.session.scalars(
        select(JobRun).where(JobRun.parent_id == parent_id)
        .order_by(JobRun.enqueued_at, JobRun.attempt)))
