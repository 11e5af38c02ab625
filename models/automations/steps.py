"""Doing the steps that are due: claimed in batches (SKIP LOCKED on PostgreSQL), emails
through the outbox (opt-out, bounces and the waiting period decided in SQL), tasks in one
INSERT … SELECT; each claimed trace gets its outcome.

The email to the contact, the step most automations are made of, is one statement per
batch on PostgreSQL (claim, outcome with its reason, outbox rows: data-modifying CTEs);
:func:`run_due` is what the tick calls for every kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from ..base import db
from ..dialect import insert_ignoring_duplicates, one_of
from .definitions import AutomationStep, Outcome, Recipient, StepKind, StepTrace, TraceState

traces = StepTrace.__table__
# What a claimed trace of each kind comes to unless something holds it back: the claim
# writes it with the state, and the step's statements rewrite only the exceptions (one
# write per trace, not two).
PRESUMED = {
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


def _why_due(step: AutomationStep, now: datetime, *where):
    """``SELECT id, why`` of the step's traces (``where``), each with the first reason its
    contact's message must be held back (opt-out, no / invalid email, bounced, the waiting
    period: models/email/outbox.py), or NULL. The waiting period is probed per row (the
    (template, contact) index), as the sender probes it again at send time."""
    from ..contacts import Contact
    from ..email.outbox import suppression_reason
    from ..settings import Settings

    contacts = Contact.__table__
    why = suppression_reason(step.template_id, now, Settings.get().email_waiting_period_days,
                             per_row=True)
    return (select(traces.c.id, why.label("why"))
            .select_from(traces.join(contacts, contacts.c.id == traces.c.contact_id))
            .where(*where))


def _mark(due, now: datetime):
    """The claimed traces done, queued or suppressed with the reason (each written once),
    ``RETURNING`` what their messages need. ``state = pending`` is checked again: on
    PostgreSQL a row a concurrent claim committed meanwhile is not taken twice."""
    return (update(traces)
            .where(traces.c.id == due.c.id, traces.c.state == TraceState.PENDING)
            .values(state=TraceState.DONE, done_at=now, outcome=_outcome(due.c.why),
                    reason=due.c.why)
            .returning(traces.c.id, traces.c.enrolment_id, traces.c.contact_id, traces.c.reason))


def _outcome(why):
    """A claimed email trace's outcome: queued when nothing holds it back, else suppressed."""
    return case((why.is_(None), Outcome.QUEUED.value), else_=Outcome.SUPPRESSED.value)


def _messages(step: AutomationStep, marked, now: datetime):
    """``INSERT … SELECT`` of one outbox row per marked trace (``marked``: enrolment_id,
    contact_id, reason), queued or suppressed with the trace's reason, sent as the step
    says (the contact's owner or the chosen user: models/email/message.py: sender_of)."""
    from ..contacts import Contact
    from ..email import OutboxMessage, SenderMode

    outbox, contacts = OutboxMessage.__table__, Contact.__table__
    chosen = step.user_id if step.recipient == Recipient.USER else None
    rows = (
        select(literal(step.template_id), contacts.c.id, send_key(marked.c.enrolment_id, step.id),
               literal("automation"), case_state(marked.c.reason), marked.c.reason,
               contacts.c.email, literal(now, outbox.c.created_at.type),
               literal(SenderMode(step.recipient).value),
               literal(chosen, outbox.c.sender_user_id.type), literal(0))
        .select_from(marked.join(contacts, contacts.c.id == marked.c.contact_id))
        .where(true())
    )
    # Every value written out: inside a CTE, SQLAlchemy fills in no column defaults.
    return insert_ignoring_duplicates(outbox).from_select(
        ["template_id", "contact_id", "send_key", "reason", "state", "suppressed_reason",
         "to_email", "created_at", "sender_mode", "sender_user_id", "attempts"], rows)


def _email_due_postgresql(step: AutomationStep, now: datetime, limit: int) -> tuple[int, int]:
    """PostgreSQL: one statement per batch. The due traces are locked in index order
    (``FOR UPDATE SKIP LOCKED``: two schedulers take disjoint batches) with their reasons,
    marked done, and their outbox rows inserted from the marked ones (data-modifying CTEs
    run once, whether read or not); answers (claimed, held back)."""
    due = (_why_due(step, now, traces.c.step_id == step.id,
                    traces.c.state == TraceState.PENDING, traces.c.due_at <= now)
           .order_by(traces.c.due_at).limit(limit)
           .with_for_update(skip_locked=True, of=traces).cte("due"))
    marked = _mark(due, now).cte("marked")
    made = _messages(step, marked, now).cte("made")
    return tuple(db.session.execute(
        select(func.count(), func.count(marked.c.reason)).select_from(marked).add_cte(made)
    ).one())


def _email_due_sqlite(step: AutomationStep, now: datetime, limit: int) -> tuple[int, int]:
    """SQLite (one writer at a time, no data-modifying CTEs): the same three parts as
    three statements; answers (claimed, held back)."""
    ids = db.session.scalars(
        select(traces.c.id).where(traces.c.step_id == step.id,
                                  traces.c.state == TraceState.PENDING, traces.c.due_at <= now)
        .order_by(traces.c.due_at).limit(limit)).all()
    if not ids:
        return 0, 0
    marked = db.session.execute(
        _mark(_why_due(step, now, batch(ids)).subquery("due"), now)
        .execution_options(synchronize_session=False)).all()
    claimed = [row.id for row in marked]
    if claimed:
        db.session.execute(_messages(step, select(
            traces.c.enrolment_id, traces.c.contact_id, traces.c.reason
        ).where(batch(claimed)).subquery("marked"), now))
    return len(claimed), sum(1 for row in marked if row.reason)


EMAIL_DUE = {"postgresql": _email_due_postgresql, "sqlite": _email_due_sqlite}


def email_contacts_due(step: AutomationStep, now: datetime, limit: int) -> tuple[int, dict]:
    """The email-to-contact step for up to ``limit`` due traces, the most overdue first:
    each claimed trace is done, with one outbox message queued, or suppressed with the
    reason written on both (opt-out, no / invalid email, bounced, the waiting period).
    Answers (claimed, counts); the caller commits."""
    claimed, held = EMAIL_DUE[db.engine.dialect.name](step, now, limit)
    return claimed, {"queued": claimed - held, "suppressed": held}


def case_state(why):
    """queued when nothing holds the message back, else suppressed."""
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
    StepKind.EMAIL_USER: email_users,
    StepKind.TASK: create_tasks,
}


def run_step(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """Do a user email or task step for the traces :func:`claim_due` claimed for it (the
    caller commits)."""
    return RUNNERS[step.kind](step, ids, now)


def run_due(step: AutomationStep, now: datetime, limit: int) -> tuple[int, dict]:
    """Claim up to ``limit`` of the step's due traces and do them; answers how many were
    claimed and the counts by outcome (the caller commits: one batch, one transaction)."""
    if step.kind == StepKind.EMAIL_CONTACT:
        return email_contacts_due(step, now, limit)
    ids = claim_due(step, now, limit)
    return len(ids), (run_step(step, ids, now) if ids else {})
