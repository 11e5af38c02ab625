"""Explanations: a contact's automations with "why not sent" per step, and the dry run
before activation (who would enter, when, and how many would be held back)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select

from ..base import db
from ..settings import installation_tz
from .definitions import WHY, Automation, AutomationEnrolment, Mode, Outcome, StepKind, TraceState
from .enrolment import entering

EMAIL_STEPS = (StepKind.EMAIL_CONTACT, StepKind.EMAIL_USER)


def _message_outcome(contact_id: int, enrolment_id: int, step_id: int) -> tuple[str, str | None]:
    """What became of a step's queued message: still queued, sent, or held back or refused
    when it was sent (the contact opted out or bounced meanwhile), with the reason."""
    from ..email import OutboxMessage, OutboxState

    row = db.session.execute(select(
        OutboxMessage.state, OutboxMessage.suppressed_reason, OutboxMessage.last_error,
    ).where(OutboxMessage.contact_id == contact_id,
            OutboxMessage.send_key == f"automation:{enrolment_id}:{step_id}")).first()
    if row is None:
        return Outcome.QUEUED, None
    state, reason, error = row
    if state == OutboxState.SENT:
        return Outcome.SENT, None
    if state == OutboxState.SUPPRESSED:
        return Outcome.SUPPRESSED, WHY.get(reason, reason)
    if state == OutboxState.FAILED:
        return Outcome.FAILED, f"the mail server refused it: {error}" if error else None
    if state == OutboxState.DEFERRED:
        return Outcome.QUEUED, f"to be tried again: {error}" if error else None
    return Outcome.QUEUED, None


def history_of(contact_id: int) -> list[dict]:
    """A contact's automations: each enrolment with its step traces (and "why not sent")."""
    found = db.session.scalars(
        select(AutomationEnrolment).where(AutomationEnrolment.contact_id == contact_id,
                                          AutomationEnrolment.attempt >= 1)
        .order_by(AutomationEnrolment.entered_at.desc())).all()
    out = []
    for enrolment in found:
        automation = enrolment.automation
        steps = []
        for trace in sorted(enrolment.traces, key=lambda t: (t.step.position, t.id)):
            outcome, why = trace.outcome, trace.why
            if trace.state == TraceState.PENDING:
                outcome = "pending"
                if not automation.active:
                    why = WHY["paused"]
            elif trace.outcome == Outcome.QUEUED and trace.step.kind in EMAIL_STEPS:
                outcome, why = _message_outcome(contact_id, enrolment.id, trace.step_id)
            steps.append({"trace": trace, "step": trace.step, "outcome": outcome, "why": why})
        out.append({"enrolment": enrolment, "automation": automation, "steps": steps})
    return out


def dry_run(automation: Automation, now: datetime, tz: ZoneInfo | None = None,
            sample: int = 20) -> dict:
    """Who would enter now, when each one's first step happens, and how many the first
    email's suppressions (waiting period, opt-out, …) would hold back. Writes nothing."""
    from ..contacts import Contact
    from ..email.outbox import suppression_reason
    from ..settings import Settings

    tz = tz or installation_tz()
    contacts = Contact.__table__
    if automation.started_at is not None and automation.mode == Mode.ONE_TIME:
        who = select(contacts.c.id).where(literal(False))
    elif automation.started_at is None and automation.only_new:
        who = select(contacts.c.id).where(literal(False))  # the baseline: nobody enters now
    else:
        who = select(entering(automation, now).subquery().c.id)
    chosen = who.subquery("who")
    total = db.session.scalar(select(func.count()).select_from(chosen)) or 0
    names = db.session.execute(
        select(contacts.c.id, contacts.c.first_name, contacts.c.last_name, contacts.c.email)
        .where(contacts.c.id.in_(select(chosen.c.id))).order_by(contacts.c.id).limit(sample)
    ).all()
    steps = sorted(automation.steps, key=lambda s: s.position)
    timeline = [{"step": s, "due_at": s.due_for(now, tz)} for s in steps]
    held: dict[str, int] = {}
    first_email = next((s for s in steps if s.kind == StepKind.EMAIL_CONTACT and s.template_id),
                       None)
    if first_email is not None:
        due = first_email.due_for(now, tz)
        why = suppression_reason(first_email.template_id, due,
                                 Settings.get().email_waiting_period_days).label("why")
        for reason, n in db.session.execute(
            select(why, func.count()).select_from(contacts)
            .where(contacts.c.id.in_(select(chosen.c.id))).group_by(why)
        ).all():
            if reason:
                held[reason] = n
    first_step = min(timeline, key=lambda t: t["due_at"]) if timeline else None
    return {"entering": total, "sample": names, "timeline": timeline, "first_step": first_step,
            "held_back": held, "first_email": first_email, "now": now}
