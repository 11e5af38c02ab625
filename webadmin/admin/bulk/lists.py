"""Bulk actions of the campaign, target group, outbox and job lists."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from jobs.bulk import CHANGES, can_undo, start_set_active, start_undo
from jobs.bulk_areas import start_campaign_cleanup, start_outbox, start_refresh_groups
from models import JobRun, db
from models.bulk.changes import would_change
from models.bulk.lists import outbox_counts
from models.campaigns.audience import Action, dry_run
from models.selections import Selection, count, selected

from ...i18n import number
from .actions import BulkAction, Preview


def _ids(selection: Selection) -> list:
    return list(db.session.scalars(selected(selection)))


def _active(active: bool):
    def preview(selection: Selection, params: dict) -> Preview:
        changing = would_change(selection, CHANGES["campaigns.active"], active)
        sentence = (_("This activates %(n)s campaigns.", n=changing) if active else
                    _("This deactivates %(n)s campaigns: no action can use them until they "
                      "are active again.", n=changing))
        return Preview(sentence, [_("Undo puts the previous state back.")],
                       runnable=changing > 0)
    return preview


def _cleanup(action: Action, what: str):
    def preview(selection: Selection, params: dict) -> Preview:
        removing, inactive = 0, 0
        for campaign_id in _ids(selection):
            try:
                removing += dry_run(campaign_id, action)["would_remove"]
            except ValueError:
                inactive += 1
        details = [_("Undo puts them back.")]
        if inactive:
            details.insert(0, _("%(n)s of the selected campaigns are not active and are "
                                "skipped.", n=inactive))
        return Preview(_("This removes %(n)s %(what)s from %(campaigns)s campaigns.",
                         n=number(removing), what=what, campaigns=count(selection)),
                       details, runnable=removing > 0)
    return preview


def _refresh(selection: Selection, params: dict) -> Preview:
    return Preview(_("This refreshes %(n)s target groups: their members become what their "
                     "conditions select now.", n=count(selection)))


def _outbox(operation: str):
    def preview(selection: Selection, params: dict) -> Preview:
        counts = outbox_counts(selection)
        if operation == "retry":
            return Preview(_("This puts %(n)s failed messages back in the queue (of %(all)s "
                             "selected).", n=counts["failed"], all=counts["selected"]),
                           runnable=counts["failed"] > 0)
        return Preview(_("This cancels %(n)s queued messages (of %(all)s selected): they will "
                         "not be sent.", n=counts["queued"], all=counts["selected"]),
                       runnable=counts["queued"] > 0)
    return preview


def _mine(run: JobRun) -> bool:
    # A user undoes their own jobs only; an admin anyone's.
    return current_user.is_admin or run.user_id == current_user.id


def _undoable(selection: Selection) -> tuple[list[JobRun], int]:
    runs = db.session.scalars(select(JobRun).where(JobRun.id.in_(selected(selection)))).all()
    usable = [run for run in runs if can_undo(run) and _mine(run)]
    return usable, len(runs) - len(usable)


def _undo_preview(selection: Selection, params: dict) -> Preview:
    usable, others = _undoable(selection)
    details = [run.result.get("summary") or run.id for run in usable[:10]]
    if others:
        details.append(_("%(n)s of the selected jobs cannot be undone (not finished, undone "
                         "already, of a kind without undo, or started by someone else).",
                         n=others))
    return Preview(_("This undoes %(n)s jobs.", n=len(usable)), details,
                   runnable=bool(usable))


def _undo(selection: Selection, params: dict, user_id: int) -> list:
    usable, _others = _undoable(selection)
    return [start_undo(run, started_by=user_id) for run in usable]


CAMPAIGN_ACTIONS = (
    BulkAction("activate", _l("Activate"), (), _active(True),
               lambda s, p, u: [start_set_active(s, True, started_by=u)]),
    BulkAction("deactivate", _l("Deactivate"), (), _active(False),
               lambda s, p, u: [start_set_active(s, False, started_by=u)]),
    BulkAction("remove_email_duplicates", _l("Remove email duplicates"), (),
               _cleanup(Action.DEDUPE_EMAIL, _l("email duplicates")),
               lambda s, p, u: [start_campaign_cleanup(s, Action.DEDUPE_EMAIL.value,
                                                       started_by=u)]),
    BulkAction("remove_opted_out", _l("Remove opted-out members"), (),
               _cleanup(Action.PRUNE_OPTED_OUT, _l("opted-out members")),
               lambda s, p, u: [start_campaign_cleanup(s, Action.PRUNE_OPTED_OUT.value,
                                                       started_by=u)]),
)
GROUP_ACTIONS = (
    BulkAction("refresh", _l("Refresh"), (), _refresh,
               lambda s, p, u: [start_refresh_groups(s, started_by=u)]),
)
OUTBOX_ACTIONS = (
    BulkAction("retry_failed", _l("Retry the failed"), (), _outbox("retry"),
               lambda s, p, u: [start_outbox(s, "retry", started_by=u)]),
    BulkAction("cancel_queued", _l("Cancel the queued"), (), _outbox("cancel"),
               lambda s, p, u: [start_outbox(s, "cancel", started_by=u)], danger=True),
)
JOB_ACTIONS = (
    BulkAction("undo", _l("Undo"), (), _undo_preview, _undo),
)
