"""Stored codes (enum values, job kinds, suppression reasons) as the words people read.

One table per kind of code, translated with Flask-Babel; an unknown code falls back to
itself with underscores as spaces, so a new value never shows as ``snake_case``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models.labels import JOB_KINDS

WORDS: dict[str, dict[str, object]] = {
    "activity_type": {"call": _l("Call"), "meeting": _l("Meeting"), "task": _l("Task"),
                      "email": _l("Email")},
    "activity_status": {"planned": _l("Planned"), "done": _l("Done"),
                        "cancelled": _l("Cancelled")},
    "member_source": {"group": _l("Target group"), "campaign": _l("Another campaign"),
                      "filter": _l("Saved filter"), "manual": _l("Added by hand"),
                      "workflow": _l("Workflow"), "import": _l("Import"),
                      "automatic": _l("Automatic email campaign")},
    "outbox_state": {"queued": _l("Queued"), "sending": _l("Sending"), "sent": _l("Sent"),
                     "deferred": _l("Deferred (will retry)"), "failed": _l("Failed"),
                     "suppressed": _l("Not sent")},
    "suppression": {"opted_out": _l("opted out of email"), "no_email": _l("no email address"),
                    "invalid_email": _l("invalid email address"),
                    "bounced": _l("the address bounced"),
                    "waiting_period": _l("within the waiting period"),
                    "already_had": _l("already got this campaign's email")},
    "job_kind": JOB_KINDS,  # one table for the jobs screen, the dashboard and the CLI
    "outbox_reason": {"campaign_join": _l("Joined a campaign"),
                      "automation": _l("Automation step")},
    "job_status": {"queued": _l("Queued"), "running": _l("Running"), "done": _l("Done"),
                   "failed": _l("Failed"), "stuck": _l("Stuck")},
    "audit_action": {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")},
    "audit_table": {"activities": _l("Activity"), "campaigns": _l("Campaign"),
                    "companies": _l("Company"), "contacts": _l("Contact"),
                    "email_templates": _l("Email template"), "saved_filters": _l("Saved filter"),
                    "scheduled_actions": _l("Scheduled action"), "settings": _l("Settings"),
                    "target_groups": _l("Target group"), "users": _l("User")},
    "language": {"fi": _l("Finnish"), "sv": _l("Swedish"), "hu": _l("Hungarian"),
                 "en": _l("English")},
    "contact_status": {"active": _l("Active"), "prospect": _l("Prospect"),
                       "customer": _l("Customer"), "inactive": _l("Inactive")},
    "contact_kind": {"contact": _l("Contact"), "lead": _l("Lead")},
    "template_folder": {"Campaign": _l("Campaign"), "Automation": _l("Automation"),
                        "Service": _l("Service messages"), "Archive": _l("Archive")},
}


def word(kind: str, code) -> str:
    """``code`` of ``kind`` in words ("call" → "Call"); empty for no code."""
    if code is None or code == "":
        return ""
    found = WORDS.get(kind, {}).get(str(code))
    return str(found) if found is not None else str(code).replace("_", " ").capitalize()


def choices(kind: str) -> list[tuple[str, str]]:
    """Select choices for a kind of code: (stored value, words)."""
    return [(code, str(label)) for code, label in WORDS[kind].items()]
