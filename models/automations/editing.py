"""Editing the steps: reorder and remove (a removed step keeps its history), and what a
change of timing does to the pending steps of an active automation (shown before saving,
then done; steps already done are not touched)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select, update

from .. import clock
from ..base import db
from ..settings import installation_tz
from .definitions import (
    Automation,
    AutomationEnrolment,
    AutomationStep,
    Outcome,
    StepTrace,
    TraceState,
)
from .enrolment import schedule

enrolments = AutomationEnrolment.__table__
traces = StepTrace.__table__


def pending_moments(step: AutomationStep) -> list[tuple[datetime, datetime, int]]:
    """(entered_at, due_at, count) of the step's pending traces."""
    return [tuple(r) for r in db.session.execute(
        select(enrolments.c.entered_at, traces.c.due_at, func.count())
        .select_from(traces.join(enrolments, enrolments.c.id == traces.c.enrolment_id))
        .where(traces.c.step_id == step.id, traces.c.state == TraceState.PENDING)
        .group_by(enrolments.c.entered_at, traces.c.due_at)
    )]


def open_moments(automation: Automation) -> list[tuple[datetime, int]]:
    """(entered_at, count) of the automation's open enrolments (the baseline not counted):
    who is in it now, by the moment they entered."""
    return [tuple(r) for r in db.session.execute(
        select(enrolments.c.entered_at, func.count())
        .where(enrolments.c.automation_id == automation.id, enrolments.c.left_at.is_(None),
               enrolments.c.attempt >= 1)
        .group_by(enrolments.c.entered_at))]


def new_step_effect(automation: Automation, step: AutomationStep, tz: ZoneInfo,
                    now: datetime) -> dict:
    """What adding ``step`` (unsaved) would do: how many of the contacts in the automation
    get it, how many of them are already past its time (done on the next tick), and when
    the first of the others is due. Nobody before the automation first runs."""
    dues = [] if automation.started_at is None else [
        (step.due_for(entered_at, tz), n) for entered_at, n in open_moments(automation)]
    later = [due for due, _n in dues if due > now]
    return {"contacts": sum(n for _due, n in dues),
            "overdue": sum(n for due, n in dues if due <= now),
            "first_due": min(later) if later else None,
            "first_count": sum(n for due, n in dues if later and due == min(later))}


def reschedule_effect(automation: Automation, tz: ZoneInfo | None = None,
                      now: datetime | None = None) -> list[dict]:
    """What saving the steps as they are now (in the session, unsaved) would do to pending
    traces: per step, how many move and to when; the done ones stay as they are. A step
    not saved yet (added): who would get it and when (:func:`new_step_effect`)."""
    tz = tz or installation_tz()
    effect = []
    for step in automation.steps:
        moved, same, moves = 0, 0, []
        if step.id is None:
            effect.append({"step": step, "new": True,
                           **new_step_effect(automation, step, tz, now or clock.now())})
            continue
        for entered_at, due_at, n in pending_moments(step):
            new = step.due_for(entered_at, tz)
            if new != due_at:
                moved += n
                moves.append({"from": due_at, "to": new, "count": n})
            else:
                same += n
        done = db.session.scalar(select(func.count()).where(
            traces.c.step_id == step.id, traces.c.state == TraceState.DONE)) or 0
        effect.append({"step": step, "moved": moved, "unchanged": same, "moves": moves,
                       "done": done, "new": False})
    return effect


def reschedule(automation: Automation, tz: ZoneInfo | None = None) -> int:
    """Pending traces get the due times of the steps as they are now (per step and entry
    moment one UPDATE); done traces are not touched. Then traces for new steps."""
    tz = tz or installation_tz()
    moved = 0
    for step in automation.steps:
        for entered_at, due_at, _n in pending_moments(step):
            new = step.due_for(entered_at, tz)
            if new == due_at:
                continue
            of_moment = select(enrolments.c.id).where(
                enrolments.c.automation_id == automation.id,
                enrolments.c.entered_at == literal(entered_at, enrolments.c.entered_at.type))
            moved += db.session.execute(
                update(traces)
                .where(traces.c.step_id == step.id, traces.c.state == TraceState.PENDING,
                       traces.c.enrolment_id.in_(of_moment))
                .values(due_at=new).execution_options(synchronize_session=False)
            ).rowcount
    schedule(automation, tz=tz)
    return moved


def remove_step(step: AutomationStep, now: datetime) -> int:
    """Take a step out of its automation, keeping its history: the step is marked removed
    (no schedule, list or count has it from now on), its pending traces are cancelled with
    the reason ``step_removed`` (one UPDATE), its done ones stay as they are; the positions
    close the gap. Answers how many pending traces were cancelled."""
    automation = step.automation
    step.removed_at = now
    cancelled = db.session.execute(
        update(traces)
        .where(traces.c.step_id == step.id, traces.c.state == TraceState.PENDING)
        .values(state=TraceState.DONE, done_at=now, outcome=Outcome.CANCELLED,
                reason="step_removed")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.flush()
    db.session.expire(automation, ["steps", "removed_steps"])
    renumber(automation)
    return cancelled


def renumber(automation: Automation) -> None:
    """Positions 1, 2, … in the current order."""
    for n, step in enumerate(sorted(automation.steps, key=lambda s: (s.position, s.id or 0)), 1):
        step.position = n


def move_step(step: AutomationStep, offset: int) -> None:
    """Move a step up (-1) or down (+1)."""
    automation = step.automation
    renumber(automation)
    ordered = sorted(automation.steps, key=lambda s: s.position)
    i = ordered.index(step)
    j = max(0, min(len(ordered) - 1, i + offset))
    ordered[i], ordered[j] = ordered[j], ordered[i]
    for n, s in enumerate(ordered, 1):
        s.position = n
