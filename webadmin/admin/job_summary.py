"""A job's parameters and result as labelled lines with links, instead of raw JSON.

Each known key has a label and a way to show its value (a record it names becomes a
link to that record's page); keys nobody described are still shown, labelled from their
name, so nothing a job records is hidden. Server paths are never shown.
"""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from models import ActivityType, Campaign, JobRun, SavedFilter, User, db
from models.campaigns.audience import Action
from models.labels import label

from ..i18n import localdate, number
from .links import group_in_words, link, record_link

# Server paths and internal bookkeeping; the skipped lists are in the bulk job's sentence.
HIDDEN = {"path", "report_path", "slot", "skipped_reasons", "skipped_groups"}
FIRST_CONTACTS = 5

LABELS = {
    "campaign_id": _l("Campaign"), "group_id": _l("Target group"), "action": _l("What"),
    "source_id": _l("From"), "contact_ids": _l("Contacts"), "run_id": _l("Run"),
    "user_id": _l("For user"), "fallback_user_id": _l("Fallback user"), "day": _l("Day"),
    "subject": _l("Subject"), "activity_type": _l("Type"), "refresh_group": _l("Refresh first"),
    "filename": _l("File"), "added": _l("Added"), "removed": _l("Removed"),
    "restored": _l("Put back"), "members": _l("Members now"), "created": _l("Created"),
    "imported": _l("Imported"), "updated": _l("Updated"), "rejected": _l("Rejected"),
    "undid": _l("Undid"), "undone_by": _l("Undone by"), "group": _l("Target group"),
    "file": _l("File"), "email": _l("Email"), "group_refresh": _l("Group refresh"),
    "already_members": _l("Already members"), "sent": _l("Sent"), "failed": _l("Failed"),
    "deferred": _l("Deferred"), "suppressed": _l("Not sent"), "queued": _l("Queued"),
    "kept_existing": _l("Existing contacts left as they were"),
    "selected": _l("Selected"), "changed": _l("Changed"), "unchanged": _l("Unchanged"),
    "moved": _l("Moved"), "deleted": _l("Deleted"), "kept": _l("Left as they were"),
    "exported": _l("Exported"), "groups": _l("Target groups"), "skipped": _l("Skipped"),
    "unassigned": _l("Without a user"), "planned": _l("Planned"), "per_user": _l("Per user"),
    "campaign_ids": _l("Campaigns"), "per_campaign": _l("Per campaign"),
    "update_existing": _l("Update existing contacts"),
    "companies_created": _l("Companies created"), "rows": _l("Rows read"),
    "ignored_columns": _l("Columns ignored"),
    "chunks": _l("Done in parts"), "chunks_failed": _l("Parts failed"),
    "unfinished_lines": _l("Lines not fully imported (import the file again)"),
}


def _label(key: str) -> str:
    return str(LABELS.get(key, key.replace("_", " ").capitalize()))


def _source(run: JobRun):
    action = str(run.params.get("action", ""))
    source_id = run.params.get("source_id")
    if action.endswith("_group"):
        return group_in_words(source_id)
    if action.endswith("_campaign"):
        return record_link(Campaign, "campaign.details_view", source_id)
    if action in ("load_filter", "keep_only"):
        return record_link(SavedFilter, "savedfilter.details_view", source_id)
    return None


def _contacts(ids) -> Markup | str:
    if not isinstance(ids, list):
        return ""
    links = [link("contact.details_view", f"#{i}", id=i)
             for i in ids[:FIRST_CONTACTS] if isinstance(i, int)]
    more = _(" and %(count)s more", count=len(ids) - FIRST_CONTACTS) \
        if len(ids) > FIRST_CONTACTS else ""
    return Markup(_("%(count)s: ", count=len(ids))) + Markup(", ").join(links) + more


def _per_user(per_user: dict) -> Markup:
    """{user id: {day: count}} as "Anna: 7.12.2026 8, 8.12.2026 3; Bert: …"."""
    parts = []
    for user_id, days in list(per_user.items())[:20]:
        who = record_link(User, "user.details_view", int(user_id)) if str(user_id).isdigit() \
            else str(user_id)
        counts = ", ".join(f"{_day(day)} {number(n)}" for day, n in sorted(days.items())) \
            if isinstance(days, dict) else _plain(days)
        parts.append(Markup("{}: {}").format(who, counts))
    return Markup("; ").join(parts)


def _day(day) -> str:
    try:
        return localdate(date.fromisoformat(str(day)))
    except ValueError:
        return str(day)


def _run_link(run_id) -> Markup | str:
    other = db.session.get(JobRun, run_id) if isinstance(run_id, str) else None
    if other is None:
        return str(run_id or "")
    text = f"{label(other.kind, 'job')} ({other.id})"
    who = f" — {other.user}" if other.user else ""
    return link("jobrun.details_view", text, id=other.id) + who


def _plain(value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)} {_plain(v)}" for k, v in value.items()
                         if k not in HIDDEN and v not in (None, "", {}))
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return "" if value is None else str(value)


def _value(run: JobRun, key: str, value):
    if key == "campaign_id":
        return record_link(Campaign, "campaign.details_view", value)
    if key == "group_id":
        return group_in_words(value)
    if key == "source_id":
        return _source(run) or _plain(value)
    if key == "action":
        return str(label(value, Action))
    if key == "contact_ids":
        return _contacts(value)
    if key in ("user_id", "fallback_user_id"):
        return record_link(User, "user.details_view", value)
    if key == "activity_type":
        return str(label(value, ActivityType))
    if key == "per_user" and isinstance(value, dict):
        return _per_user(value)
    if key in ("undid", "undone_by") or (key == "run_id" and run.kind == "undo_audience"):
        return _run_link(value)
    if key == "run_id" and run.kind == "activity_wizard":
        return link("activity_wizard.step", _("Wizard run %(id)s", id=value), run_id=value,
                     step=6)
    return _plain(value)


def described(run: JobRun, data: dict | None, skip: tuple[str, ...] = ()) -> list[tuple]:
    """(key, label, shown value) for each thing a job's params or result hold."""
    rows = []
    for key, value in (data or {}).items():
        if key in HIDDEN or key in skip or value is None or value == "":
            continue
        shown = _value(run, key, value)
        if shown not in ("", None):
            rows.append((key, _label(key), shown))
    return rows


def params_of(run: JobRun) -> list[tuple]:
    """What the job was asked to do."""
    return described(run, run.params)


def result_of(run: JobRun) -> list[tuple]:
    """What the job did (the campaign and action are already in its parameters; a bulk
    job's summary sentence is shown above the rows)."""
    return described(run, run.result, skip=("campaign_id", "action", "summary"))
