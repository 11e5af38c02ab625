"""A bulk job's result as one sentence in the reader's language, made when the page is
shown from the counts and ids the job stored (jobs/bulk.py, jobs/bulk_areas.py keep no
words), so a Finnish reader sees Finnish whoever started the job.

Rows written before results were stored this way carry an English ``summary``: it is
shown as it was.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from models import ActivityStatus, Campaign, JobRun, TargetGroup, User, db
from models.bulk.changes import Change
from models.labels import label

from ...i18n import localdate, number

# What each column change does, as the start of its sentence.
CHANGE_WORDS = {
    "contacts.owner_id": _l("Owner changed to %(value)s"),
    "contacts.status": _l("Status set to %(value)s"),
    "contacts.email_opt_out": _l("Email opt-out set to %(value)s"),
    "companies.owner_id": _l("Owner changed to %(value)s"),
    "activities.owner_id": _l("Reassigned to %(value)s"),
    "activities.status": _l("Status set to %(value)s"),
    "campaigns.active": _l("Active set to %(value)s"),
}
# The rows of a list, by its area.
NOUNS = {"contacts": _l("contacts"), "companies": _l("companies"),
         "activities": _l("activities"), "campaigns": _l("campaigns"),
         "groups": _l("target groups"), "outbox": _l("messages"), "jobs": _l("job runs")}
VALUE_WORDS = {"contacts.status": "contact_status", "activities.status": ActivityStatus}
CLEANUP_WORDS = {"dedupe_email": _l("email duplicates"),
                 "prune_opted_out": _l("opted-out members")}


def _user(user_id) -> str:
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return (user.name or user.email) if user else _("nobody")


def _campaign(campaign_id) -> str:
    campaign = db.session.get(Campaign, campaign_id) if isinstance(campaign_id, int) else None
    return str(campaign) if campaign else f"#{campaign_id}"


def describe_value(change: Change, value) -> str:
    """The value a bulk action sets, as people read it (a user's name for an owner)."""
    if change.column == "owner_id":
        return _user(value)
    if change.is_bool:
        return _("yes") if value else _("no")
    kind = VALUE_WORDS.get(f"{change.area}.{change.column}")
    return str(label(value, kind)) if kind else str(value)


def _n(result: dict, key: str) -> str:
    return number(result.get(key) or 0)


def _set(params: dict, result: dict) -> str:
    from jobs.bulk import CHANGES  # the columns a bulk action may set

    spec = CHANGES.get(params.get("change"))
    if spec is None:
        return ""
    words = _("%(what)s on %(changed)s of %(selected)s selected %(noun)s",
              what=CHANGE_WORDS[params["change"]] % {"value": describe_value(
                  spec, params.get("value"))},
              changed=_n(result, "changed"), selected=_n(result, "selected"),
              noun=NOUNS.get(spec.area, spec.area))
    if result.get("unchanged"):
        words += _("; %(n)s had it already", n=_n(result, "unchanged"))
    return words + "."


def _duration(minutes: int) -> str:
    size = abs(minutes)
    if size % (24 * 60) == 0:
        return ngettext("%(num)d day", "%(num)d days", size // (24 * 60))
    return _("%(hours)s hours", hours=number(size / 60))


def _shift(params: dict, result: dict) -> str:
    minutes = params.get("minutes")
    if not isinstance(minutes, int):
        return ""
    words = (_("Moved %(n)s activities back by %(duration)s.") if minutes < 0
             else _("Moved %(n)s activities by %(duration)s."))
    return words % {"n": _n(result, "moved"), "duration": _duration(minutes)}


def _reassign(params: dict, result: dict) -> str:
    day = params.get("day")
    try:
        day = localdate(date.fromisoformat(day))
    except (TypeError, ValueError):
        pass
    return _("Gave %(n)s activities to %(user)s in free slots from %(day)s on.",
             n=_n(result, "moved"), user=_user(params.get("user_id")), day=day)


def _delete(params: dict, result: dict) -> str:
    area = (params.get("selection") or {}).get("area", "")
    return _("Deleted %(n)s %(noun)s.", n=_n(result, "deleted"), noun=NOUNS.get(area, area))


def _undo(params: dict, result: dict) -> str:
    words = _("Put back %(n)s rows as they were before %(job)s", n=_n(result, "restored"),
              job=result.get("undid", params.get("run_id", "")))
    if result.get("kept"):
        words += _("; %(n)s changed since and were left as they are", n=_n(result, "kept"))
    return words + "."


def _join(params: dict, result: dict) -> str:
    email = result.get("email") or {}
    return _("Added %(n)s contacts to %(campaign)s; %(queued)s emails queued, %(held)s held "
             "back.", n=_n(result, "added"), campaign=_campaign(params.get("campaign_id")),
             queued=_n(email, "queued"), held=_n(email, "suppressed"))


def _leave(params: dict, result: dict) -> str:
    return _("Removed %(n)s contacts from %(campaign)s.", n=_n(result, "removed"),
             campaign=_campaign(params.get("campaign_id")))


def _activities(params: dict, result: dict) -> str:
    return _("Created %(n)s activities; %(unassigned)s contacts had nobody to take theirs.",
             n=_n(result, "created"), unassigned=_n(result, "unassigned"))


def _export(params: dict, result: dict) -> str:
    return _("Exported %(n)s contacts to CSV.", n=_n(result, "exported"))


def _cleanup(params: dict, result: dict) -> str:
    action = params.get("action", "")
    words = ngettext("Removed %(n)s %(what)s from %(num)d campaign",
                     "Removed %(n)s %(what)s from %(num)d campaigns",
                     len(result.get("per_campaign") or {}), n=_n(result, "removed"),
                     what=CLEANUP_WORDS.get(action, action))
    if result.get("skipped"):
        reasons = "; ".join(result.get("skipped_reasons") or [])
        words += _("; %(n)s skipped (%(why)s)", n=_n(result, "skipped"), why=reasons)
    return words + "."


def _refresh(params: dict, result: dict) -> str:
    words = ngettext("Refreshed %(num)d target group: %(members)s members in all",
                     "Refreshed %(num)d target groups: %(members)s members in all",
                     result.get("groups") or 0, members=_n(result, "members"))
    if result.get("skipped"):
        names = []
        for skipped in result.get("skipped_groups") or []:
            group = db.session.get(TargetGroup, skipped.get("id") or 0)
            name = group.name if group else f"#{skipped.get('id')}"
            names.append(f"{name}: {'; '.join(skipped.get('problems') or [])}")
        words += _("; %(n)s could not be refreshed (%(why)s)", n=_n(result, "skipped"),
                   why=" / ".join(names))
    return words + "."


def _outbox(params: dict, result: dict) -> str:
    changed = result.get("changed") or 0
    if params.get("operation") == "retry":
        return ngettext("Put %(num)d failed message back in the queue.",
                        "Put %(num)d failed messages back in the queue.", changed)
    return ngettext("Cancelled %(num)d queued message.", "Cancelled %(num)d queued messages.",
                    changed)


SENTENCES = {
    "bulk_set": _set, "bulk_shift": _shift, "bulk_reassign_slotted": _reassign,
    "bulk_delete": _delete, "undo_bulk": _undo, "bulk_join_campaign": _join,
    "bulk_leave_campaign": _leave, "bulk_contact_activities": _activities,
    "bulk_export_contacts": _export, "bulk_campaign_cleanup": _cleanup,
    "bulk_refresh_groups": _refresh, "bulk_outbox": _outbox,
}


def bulk_sentence(run: JobRun) -> str:
    """What a finished bulk job did, in the reader's language; a row written before results
    were stored as counts shows its stored sentence; other jobs have none here ("")."""
    result = run.result or {}
    stored = result.get("summary")
    if isinstance(stored, str) and stored:
        return stored
    sentence = SENTENCES.get(run.kind)
    if sentence is None or not result:
        return ""
    return sentence(run.params or {}, result)
