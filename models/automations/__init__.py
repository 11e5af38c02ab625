"""Automations (SPEC §6, seed 003): contacts enter, move through timed steps, and leave.

An automation's trigger (contacts in a status, or matching a saved filter) compiles to one
``SELECT contacts.id`` (models/criteria); entering is one ``INSERT … SELECT`` of
enrolments and leaving one ``UPDATE`` per automation. Each enrolment gets one *step trace*
per step, unique per (enrolment, step), with its due time worked out in the
installation's zone; the tick claims due traces in batches and does each step once
(jobs/automations.py).

By concern:

- ``definitions``: the trigger, mode, steps and the enrolment / trace rows;
- ``timing``: when a step is due (weekdays and an hour in the installation's zone);
- ``enrolment``: enter, leave, cancel, the traces of who entered, activate / deactivate;
- ``steps``: claiming due traces and doing them (outbox emails, tasks);
- ``editing``: reorder and remove steps, and rescheduling pending steps after an edit;
- ``reading``: the screens' counts and the contacts behind them;
- ``explain``: a contact's history with "why not sent", and the dry run.
"""

from .definitions import (
    STEP_LABELS,
    WHY,
    Automation,
    AutomationEnrolment,
    AutomationStep,
    Mode,
    Outcome,
    Recipient,
    Reentry,
    StepKind,
    StepTrace,
    TraceState,
    Trigger,
)
from .editing import (
    move_step,
    pending_moments,
    remove_step,
    renumber,
    reschedule,
    reschedule_effect,
)
from .enrolment import (
    activate,
    cancel_pending,
    deactivate,
    enter,
    entering,
    leave,
    matching,
    schedule,
)
from .explain import dry_run, history_of
from .reading import active_ids, contacts_at, enrolled_now, step_counts
from .steps import NOTIFY_REASON, claim_due, email_contacts_due, run_due, run_step, send_key
from .timing import parse_weekdays, step_due, weekdays_words

__all__ = [
    "NOTIFY_REASON", "STEP_LABELS", "WHY", "Automation", "AutomationEnrolment", "AutomationStep",
    "Mode", "Outcome", "Recipient", "Reentry", "StepKind", "StepTrace", "TraceState", "Trigger",
    "activate", "active_ids", "cancel_pending", "claim_due", "contacts_at", "deactivate", "dry_run",
    "email_contacts_due", "enrolled_now", "enter", "entering", "history_of", "leave", "matching",
    "move_step", "parse_weekdays", "pending_moments", "remove_step", "renumber", "reschedule",
    "reschedule_effect", "run_due", "run_step", "schedule", "send_key", "step_counts", "step_due",
    "weekdays_words",
]
