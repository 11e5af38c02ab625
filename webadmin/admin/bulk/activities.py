"""Bulk actions of the activity list: reassign (keeping the times, or into the new user's
free slots with the mass create's planner and its preview), set status, shift, delete."""

from __future__ import annotations

import uuid

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jobs.bulk import (
    CHANGES,
    start_delete,
    start_reassign_slotted,
    start_set_owner,
    start_set_status,
    start_shift,
)
from models import ActivityStatus, User, db
from models.activities.slots import ActivityError
from models.bulk.activities import plan_reassignment
from models.bulk.changes import would_change
from models.selections import Selection, count

from ...i18n import localdate, number
from .actions import BulkAction, BulkRefused, Field, Preview
from .sentences import describe_value

MODES = (("keep", _l("keep their times")), ("slotted", _l("into the user's free slots")))
UNITS = (("days", _l("days")), ("hours", _l("hours")))
STATUSES = ((ActivityStatus.DONE.value, _l("Done")),
            (ActivityStatus.CANCELLED.value, _l("Cancelled")),
            (ActivityStatus.PLANNED.value, _l("Planned")))


def dry_run(plan):
    """Run ``plan(job_id)`` with a throwaway job id and roll everything back: the preview
    is the real planner's answer, and nothing of it stays."""
    try:
        return plan(f"dry-run-{uuid.uuid4().hex}")
    finally:
        db.session.rollback()


def plan_table(plan: dict) -> list[tuple[str, dict]]:
    """The plan per user (name, {day: activities}) for the preview's table."""
    ids = [int(uid) for uid in plan["per_user"]]
    names = {u.id: u.name or u.email
             for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return [(names.get(int(uid), f"#{uid}"), days) for uid, days in plan["per_user"].items()]


def _reassign(selection: Selection, params: dict) -> Preview:
    if params["mode"] == "keep":
        changing = would_change(selection, CHANGES["activities.owner_id"], params["owner_id"])
        return Preview(_("This gives %(n)s activities to %(user)s; their times stay.",
                         n=number(changing),
                         user=describe_value(CHANGES["activities.owner_id"],
                                             params["owner_id"])),
                       [_("Undo gives them back to their previous owners.")],
                       runnable=changing > 0)
    if params["day"] is None:
        raise BulkRefused(_("choose the first day of the new slots"))
    try:
        plan = dry_run(lambda job_id: plan_reassignment(job_id, selection, params["owner_id"],
                                                        params["day"]))
    except ActivityError as exc:
        raise BulkRefused(str(exc)) from None
    return Preview(_("This moves %(n)s activities into free slots of the new owner from "
                     "%(day)s on (cancelled ones stay as they are).", n=number(plan['planned']),
                     day=localdate(params["day"])),
                   [_("Undo puts back their owners and times.")], plan_table(plan),
                   runnable=plan["planned"] > 0)


def _status(selection: Selection, params: dict) -> Preview:
    changing = would_change(selection, CHANGES["activities.status"], params["status"])
    return Preview(_("This sets %(n)s activities to %(status)s.", n=number(changing),
                     status=params["status"]),
                   [_("Undo puts the previous statuses back.")], runnable=changing > 0)


def minutes(params: dict) -> int:
    """The shift in minutes."""
    return params["amount"] * (24 * 60 if params["unit"] == "days" else 60)


def _shift(selection: Selection, params: dict) -> Preview:
    total = count(selection)
    way = _("later") if params["amount"] > 0 else _("earlier")
    return Preview(_("This moves %(n)s activities %(amount)s %(unit)s %(way)s.",
                     n=number(total), amount=abs(params["amount"]), unit=params["unit"],
                     way=way),
                   [_("Undo puts their times back.")], runnable=total > 0)


def _delete(selection: Selection, params: dict) -> Preview:
    total = count(selection)
    return Preview(_("This deletes %(n)s activities and their contact links.", n=number(total)),
                   [_("It cannot be undone; each deletion is in the audit trail.")],
                   runnable=total > 0)


def _start_reassign(selection: Selection, params: dict, user_id: int) -> list:
    if params["mode"] == "keep":
        return [start_set_owner(selection, params["owner_id"], started_by=user_id)]
    if params["day"] is None:
        raise BulkRefused(_("choose the first day of the new slots"))
    return [start_reassign_slotted(selection, params["owner_id"], params["day"],
                                   started_by=user_id)]


ACTIVITY_ACTIONS = (
    BulkAction("reassign", _l("Reassign to a user"), (
        Field("owner_id", _l("New owner"), "user"),
        Field("mode", _l("Times"), "choice", MODES, default="keep"),
        Field("day", _l("First day of the new slots"), "date", optional=True)),
        _reassign, _start_reassign),
    BulkAction("set_status", _l("Set status"), (Field("status", _l("Status"), "choice", STATUSES),),
               _status, lambda s, p, u: [start_set_status(s, p["status"], started_by=u)]),
    BulkAction("shift", _l("Shift by days or hours"), (
        Field("amount", _l("By (negative: earlier)"), "int", low=-3650, high=3650),
        Field("unit", _l("Unit"), "choice", UNITS, default="days")),
        _shift, lambda s, p, u: [start_shift(s, minutes(p), started_by=u)]),
    BulkAction("delete_activities", _l("Delete"), (), _delete,
               lambda s, p, u: [start_delete(s, started_by=u)], danger=True),
)
