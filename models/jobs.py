"""Job runs: the database's record of every job the product starts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, and_, exists, func, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, db, utcnow


class JobStatus(StrEnum):
    """queued → running → done / failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
# What a person sees for a running run whose lease expired (its worker is gone and the
# reaper has not failed it yet): a display status, never stored.
STUCK = "stuck"
# The message a run gets when its worker died under it (the reaper, a horse killed).
WORKER_LOST = "worker lost"


class JobRun(Base):
    """Who started what with which parameters, how far it got and how it ended.

    The primary key is also the RQ job id, so a worker and a page talk about
    the same job without a lookup table.
    """

    __tablename__ = "job_runs"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    # kind + canonical parameters: two runs with the same key are the same job.
    dedupe_key: Mapped[str] = mapped_column(String(80))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scheduled_action_id: Mapped[int | None] = mapped_column(
        ForeignKey("scheduled_actions.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Liveness (docs/architecture.md, rule 9): who runs it, and until when they hold it. The holder
    # renews the lease while it works; the reaper fails a run whose lease has expired.
    worker_name: Mapped[str | None] = mapped_column(String(120))
    worker_host: Mapped[str | None] = mapped_column(String(120))
    worker_pid: Mapped[int | None]
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Automatic retries: attempt N+1 is a new run pointing at attempt N; it waits in the
    # database (queued) until ``not_before``, and a tick puts it on the queue then.
    attempt: Mapped[int] = mapped_column(default=1)
    retry_of_id: Mapped[str | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A split job (docs/architecture.md, rule 4): a chunk run points at the run that fanned it
    # out; that parent stays running until its last chunk has ended (jobs/split.py).
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="CASCADE")
    )

    user = relationship("User")
    scheduled_action = relationship("ScheduledAction", backref="runs")
    retry_of = relationship("JobRun", remote_side=[id], foreign_keys=[retry_of_id])

    __table_args__ = (
        Index("ix_job_runs_dedupe_key_status", "dedupe_key", "status"),
        Index("ix_job_runs_enqueued_at", "enqueued_at"),
        # The double-click guarantee: at most one active run per request, whatever its id.
        Index("uq_job_runs_active_dedupe_key", "dedupe_key", unique=True,
              postgresql_where=text("status IN ('queued', 'running')"),
              sqlite_where=text("status IN ('queued', 'running')")),
        Index("ix_job_runs_status_lease_expires_at", "status", "lease_expires_at"),
        Index("ix_job_runs_retry_of_id", "retry_of_id"),
        Index("ix_job_runs_parent_id", "parent_id"),
    )

    @property
    def percent(self) -> int:
        """Progress as a whole percentage (0 when the total is not known yet)."""
        if not self.progress_total:
            return 100 if self.status == JobStatus.DONE else 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish (or to now, while running)."""
        if self.started_at is None:
            return None
        return ((self.finished_at or utcnow()) - self.started_at).total_seconds()

    @property
    def stuck(self) -> bool:
        """Running, but its lease expired: its worker is gone (the reaper fails it soon)."""
        return (self.status == JobStatus.RUNNING and self.lease_expires_at is not None
                and self.lease_expires_at < utcnow())

    @property
    def shown_status(self) -> str:
        """The status a person sees: ``stuck`` for a running run whose lease expired."""
        return STUCK if self.stuck else self.status

    @property
    def finished(self) -> bool:
        """True once the job is done or failed."""
        return self.status not in ACTIVE_STATUSES

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


def stuck_condition(now: datetime):
    """Running, but the lease expired: its worker is gone (the reaper fails it soon)."""
    return and_(JobRun.status == JobStatus.RUNNING, JobRun.lease_expires_at < now)


def stuck_runs(now: datetime, limit: int = 20) -> list:
    """(id, kind, worker_name, lease_expires_at) of the stuck runs, the longest expired first."""
    return db.session.execute(
        select(JobRun.id, JobRun.kind, JobRun.worker_name, JobRun.lease_expires_at)
        .where(stuck_condition(now)).order_by(JobRun.lease_expires_at).limit(limit)
    ).all()


def retries_in_progress() -> int:
    """Queued or running runs that are a second or later attempt."""
    return db.session.scalar(select(func.count()).where(
        JobRun.status.in_(ACTIVE_STATUSES), JobRun.attempt > 1)) or 0


def active_of_kind(kind: str) -> bool:
    """Whether a run of this kind is queued or running."""
    return bool(db.session.scalar(select(exists().where(
        JobRun.kind == kind, JobRun.status.in_(ACTIVE_STATUSES)))))


def failed(run_id: str) -> bool:
    """Whether that run failed."""
    return db.session.scalar(select(JobRun.status).where(JobRun.id == run_id)) == JobStatus.FAILED


def recent_runs(limit: int, status: str | None = None, now: datetime | None = None) -> list:
    """The most recent runs, newest first; ``status`` STUCK means :func:`stuck_condition`."""
    query = select(JobRun).order_by(JobRun.enqueued_at.desc()).limit(limit)
    if status == STUCK:
        query = query.where(stuck_condition(now or utcnow()))
    elif status:
        query = query.where(JobRun.status == status)
    return list(db.session.scalars(query))
