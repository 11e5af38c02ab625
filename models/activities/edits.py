"""Edit every activity one job created at once: one UPDATE … WHERE job_id = that job.

Only the fields given change; times move by one shift for all (so a per-contact
schedule keeps its spacing), and "a new start" is the shift that puts the
earliest of them there. Activities made by hand or by another run have another
job id (or none) and are never touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Interval, String, func, literal, select, update

from models import Activity, db, utcnow

activities = Activity.__table__


def shifted(column, delta: timedelta):
    """``column`` moved by ``delta``, in SQL; the one part that differs by dialect."""
    if db.engine.dialect.name == "postgresql":
        return column + literal(delta, Interval)
    # SQLite keeps UTC timestamps as "YYYY-MM-DD HH:MM:SS.ffffff" text (models.base) and
    # compares them as text: write the shifted value back in exactly that shape.
    seconds = f"{round(delta.total_seconds()):+d} seconds"
    return func.strftime("%Y-%m-%d %H:%M:%f", column, seconds, type_=String) + "000"


def shift_to(job_id: str, new_start: datetime) -> timedelta:
    """The shift that moves the job's earliest activity to ``new_start``."""
    first = db.session.scalar(select(func.min(Activity.start_at)).where(Activity.job_id == job_id))
    return new_start - first if first else timedelta(0)


def apply_to_all(job_id: str, changes: dict, shift: timedelta | None = None) -> int:
    """Set ``changes`` (type, subject, notes, status) and move by ``shift`` every activity of
    ``job_id`` in one UPDATE; return how many changed."""
    if not job_id:
        raise ValueError("no job id: nothing to apply the changes to")
    values = {k: v for k, v in changes.items() if k in ("type", "subject", "notes", "status")}
    if shift:
        values["start_at"] = shifted(activities.c.start_at, shift)
        values["end_at"] = shifted(activities.c.end_at, shift)
    if not values:
        return 0
    result = db.session.execute(
        update(activities).where(activities.c.job_id == job_id)
        .values(**values, updated_at=utcnow())
    )
    return result.rowcount
