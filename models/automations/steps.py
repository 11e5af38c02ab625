"""Doing the steps that are due: claimed in batches (SKIP LOCKED on PostgreSQL), emails
through the outbox (opt-out, bounces and the waiting period decided in SQL), tasks in one
INSERT … SELECT; each claimed trace gets its outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, and_, cast, exists, func, insert, literal, select, update

from ..base import db
from ..dialect import insert_ignoring_duplicates, one_of
from .definitions import AutomationStep, Outcome, Recipient, StepKind, StepTrace, TraceState

traces = StepTrace.__table__
# What a claimed trace of each kind comes to unless something holds it back: the claim
# writes it with the state, and the step's statements rewrite only the exceptions (one
# write per trace, not two).
PRESUMED = {
    StepKind.EMAIL_CONTACT: Outcome.QUEUED,
    StepKind.EMAIL_USER: Outcome.QUEUED,
    StepKind.TASK: Outcome.TASK_CREATED,
}


def batch(ids: list[int]):
    """The claimed traces ``ids``, with the id range around them: the primary key's range
    scan finds them (the list alone, 2,000 ids, is planned as a scan of every trace of
    every automation, once per statement and batch). Claims are mostly runs of ids."""
    return and_(traces.c.id >= min(ids), traces.c.id <= max(ids), one_of(traces.c.id, ids))


def claim_due(step: AutomationStep, now: datetime, limit: int) -> list[int]:
    """Mark up to ``limit`` due pending traces of a step done, with the step kind's presumed
    outcome (in this transaction: :func:`run_step` then writes what held some back), and
    return their ids, the most overdue first. PostgreSQL: two ticks skip each other's rows
    (SKIP LOCKED), and ``state = pending`` is checked again on a row a concurrent claim
    committed.

    Two statements, each read through an index: the rows are locked in the order of
    ``(step_id, state, due_at)``, which stops after ``limit`` (no tie-break on id: that
    would sort every due trace on each batch), then marked done by primary key."""
    due = db.session.scalars(
        select(traces.c.id)
        .where(traces.c.step_id == step.id, traces.c.state == TraceState.PENDING,
               traces.c.due_at <= now)
        .order_by(traces.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return []
    return sorted(db.session.execute(
        update(traces)
        .where(batch(due), traces.c.state == TraceState.PENDING)
        .values(state=TraceState.DONE, done_at=now, outcome=PRESUMED[step.kind])
        .returning(traces.c.id)
        .execution_options(synchronize_session=False)
    ).scalars().all())


def send_key(enrolment_id, step_id: int):
    """The outbox send key of one step for one enrolment: ``automation:<enrolment>:<step>``."""
    return literal("automation:") + cast(enrolment_id, String) + literal(f":{step_id}")


NOTIFY_REASON = "automation_user"  # outbox rows to users: no contact opt-out applies


def _exception(step: AutomationStep, ids: list[int], outcome: str, reason=None, *where) -> int:
    """Claimed traces that came to ``outcome`` (with ``reason``) instead of the presumed one."""
    return db.session.execute(
        update(traces).where(batch(ids), traces.c.outcome == PRESUMED[step.kind], *where)
        .values(outcome=outcome, reason=reason).execution_options(synchronize_session=False)
    ).rowcount


def email_contacts(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """The step's template to each claimed trace's contact, through the outbox (opt-out,
    no / invalid email, bounces and the waiting period decided in SQL)."""
    from ..contacts import Contact
    from ..email import OutboxMessage, SenderMode
    from ..email.outbox import suppression_reason
    from ..settings import Settings

    outbox, contacts = OutboxMessage.__table__, Contact.__table__
    # A batch of a tick: the waiting period probed per row, not the template's history
    # hashed once per batch.
    why = suppression_reason(step.template_id, now, Settings.get().email_waiting_period_days,
                             per_row=True)
    # Sent as the contact's owner or the chosen user (the step's choice, not the
    # template's): the row carries it, models/email/message.py: sender_of honours it.
    chosen = step.user_id if step.recipient == Recipient.USER else None
    rows = (
        select(literal(step.template_id), contacts.c.id, send_key(traces.c.enrolment_id, step.id),
               literal("automation"), case_state(why), why, contacts.c.email,
               literal(now, outbox.c.created_at.type), literal(SenderMode(step.recipient).value),
               literal(chosen, outbox.c.sender_user_id.type))
        .select_from(traces.join(contacts, contacts.c.id == traces.c.contact_id))
        .where(batch(ids))
    )
    made = db.session.execute(insert_ignoring_duplicates(outbox).from_select(
        ["template_id", "contact_id", "send_key", "reason", "state", "suppressed_reason",
         "to_email", "created_at", "sender_mode", "sender_user_id"], rows)
        .returning(outbox.c.contact_id, outbox.c.suppressed_reason)).all()
    # The held-back traces, from the rows the statement wrote: not a search of the outbox
    # for them (which reads the template's whole history, more with each batch). A trace is
    # claimed once, so its message cannot be there before (the key has its enrolment).
    held: dict[str, list[int]] = {}
    for contact_id, why_not in made:
        if why_not:
            held.setdefault(why_not, []).append(contact_id)
    suppressed = sum(_exception(step, ids, Outcome.SUPPRESSED, why_not,
                                traces.c.contact_id.in_(contact_ids))
                     for why_not, contact_ids in held.items())
    return {"queued": len(ids) - suppressed, "suppressed": suppressed}


def case_state(why):
    """queued when nothing holds the message back, else suppressed."""
    from sqlalchemy import case

    from ..email import OutboxState

    return case((why.is_(None), OutboxState.QUEUED.value), else_=OutboxState.SUPPRESSED.value)


def _recipient_id(step: AutomationStep):
    from ..contacts import Contact

    if step.recipient == Recipient.USER:
        return literal(step.user_id)
    return Contact.__table__.c.owner_id


def email_users(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """A notification from the step's template to the owner or the chosen user, about each
    claimed trace's contact (the contact's details are the template's placeholders)."""
    from ..contacts import Contact
    from ..email import OutboxMessage, OutboxState
    from ..users import User

    outbox, contacts, users = OutboxMessage.__table__, Contact.__table__, User.__table__
    source = traces.join(contacts, contacts.c.id == traces.c.contact_id)
    rows = (
        select(literal(step.template_id), contacts.c.id, send_key(traces.c.enrolment_id, step.id),
               literal(NOTIFY_REASON), literal(OutboxState.QUEUED.value), users.c.email,
               literal(now, outbox.c.created_at.type))
        .select_from(source.join(users, users.c.id == _recipient_id(step)))
        .where(batch(ids), users.c.email.is_not(None))
    )
    db.session.execute(insert_ignoring_duplicates(outbox).from_select(
        ["template_id", "contact_id", "send_key", "reason", "state", "to_email", "created_at"],
        rows))
    sent = exists().where(outbox.c.template_id == step.template_id,
                          outbox.c.contact_id == traces.c.contact_id,
                          outbox.c.send_key == send_key(traces.c.enrolment_id, step.id))
    failed = _exception(step, ids, Outcome.FAILED,
                        "no_owner" if step.recipient == Recipient.OWNER else "no_user", ~sent)
    return {"queued": len(ids) - failed, "failed": failed}


def create_tasks(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """One activity (type task) per claimed trace, for the owner or the chosen user, linked
    to the contact, due at the step's time: ids handed out first (the dialect part), then
    one INSERT … SELECT of activities and one of their contact links."""
    from ..activities import Activity, ActivityContact, ActivityStatus, ActivityType
    from ..contacts import Contact

    activities, links = Activity.__table__, ActivityContact.__table__
    contacts = Contact.__table__
    owner = _recipient_id(step)
    if step.recipient == Recipient.OWNER:
        nobody = exists().where(contacts.c.id == traces.c.contact_id, contacts.c.owner_id.is_(None))
        failed = _exception(step, ids, Outcome.FAILED, "no_owner", nobody)
    else:
        failed = _exception(step, ids, Outcome.FAILED, "no_user") if step.user_id is None else 0
    todo = and_(batch(ids), traces.c.outcome == Outcome.TASK_CREATED)
    if db.engine.dialect.name == "postgresql":
        new_id = func.nextval(func.pg_get_serial_sequence("activities", "id"))
    else:
        # SQLite: one writer at a time, and this transaction holds the write lock (the
        # claim wrote first): the ids after the highest are ours.
        base = db.session.scalar(select(func.coalesce(func.max(activities.c.id), 0)))
        other = traces.alias("other")
        new_id = literal(base) + select(func.count()).where(
            other.c.id.in_(ids), other.c.outcome == Outcome.TASK_CREATED,
            other.c.id <= traces.c.id
        ).scalar_subquery()
    db.session.execute(update(traces).where(todo).values(activity_id=new_id)
                       .execution_options(synchronize_session=False))
    nowl = literal(now, activities.c.created_at.type)
    db.session.execute(insert(activities).from_select(
        ["id", "number", "type", "subject", "notes", "owner_id", "start_at", "end_at", "status",
         "company_id", "job_id", "created_at", "updated_at"],
        select(traces.c.activity_id, literal("A-") + cast(traces.c.activity_id, String),
               literal(ActivityType.TASK.value), literal(step.subject),
               literal(f"Automation '{step.automation.name}', step {step.position}"),
               owner, traces.c.due_at, traces.c.due_at, literal(ActivityStatus.PLANNED.value),
               contacts.c.company_id, literal(f"automation:{step.automation_id}"), nowl, nowl)
        .select_from(traces.join(contacts, contacts.c.id == traces.c.contact_id))
        .where(todo)))
    db.session.execute(insert(links).from_select(
        ["activity_id", "contact_id"],
        select(traces.c.activity_id, traces.c.contact_id).where(todo)))
    return {"task_created": len(ids) - failed, "failed": failed}


RUNNERS = {
    StepKind.EMAIL_CONTACT: email_contacts,
    StepKind.EMAIL_USER: email_users,
    StepKind.TASK: create_tasks,
}


def run_step(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """Do a step for the traces :func:`claim_due` claimed for it (the caller commits)."""
    return RUNNERS[step.kind](step, ids, now)
