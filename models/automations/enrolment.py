"""Entering and leaving: one statement each per automation from the compiled criteria,
the step traces of who entered (with their due times), and switching an automation on
and off.

Step due times: all the contacts one statement enrolled share its ``entered_at``, so a
due time is computed once per (step, entry moment) in Python (zoneinfo, DST-correct) and
written to every trace of that group by one statement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, literal, or_, select, true, update

from ..base import db
from ..dialect import insert_ignoring_duplicates, no_nested_loops
from ..settings import installation_tz
from .definitions import (
    Automation,
    AutomationEnrolment,
    AutomationStep,
    Mode,
    Outcome,
    Reentry,
    StepTrace,
    TraceState,
    Trigger,
)

enrolments = AutomationEnrolment.__table__
traces = StepTrace.__table__


def matching(automation: Automation, now: datetime):
    """``SELECT contacts.id`` of the contacts the trigger matches now (the compiled criteria)."""
    from ..campaigns.audience import filter_selection
    from ..contacts import Contact
    from ..criteria import matching_ids

    if automation.trigger == Trigger.FILTER:
        if automation.saved_filter is None:
            return select(Contact.__table__.c.id).where(literal(False))
        return filter_selection(automation.saved_filter)
    tree = {"all": [{"field": "status", "op": "eq", "value": automation.status_value or ""}]}
    return matching_ids(tree, now, installation_tz())


def entering(automation: Automation, now: datetime):
    """``SELECT id, attempt`` of the contacts who enter now: matching, not in it, and allowed
    back by the re-entry rule (attempt 0, the baseline, never holds anyone back)."""
    chosen = matching(automation, now).subquery("chosen")
    mine = enrolments.alias("mine")
    here = and_(mine.c.automation_id == automation.id, mine.c.contact_id == chosen.c.id)
    if automation.reentry == Reentry.NEVER:
        # Only a closed baseline (attempt 0) may exist for who enters: one anti-join, and
        # the attempt is 1.
        held = ~exists().where(here, or_(mine.c.left_at.is_(None), mine.c.attempt >= 1))
        return select(chosen.c.id, literal(1).label("attempt")).where(held)
    held = [~exists().where(here, mine.c.left_at.is_(None))]
    if automation.reentry == Reentry.AFTER_DAYS:
        since = now - timedelta(days=automation.reentry_days or 0)
        held.append(~exists().where(here, mine.c.attempt >= 1, mine.c.left_at > since))
    last = (select(func.max(mine.c.attempt)).where(here).scalar_subquery())
    return select(chosen.c.id, (func.coalesce(last, 0) + 1).label("attempt")).where(*held)


def enter(automation: Automation, now: datetime, *, baseline: bool = False) -> int:
    """One ``INSERT … SELECT … ON CONFLICT DO NOTHING``: the contacts who enter now.
    ``baseline``: "only new records" at first activation, attempt 0 (no steps)."""

    who = entering(automation, now).subquery("entering")
    attempt = literal(0) if baseline else who.c.attempt
    rows = select(literal(automation.id), who.c.id, attempt,
                  literal(now, enrolments.c.entered_at.type)).where(true())
    statement = insert_ignoring_duplicates(enrolments).from_select(
        ["automation_id", "contact_id", "attempt", "entered_at"], rows)
    with no_nested_loops():  # an enrolments table that looks empty: no rescan per contact
        return db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def leave(automation: Automation, now: datetime) -> int:
    """One ``UPDATE``: open enrolments whose contact no longer matches are left."""
    from ..contacts import Contact

    still = matching(automation, now).where(Contact.__table__.c.id == enrolments.c.contact_id)
    with no_nested_loops():  # an enrolments table that looks empty: no rescan per contact
        return db.session.execute(
            update(enrolments)
            .where(enrolments.c.automation_id == automation.id, enrolments.c.left_at.is_(None),
                   ~exists(still))
            .values(left_at=now, left_reason="no longer matches")
            .execution_options(synchronize_session=False)
        ).rowcount


def cancel_pending(automation: Automation, now: datetime, reason: str = "left") -> int:
    """Pending steps of the contacts who left are cancelled (one UPDATE)."""
    gone = select(enrolments.c.id).where(enrolments.c.automation_id == automation.id,
                                         enrolments.c.left_at.is_not(None))
    return db.session.execute(
        update(traces)
        .where(traces.c.state == TraceState.PENDING, traces.c.enrolment_id.in_(gone))
        .values(state=TraceState.DONE, done_at=now, outcome=Outcome.CANCELLED, reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount


def _missing(automation: Automation, step: AutomationStep, entered_at: datetime | None):
    """The open (attempt ≥ 1) enrolments without a trace of ``step``."""
    conditions = [enrolments.c.automation_id == automation.id, enrolments.c.left_at.is_(None),
                  enrolments.c.attempt >= 1,
                  ~exists().where(traces.c.enrolment_id == enrolments.c.id,
                                  traces.c.step_id == step.id)]
    if entered_at is not None:
        moment = literal(entered_at, enrolments.c.entered_at.type)
        conditions.append(enrolments.c.entered_at == moment)
    return conditions


def schedule(automation: Automation, entered_at: datetime | None = None,
             tz: ZoneInfo | None = None) -> int:
    """Step traces for open enrolments that lack them, with their due times: per step, one
    INSERT … SELECT per entry moment (``entered_at``: only those who entered then)."""

    tz = tz or installation_tz()
    made = 0
    for step in automation.steps:
        if entered_at is not None:
            moments = [entered_at]
        else:
            moments = list(db.session.scalars(
                select(enrolments.c.entered_at).where(*_missing(automation, step, None))
                .distinct()))
        for moment in moments:
            due = step.due_for(moment, tz)
            rows = select(enrolments.c.id, literal(step.id), enrolments.c.contact_id,
                          literal(due, traces.c.due_at.type), literal(TraceState.PENDING.value))
            rows = rows.where(*_missing(automation, step, moment))
            with no_nested_loops():  # an enrolments table that looks empty: no rescan per contact
                made += db.session.execute(
                    insert_ignoring_duplicates(traces)
                    .from_select(["enrolment_id", "step_id", "contact_id", "due_at", "state"],
                                 rows)
                    .execution_options(preserve_rowcount=True)
                ).rowcount
    return made


def activate(automation: Automation, now: datetime) -> dict:
    """Switch it on. The first activation takes a one-time automation's contacts, or the
    "only new" baseline; a later one resumes where it was."""
    done: dict = {}
    first = automation.started_at is None
    automation.active, automation.activated_at = True, now
    if first:
        automation.started_at = now
        db.session.flush()
        if automation.mode == Mode.ONE_TIME:
            done["entered"] = enter(automation, now)
            done["scheduled"] = schedule(automation, now)
        elif automation.only_new:
            done["baseline"] = enter(automation, now, baseline=True)
    return done


def deactivate(automation: Automation, now: datetime) -> None:
    """Switch it off: nothing happens until it is activated again."""
    automation.active, automation.deactivated_at = False, now
