"""Explanations: a contact's automations with "why not sent" per step, and the dry run
before activation (who would enter, when, and how many would be held back)."""

from __future__ import annotations

from datetime import datetime, timedelta
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


def _held_back(step, due: datetime, chosen, earlier: list[dict], waiting_days: int) -> dict:
    """How many of the contacts ``chosen`` (a subquery of ids) the step's email would hold
    back at ``due``, by reason: the outbox's CASE (opt-out, no / invalid email, bounced, an
    earlier message of the template within the waiting period), and for whom the CASE finds
    nothing, an earlier email step of the same template in this dry run (``earlier``:
    their steps and due times) within the waiting period."""
    from sqlalchemy import case

    from ..contacts import Contact
    from ..email.outbox import Suppression, suppression_reason

    contacts = Contact.__table__
    why = suppression_reason(step.template_id, due, waiting_days)
    if any(e["step"].template_id == step.template_id
           and due - e["due_at"] <= timedelta(days=waiting_days) for e in earlier):
        # The earlier step queues exactly those this CASE finds nothing against (the same
        # contact, the same CASE but for the waiting period): they wait now.
        why = case((why.is_(None), Suppression.WAITING_PERIOD), else_=why)
    why = why.label("why")
    return {reason: n for reason, n in db.session.execute(
        select(why, func.count()).select_from(contacts)
        .where(contacts.c.id.in_(select(chosen.c.id))).group_by(why)).all() if reason}


def dry_run(automation: Automation, now: datetime, tz: ZoneInfo | None = None,
            sample: int = 20) -> dict:
    """Who would enter now, when each one's first step happens, and for every email to the
    contact, how many its suppressions (waiting period, opt-out, no email, bounced, …) would
    hold back, by reason. Writes nothing."""
    from ..contacts import Contact
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
    waiting_days = Settings.current().email_waiting_period_days
    emails: list[dict] = []
    # In the order they would be sent: an earlier send of a template holds a later one back.
    for t in sorted(timeline, key=lambda t: (t["due_at"], t["step"].position)):
        if t["step"].kind == StepKind.EMAIL_CONTACT and t["step"].template_id:
            emails.append({**t, "held_back": _held_back(t["step"], t["due_at"], chosen, emails,
                                                        waiting_days)})
    emails.sort(key=lambda e: e["step"].position)
    first_step = min(timeline, key=lambda t: t["due_at"]) if timeline else None
    return {"entering": total, "sample": names, "timeline": timeline, "first_step": first_step,
            "emails": emails, "held_back": emails[0]["held_back"] if emails else {},
            "first_email": emails[0]["step"] if emails else None, "now": now}
