"""Target group jobs: refresh a group's stored members (the SQL is models.groups.refresh)."""

from __future__ import annotations

from models import JobRun, TargetGroup, db
from models.groups.refresh import refresh

from .runs import JobContext, enqueue, job


@job("refresh_group")
def refresh_group(ctx: JobContext, group_id: int) -> dict:
    """The refresh job: ``group_id`` is the target group to refresh."""
    group = db.session.get(TargetGroup, group_id)
    if group is None:
        raise LookupError(f"target group {group_id} does not exist")
    return {"group": group.name, **refresh(group, ctx.progress)}


def start_refresh_group(group_id: int, started_by: int | None = None) -> JobRun:
    """Queue a refresh of one target group's stored members."""
    return enqueue("refresh_group", {"group_id": group_id}, user_id=started_by)
