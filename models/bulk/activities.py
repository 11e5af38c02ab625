"""Bulk reassignment of activities into a user's free calendar slots: the slotted mass
create's planner (models.activities.slots), fed with activities instead of contacts."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, literal, select, update

from ..activities import Activity, ActivityPlan, ActivityStatus
from ..activities.slots import plan_for
from ..base import db
from ..selections import Selection, bounds, selected
from .changes import REASSIGNED, audit_times, record_new_times, record_times

activities = Activity.__table__
plans = ActivityPlan.__table__


def _assigned(selection: Selection, user_id: int):
    # The planner's (contact_id, owner_id, company_id): here the activity's id stands in
    # for the contact, so each activity gets one slot of the new user. Cancelled ones
    # keep their owner and times.
    chosen = selected(selection).subquery("chosen")
    return select(activities.c.id.label("contact_id"), literal(user_id).label("owner_id"),
                  activities.c.company_id.label("company_id")) \
        .where(activities.c.id.in_(select(chosen.c.id)),
               activities.c.status != ActivityStatus.CANCELLED)


def plan_reassignment(job_id: str, selection: Selection, user_id: int, day: date) -> dict:
    """Plan a free slot of ``user_id`` from ``day`` on for each selected activity (the
    preview reads the plan and rolls back)."""
    return plan_for(job_id, _assigned(selection, user_id), day)


def reassign_slotted(job_id: str, selection: Selection, user_id: int, day: date, *,
                     user_id_acting: int | None) -> dict:
    """Give the selected activities to ``user_id`` in their free slots from ``day`` on,
    owner and times recorded for undo and audited. The caller commits."""
    low, high, _ = bounds(selection)
    if low is None:
        return {"planned": 0, "unassigned": 0, "per_user": {}, "moved": 0}
    record_times(job_id, selection, low, high)
    summary = plan_reassignment(job_id, selection, user_id, day)

    def slot(column):
        return select(column).where(plans.c.job_id == job_id,
                                    plans.c.contact_id == activities.c.id).scalar_subquery()

    planned = select(plans.c.contact_id).where(plans.c.job_id == job_id)
    summary["moved"] = db.session.execute(
        update(activities).where(activities.c.id.in_(planned))
        .values(owner_id=user_id, start_at=slot(plans.c.start_at), end_at=slot(plans.c.end_at))
    ).rowcount
    db.session.execute(delete(plans).where(plans.c.job_id == job_id))
    record_new_times(job_id, low, high)
    audit_times(job_id, low, high, user_id=user_id_acting, what=REASSIGNED)
    return summary
