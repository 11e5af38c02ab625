"""Stored codes in words, the one home for them: a translated label per value of every
enum a person reads, and per code stored as a plain string (job kinds, suppression
reasons, contact statuses, audit actions, languages…), so no page shows ``snake_case``.

The labels are lazy (``lazy_gettext``): they become text in the reader's language when a
page renders them, and English anywhere else (the CLI, logs). The step kinds, scheduled
action kinds and criteria operators keep their labels next to their enums
(``STEP_LABELS``, ``KIND_LABELS``, ``OPERATOR_LABELS``); :func:`label` finds those too.
Look a code up with :func:`label` (the ``label`` filter in templates), offer a kind's
codes in a select with :func:`choices`.
"""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l

from .activities import ActivityStatus, ActivityType
from .activities.wizard import WizardAssignment, WizardMode, WizardSource
from .automations import (
    STEP_LABELS,
    Mode,
    Outcome,
    Recipient,
    Reentry,
    StepKind,
    TraceState,
    Trigger,
)
from .bulk.changes import (
    ACTIVE_SET,
    MOVED,
    OPT_OUT_SET,
    OWNER_CHANGED,
    REASSIGNED,
    STATUS_SET,
)
from .campaigns import MemberSource
from .campaigns.audience import Action
from .contacts import ContactKind
from .email import CAMPAIGN_FOLDER, OutboxState, SenderMode, SendTiming
from .email.outbox import ALREADY_HAD
from .groups import FilterModule, SampleMode
from .jobs import STUCK, JobStatus
from .recurrence import Frequency
from .schedules import (
    KIND_LABELS,
    ActionKind,
    ActivityAssignee,
    ActivityDay,
    CatchUp,
    Origin,
    Overlap,
    RunStatus,
)
from .users import Role

# A language two ways. A stored language (a contact's, a template's, a criterion's value)
# is named in the reader's language: "Finnish" to an English reader, "finska" to a Swede.
LANGUAGE_NAMES = {"en": _l("English"), "fi": _l("Finnish"), "sv": _l("Swedish"),
                  "hu": _l("Hungarian")}
# A picker of the language to read the back office in names each language in itself, so
# a reader finds theirs whatever language the page is in now.
LANGUAGE_OWN_NAMES = {"en": "English", "fi": "Suomi", "sv": "Svenska", "hu": "Magyar"}

LABELS: dict[type[StrEnum], dict[str, object]] = {
    Role: {Role.ADMIN: _l("Administrator"), Role.USER: _l("User")},
    JobStatus: {JobStatus.QUEUED: _l("Queued"), JobStatus.RUNNING: _l("Running"),
                JobStatus.DONE: _l("Done"), JobStatus.FAILED: _l("Failed"),
                # Not stored: a running job whose worker stopped renewing its lease.
                STUCK: _l("Stuck")},
    ContactKind: {ContactKind.CONTACT: _l("Contact"), ContactKind.LEAD: _l("Lead")},
    ActivityType: {ActivityType.CALL: _l("Call"), ActivityType.MEETING: _l("Meeting"),
                   ActivityType.TASK: _l("Task"), ActivityType.EMAIL: _l("Email")},
    ActivityStatus: {ActivityStatus.PLANNED: _l("Planned"), ActivityStatus.DONE: _l("Done"),
                     ActivityStatus.CANCELLED: _l("Cancelled")},
    SenderMode: {SenderMode.FIXED: _l("A fixed sender"),
                 SenderMode.OWNER: _l("The contact's owner"),
                 SenderMode.USER: _l("A chosen user")},
    SendTiming: {SendTiming.IMMEDIATELY: _l("Immediately"),
                 SendTiming.SCHEDULED: _l("On chosen weekdays at a time")},
    OutboxState: {OutboxState.QUEUED: _l("Queued"), OutboxState.SENDING: _l("Sending"),
                  OutboxState.SENT: _l("Sent"), OutboxState.DEFERRED: _l("Deferred (will retry)"),
                  OutboxState.FAILED: _l("Failed"), OutboxState.SUPPRESSED: _l("Not sent")},
    Frequency: {Frequency.ONCE: _l("Once"), Frequency.HOURLY: _l("Every N hours"),
                Frequency.DAILY: _l("Daily"), Frequency.WEEKLY: _l("Weekly"),
                Frequency.MONTHLY: _l("Monthly"), Frequency.CRON: _l("Cron expression")},
    SampleMode: {SampleMode.NONE: _l("No sample"),
                 SampleMode.SYSTEMATIC: _l("Systematic (every k-th)"),
                 SampleMode.RANDOM: _l("Random")},
    FilterModule: {FilterModule.CONTACT: _l("Contacts"), FilterModule.COMPANY: _l("Companies"),
                   FilterModule.LEAD: _l("Leads")},
    ActionKind: KIND_LABELS,
    StepKind: STEP_LABELS,
    CatchUp: {CatchUp.LATEST: _l("Run the latest missed time once"),
              CatchUp.SKIP: _l("Skip missed times")},
    Overlap: {Overlap.SKIP: _l("Skip while the previous run is still running"),
              Overlap.QUEUE: _l("Queue after the previous run")},
    ActivityAssignee: {ActivityAssignee.OWNER: _l("Each contact's owner"),
                       ActivityAssignee.USER: _l("The chosen user"),
                       ActivityAssignee.OWNER_OR_USER: _l("The owner; the chosen user takes "
                                                          "contacts without one")},
    ActivityDay: {ActivityDay.TODAY: _l("The run's day"),
                  ActivityDay.NEXT_WORKING_DAY: _l("The next working day"),
                  ActivityDay.PLUS_DAYS: _l("N days after the run")},
    Origin: {Origin.MANUAL: _l("Made by hand"),
             Origin.GROUP_EMAIL: _l("A target group's automatic email"),
             Origin.GROUP_REFRESH: _l("Refresh before a target group's email")},
    RunStatus: {RunStatus.WAITING: _l("Waiting"), RunStatus.QUEUED: _l("Queued"),
                RunStatus.RUNNING: _l("Running"), RunStatus.DONE: _l("Done"),
                RunStatus.FAILED: _l("Failed"), RunStatus.SKIPPED: _l("Skipped")},
    MemberSource: {MemberSource.GROUP: _l("Target group"),
                   MemberSource.CAMPAIGN: _l("Another campaign"),
                   MemberSource.FILTER: _l("Saved filter"),
                   MemberSource.MANUAL: _l("Added by hand"),
                   MemberSource.WORKFLOW: _l("Workflow"), MemberSource.IMPORT: _l("Import"),
                   MemberSource.AUTOMATIC: _l("Automatic email campaign")},
    Action: {Action.COPY_GROUP: _l("Add a target group's members"),
             Action.REMOVE_GROUP: _l("Remove a target group's members"),
             Action.COPY_CAMPAIGN: _l("Add another campaign's members"),
             Action.REMOVE_CAMPAIGN: _l("Remove another campaign's members"),
             Action.LOAD_FILTER: _l("Add what a saved filter selects"),
             Action.KEEP_ONLY: _l("Keep only what a saved filter selects"),
             Action.DEDUPE_EMAIL: _l("Remove email duplicates"),
             Action.DEDUPE_COMPANY: _l("Remove company duplicates"),
             Action.PRUNE_OPTED_OUT: _l("Remove opted-out contacts"),
             Action.ADD_CONTACTS: _l("Add contacts"),
             Action.REMOVE_CONTACTS: _l("Remove contacts")},
    WizardMode: {WizardMode.SHARED: _l("One shared activity"),
                 WizardMode.PER_CONTACT: _l("One activity per contact")},
    WizardSource: {WizardSource.CRITERIA: _l("Conditions"), WizardSource.GROUP: _l("Target group")},
    WizardAssignment: {WizardAssignment.USER: _l("All to one user"),
                       WizardAssignment.OWNER: _l("Each contact's owner"),
                       WizardAssignment.EVEN: _l("Dealt out evenly")},
    Trigger: {Trigger.STATUS: _l("Contacts in a status"),
              Trigger.FILTER: _l("Contacts in a saved filter")},
    Mode: {Mode.CONTINUOUS: _l("Continuous"), Mode.ONE_TIME: _l("One-time")},
    Reentry: {Reentry.NEVER: _l("Never"), Reentry.AFTER_LEAVING: _l("After leaving"),
              Reentry.AFTER_DAYS: _l("Some days after leaving")},
    Recipient: {Recipient.OWNER: _l("The contact's owner"), Recipient.USER: _l("A chosen user")},
    TraceState: {TraceState.PENDING: _l("Pending"), TraceState.DONE: _l("Done")},
    Outcome: {Outcome.SENT: _l("Sent"), Outcome.QUEUED: _l("Queued"),
              Outcome.TASK_CREATED: _l("Task created"), Outcome.SUPPRESSED: _l("Suppressed"),
              Outcome.CANCELLED: _l("Cancelled"), Outcome.FAILED: _l("Failed"),
              # Not stored outcomes: a step still waiting, and one the sender held back.
              "pending": _l("Pending"),
              "suppressed at send time": _l("Suppressed at send time")},
}

# What each job kind does (the jobs screen, the dashboard, the CLI's lists).
JOB_KINDS = {
    "activity_wizard": _l("Group activity wizard"),
    "campaign_audience": _l("Campaign audience change"),
    "group_activities": _l("Activities for a target group"),
    "import_contacts": _l("Contact import"),
    "import_chunk": _l("Part of a contact import"),
    "campaign_email_chunk": _l("Part of a campaign's email queue"),
    "refresh_group": _l("Target group refresh"),
    "scheduled_action": _l("Scheduled action"),
    "send_outbox": _l("Sending email"),
    "undo_audience": _l("Undo of an audience change"),
    "undo_scheduled_run": _l("Undo of a scheduled run"),
    "bulk_set": _l("Change of selected rows"),
    "bulk_shift": _l("Move of selected activities"),
    "bulk_reassign_slotted": _l("Reassignment of selected activities"),
    "bulk_delete": _l("Deletion of selected rows"),
    "undo_bulk": _l("Undo of a change of selected rows"),
    "bulk_join_campaign": _l("Selected contacts join a campaign"),
    "bulk_leave_campaign": _l("Selected contacts leave a campaign"),
    "bulk_contact_activities": _l("Activities for selected contacts"),
    "bulk_export_contacts": _l("Export of selected contacts"),
    "bulk_campaign_cleanup": _l("Clean-up of selected campaigns"),
    "bulk_refresh_groups": _l("Refresh of selected target groups"),
    "bulk_outbox": _l("Retry or cancel of selected messages"),
}

# Why a message was not sent (OutboxMessage.suppressed_reason, models/email/outbox.py).
# Lower case: said after a count too ("3 opted out of email").
SUPPRESSION_REASONS = {"opted_out": _l("opted out of email"), "no_email": _l("no email address"),
                       "invalid_email": _l("invalid email address"),
                       "bounced": _l("bounced before"),
                       "waiting_period": _l("within the waiting period"),
                       ALREADY_HAD: _l("already got this campaign's email")}

# Why a message was queued (OutboxMessage.reason).
OUTBOX_REASONS = {"campaign_join": _l("Joined a campaign"), "automation": _l("Automation step")}

# The statuses a new installation knows (models/contacts.py KNOWN_STATUSES); a status an
# import brought in reads as itself.
CONTACT_STATUSES = {"active": _l("Active"), "prospect": _l("Prospect"),
                    "customer": _l("Customer"), "inactive": _l("Inactive")}

# Email template folders (models/email TEMPLATE_FOLDERS): stored in English, shown translated.
TEMPLATE_FOLDER_NAMES = {CAMPAIGN_FOLDER: _l("Campaign"), "Automation": _l("Automation"),
                         "Service": _l("Service messages"), "Archive": _l("Archive")}

# The audit trail (models/audit.py): what happened, and to which kind of record.
AUDIT_ACTIONS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")}
AUDIT_TABLES = {"activities": _l("Activity"), "campaigns": _l("Campaign"),
                "companies": _l("Company"), "contacts": _l("Contact"),
                "email_templates": _l("Email template"), "saved_filters": _l("Saved filter"),
                "scheduled_actions": _l("Scheduled action"), "settings": _l("Settings"),
                "target_groups": _l("Target group"), "users": _l("User")}

# How a scheduled action's run came about (ScheduledActionRun.trigger).
RUN_TRIGGERS = {"schedule": _l("On schedule"), "catch_up": _l("A missed run, caught up"),
                "run_now": _l("Run now")}

# What a bulk job did, as its audit entries store it (models/bulk/changes.py).
BULK_CHANGES = {OWNER_CHANGED: _l("Owner changed in bulk"), STATUS_SET: _l("Status set in bulk"),
                OPT_OUT_SET: _l("Email opt-out set in bulk"),
                ACTIVE_SET: _l("Active set in bulk"), REASSIGNED: _l("Reassigned in bulk"),
                MOVED: _l("Moved in bulk")}

# Codes stored as plain strings, by the name they are looked up by:
# {{ run.kind|label("job") }}; enums by their class or its name:
# {{ activity.status|label("ActivityStatus") }}.
NAMED: dict[str, dict[str, object]] = {
    "job": JOB_KINDS,
    "language": LANGUAGE_NAMES,
    "run_trigger": RUN_TRIGGERS,
    "suppression": SUPPRESSION_REASONS,
    "outbox_reason": OUTBOX_REASONS,
    "contact_status": CONTACT_STATUSES,
    "template_folder": TEMPLATE_FOLDER_NAMES,
    "audit_action": AUDIT_ACTIONS,
    "audit_table": AUDIT_TABLES,
    "bulk_change": BULK_CHANGES,
}
_BY_NAME: dict[str, dict[str, object]] = {
    **{enum.__name__: labels for enum, labels in LABELS.items()}, **NAMED}


def _table(kind: type[StrEnum] | str | None) -> dict[str, object] | None:
    return LABELS.get(kind) if isinstance(kind, type) else _BY_NAME.get(kind or "")


def label(value, kind: type[StrEnum] | str | None = None):
    """The words for a stored value: ``kind`` is its enum (or the enum's name), or the name
    of a table in :data:`NAMED` ("job" for a job kind, "language" for a language code); a
    value nobody labelled reads as itself with its underscores as spaces, never as
    ``snake_case``."""
    if value is None or value == "":
        return ""
    if kind is None and isinstance(value, StrEnum):
        kind = type(value)
    labels = _table(kind)
    if labels and (found := labels.get(str(value))) is not None:
        return found
    text = str(value)
    return text.replace("_", " ").capitalize() if "_" in text else text


def choices(kind: type[StrEnum] | str) -> list[tuple[str, object]]:
    """Select choices for a kind of code: (stored value, its label), lazily translated so a
    list built at import time still speaks the reader's language. An enum offers its
    members (not the extra words some tables keep for values never stored); a named table
    offers its codes."""
    if isinstance(kind, type):
        return [(member.value, label(member.value, kind)) for member in kind]
    return [(code, words) for code, words in NAMED[kind].items()]
