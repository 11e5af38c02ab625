"""Bulk actions of the contact and company lists, each with its dry run in words."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jobs.bulk import CHANGES, start_delete, start_opt_out, start_set_owner
from jobs.bulk import start_set_status as start_status
from jobs.bulk_areas import (
    start_contact_activities,
    start_export_contacts,
    start_join_campaign,
    start_leave_campaign,
)
from models import ActivityType
from models.activities.slots import ActivityError
from models.bulk.changes import would_change
from models.bulk.contacts import join_preview, leave_preview, plan_activities
from models.labels import choices
from models.selections import Selection, count

from ...i18n import localdate, number
from .actions import BulkAction, Field, Preview
from .activities import dry_run, plan_table
from .sentences import describe_value

OWNER = Field("owner_id", _l("New owner"), "user")
CAMPAIGN = Field("campaign_id", _l("Campaign"), "campaign")
REASON = Field("reason", _l("Reason (kept in the audit trail)"), "text", size=200)


def _join(selection: Selection, params: dict) -> Preview:
    found = join_preview(selection, params["campaign_id"])
    opted_out = found["suppressed"].get("opted_out", 0)
    others = sum(found["suppressed"].values()) - opted_out
    if found["has_template"]:
        sentence = _("This adds %(n)s contacts to %(campaign)s and queues %(queued)s emails; "
                     "%(opted)s are opted out.", n=number(found['would_add']),
                     campaign=found["campaign"], queued=number(found['queued']),
                     opted=number(opted_out))
    else:
        sentence = _("This adds %(n)s contacts to %(campaign)s (it has no email template, so "
                     "no email goes out).", n=number(found['would_add']),
                     campaign=found["campaign"])
    details = [_("%(n)s are members already.", n=number(found['already_members']))]
    if others:
        details.append(_("%(n)s get no email for another reason (no or invalid address, "
                         "bounced, waiting period).", n=number(others)))
    details.append(_("Undo removes exactly the contacts this adds."))
    return Preview(sentence, details, runnable=found["would_add"] > 0)


def _leave(selection: Selection, params: dict) -> Preview:
    found = leave_preview(selection, params["campaign_id"])
    return Preview(_("This removes %(n)s contacts from %(campaign)s.",
                     n=number(found['would_remove']), campaign=found["campaign"]),
                   [_("Undo puts them back as they were.")], runnable=found["would_remove"] > 0)


def _set(change: str, value_of, sentence: str, selection: Selection, params: dict,
         note: str = "") -> Preview:
    spec = CHANGES[change]
    value = value_of(params)
    changing = would_change(selection, spec, value)
    total = count(selection)
    details = [_("%(n)s have it already and stay as they are.", n=number(total - changing))]
    if note:
        details.append(note)
    details.append(_("Each change is in the audit trail; undo puts the previous values back."))
    return Preview(sentence % {"n": number(changing), "value": describe_value(spec, value)},
                   details, runnable=changing > 0)


def set_owner_preview(area: str):
    """The dry run of a change of owner in ``area`` (contacts, companies, activities)."""
    def preview(selection: Selection, params: dict) -> Preview:
        return _set(f"{area}.owner_id", lambda p: p["owner_id"],
                    _("This gives %(n)s %(noun)s to %(value)s.", noun=selection.spec.noun,
                      n="%(n)s", value="%(value)s"), selection, params)
    return preview


def _status(selection: Selection, params: dict) -> Preview:
    return _set("contacts.status", lambda p: p["status"],
                _("This sets the status of %(n)s contacts to %(value)s.", n="%(n)s",
                  value="%(value)s"), selection, params)


def _opt(opted_out: bool):
    def preview(selection: Selection, params: dict) -> Preview:
        if opted_out:
            sentence = _("This opts %(n)s contacts out of email; no campaign or group email "
                         "goes to them from now on.", n="%(n)s")
        else:
            sentence = _("This opts %(n)s contacts back in to email: make sure they asked "
                         "for it.", n="%(n)s")
        return _set("contacts.email_opt_out", lambda p: opted_out, sentence, selection, params,
                    _("Reason: %(reason)s", reason=params["reason"]))
    return preview


def _activities(selection: Selection, params: dict) -> Preview:
    try:
        plan = dry_run(lambda job_id: plan_activities(
            job_id, selection, params["day"], params["user_id"], params["fallback_user_id"]))
    except ActivityError as exc:
        raise ValueError(str(exc)) from None
    sentence = _("This creates %(n)s activities in free slots from %(day)s on.",
                 n=number(plan['planned']), day=localdate(params["day"]))
    details = []
    if plan["unassigned"]:
        details.append(_("%(n)s contacts have no owner and no fallback user: they get none.",
                         n=number(plan['unassigned'])))
    return Preview(sentence, details, plan_table(plan), runnable=plan["planned"] > 0)


def _export(selection: Selection, params: dict) -> Preview:
    return Preview(_("This writes %(n)s contacts to a CSV file you download from the job's "
                     "page.", n=number(count(selection))),
                   [_("Cells a spreadsheet would run as a formula are neutralised.")])


def _delete(selection: Selection, params: dict) -> Preview:
    total = count(selection)
    return Preview(_("This deletes %(n)s contacts with their campaign memberships, activity "
                     "links and messages.", n=number(total)),
                   [_("It cannot be undone; each deletion is in the audit trail.")],
                   runnable=total > 0)


def _one(start):
    # Starters return one run; the page takes a list (some actions start one per row).
    return lambda selection, params, user_id: [start(selection, params, user_id)]


ACTIVITY_FIELDS = (
    Field("day", _l("First day"), "date"),
    Field("subject", _l("Subject"), "text", default="Call"),
    Field("activity_type", _l("Type"), "choice", tuple(choices(ActivityType)),
          default="call"),
    Field("user_id", _l("For this user (empty: each contact's owner)"), "user", optional=True),
    Field("fallback_user_id", _l("Contacts without an owner go to"), "user", optional=True),
    Field("campaign_id", _l("Campaign (optional)"), "campaign", optional=True),
)

CONTACT_ACTIONS = (
    BulkAction("add_to_campaign", _l("Add to campaign"), (CAMPAIGN,), _join, _one(
        lambda s, p, u: start_join_campaign(s, p["campaign_id"], started_by=u))),
    BulkAction("remove_from_campaign", _l("Remove from campaign"), (CAMPAIGN,), _leave, _one(
        lambda s, p, u: start_leave_campaign(s, p["campaign_id"], started_by=u))),
    BulkAction("set_owner", _l("Change owner"), (OWNER,), set_owner_preview("contacts"), _one(
        lambda s, p, u: start_set_owner(s, p["owner_id"], started_by=u))),
    BulkAction("set_status", _l("Set status"), (Field("status", _l("Status"), "text", size=40),),
               _status, _one(lambda s, p, u: start_status(s, p["status"], started_by=u))),
    BulkAction("opt_out", _l("Opt out of email"), (REASON,), _opt(True), _one(
        lambda s, p, u: start_opt_out(s, True, p["reason"], started_by=u))),
    BulkAction("opt_in", _l("Opt back in to email"), (REASON,), _opt(False), _one(
        lambda s, p, u: start_opt_out(s, False, p["reason"], started_by=u)), admin_only=True),
    BulkAction("create_activities", _l("Create activities for them"), ACTIVITY_FIELDS,
               _activities, _one(lambda s, p, u: start_contact_activities(
                   s, p["day"], subject=p["subject"], activity_type=p["activity_type"],
                   user_id=p["user_id"], fallback_user_id=p["fallback_user_id"],
                   campaign_id=p["campaign_id"], started_by=u))),
    BulkAction("export", _l("Export as CSV"), (), _export, _one(
        lambda s, p, u: start_export_contacts(s, started_by=u))),
    BulkAction("delete_contacts", _l("Delete"), (), _delete, _one(
        lambda s, p, u: start_delete(s, started_by=u)), admin_only=True, danger=True),
)

COMPANY_ACTIONS = (
    BulkAction("add_to_campaign", _l("Add their contacts to a campaign"), (CAMPAIGN,), _join,
               _one(lambda s, p, u: start_join_campaign(s, p["campaign_id"], started_by=u))),
    BulkAction("set_owner", _l("Change owner"), (OWNER,), set_owner_preview("companies"), _one(
        lambda s, p, u: start_set_owner(s, p["owner_id"], started_by=u))),
)
