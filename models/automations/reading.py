"""What the screens count and list: who is enrolled now, and who is at which step."""

from __future__ import annotations

from sqlalchemy import func, select

from ..base import db
from .definitions import Automation, AutomationEnrolment, AutomationStep, StepTrace, TraceState

enrolments = AutomationEnrolment.__table__
traces = StepTrace.__table__


def enrolled_now(automation_id: int) -> int:
    """Open enrolments (not the baseline)."""
    return db.session.scalar(select(func.count()).where(
        enrolments.c.automation_id == automation_id, enrolments.c.left_at.is_(None),
        enrolments.c.attempt >= 1)) or 0


def step_counts(automation: Automation) -> dict[int, dict[str, int]]:
    """Per step: pending (waiting at it), and done by outcome."""
    rows = db.session.execute(
        select(traces.c.step_id, traces.c.state, traces.c.outcome, func.count())
        .join(AutomationStep.__table__, AutomationStep.__table__.c.id == traces.c.step_id)
        .where(AutomationStep.__table__.c.automation_id == automation.id)
        .group_by(traces.c.step_id, traces.c.state, traces.c.outcome)
    ).all()
    counts: dict[int, dict[str, int]] = {s.id: {} for s in automation.steps}
    for step_id, state, outcome, n in rows:
        key = "pending" if state == TraceState.PENDING else outcome
        counts.setdefault(step_id, {})[key] = counts.get(step_id, {}).get(key, 0) + n
    return counts


def contacts_at(step: AutomationStep, state: str = "pending", limit: int = 200):
    """The contacts behind a count: (contact, trace) with the step pending, or with an outcome."""
    from ..contacts import Contact

    query = select(Contact, StepTrace).join(StepTrace, StepTrace.contact_id == Contact.id) \
        .where(StepTrace.step_id == step.id)
    if state == "pending":
        query = query.where(StepTrace.state == TraceState.PENDING)
    else:
        query = query.where(StepTrace.outcome == state)
    return db.session.execute(query.order_by(StepTrace.due_at, Contact.id).limit(limit)).all()


def active_ids() -> list[int]:
    """Ids of the active automations (the tick evaluates each)."""
    return list(db.session.scalars(select(Automation.id).where(Automation.active.is_(True))
                                   .order_by(Automation.id)))
