"""Automations (SPEC §6, seed 003): contacts enter, move through timed steps, and leave.

An automation's trigger (contacts in a status, or matching a saved filter) compiles
to one ``SELECT contacts.id`` (models/criteria); entering is one ``INSERT … SELECT``
of enrolments and leaving one ``UPDATE`` per automation (see :func:`enter`,
:func:`leave`). Each enrolment gets one *step trace* per step, unique per
(enrolment, step), with its due time worked out in the installation's zone; the
tick claims due traces in batches and does each step once (jobs/automations.py).

Step due times: all the contacts one statement enrolled share its ``entered_at``, so
a due time is computed once per (step, entry moment) in Python (zoneinfo, DST-correct)
and written to every trace of that group by one statement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from .base import Base, Timestamped, UTCDateTime, db
from .dialect import insert_ignoring_duplicates, no_nested_loops

__all__ = [
    "Automation", "AutomationEnrolment", "AutomationStep", "Mode", "Outcome", "Recipient",
    "Reentry", "StepKind", "StepTrace", "TraceState", "Trigger", "step_due",
]


class Trigger(StrEnum):
    """What puts a contact into the automation."""

    STATUS = "status"  # contacts in a status
    FILTER = "filter"  # contacts matching a saved filter ("view")


class Mode(StrEnum):
    """Continuous: enter and leave as they match; one-time: who matched at activation."""

    CONTINUOUS = "continuous"
    ONE_TIME = "one_time"


class Reentry(StrEnum):
    """Whether a contact who left may enter again."""

    NEVER = "never"
    AFTER_LEAVING = "after_leaving"
    AFTER_DAYS = "after_days"  # after leaving plus ``reentry_days``


class StepKind(StrEnum):
    """What a step does."""

    EMAIL_CONTACT = "email_contact"
    EMAIL_USER = "email_user"
    TASK = "task"


STEP_LABELS = {
    StepKind.EMAIL_CONTACT: _l("Email to the contact"),
    StepKind.EMAIL_USER: _l("Email to a user"),
    StepKind.TASK: _l("Task for a user"),
}


class Recipient(StrEnum):
    """Who a user step is for (and who sends a contact email): the owner or a chosen user."""

    OWNER = "owner"
    USER = "user"


class TraceState(StrEnum):
    """A step trace waits (pending) until it is done (with an outcome)."""

    PENDING = "pending"
    DONE = "done"


class Outcome(StrEnum):
    """What a done step did."""

    SENT = "sent"
    QUEUED = "queued"
    TASK_CREATED = "task_created"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    FAILED = "failed"


# "Why not sent", in words (the outbox's suppression reasons and the automation's own).
WHY = {
    "opted_out": _l("the contact opted out of email"),
    "no_email": _l("the contact has no email address"),
    "invalid_email": _l("the contact's email address is not valid"),
    "bounced": _l("the address bounced"),
    "waiting_period": _l("the same template reached the contact within the waiting period"),
    "left": _l("the contact left the automation"),
    "paused": _l("the automation is paused"),
    "no_owner": _l("the contact has no owner"),
    "no_user": _l("no user to send to"),
    "step_removed": _l("the step was removed"),
}

WEEKDAY_NAMES = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))


def parse_weekdays(text: str) -> tuple[int, ...]:
    """ISO weekdays from "1-5", "1,3,5" or "" (every day)."""
    days: set[int] = set()
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            days.update(range(low, high + 1))
        else:
            days.add(int(part))
    if any(d < 1 or d > 7 for d in days):
        raise ValueError(_("weekdays are 1 (Monday) … 7 (Sunday)"))
    return tuple(sorted(days)) or (1, 2, 3, 4, 5, 6, 7)


def weekdays_words(text: str) -> str:
    """"Mon–Fri", "Mon, Wed" or "every day"."""
    try:
        days = parse_weekdays(text)
    except ValueError:
        return text
    if len(days) == 7:
        return _("every day")
    if len(days) > 2 and days == tuple(range(days[0], days[-1] + 1)):
        return f"{WEEKDAY_NAMES[days[0] - 1]}–{WEEKDAY_NAMES[days[-1] - 1]}"
    return ", ".join(str(WEEKDAY_NAMES[d - 1]) for d in days)


def step_due(entered_at: datetime, delay_days: int, weekdays: tuple[int, ...],
             at: time | None, tz: ZoneInfo) -> datetime:
    """When a step is due for a contact who entered at ``entered_at`` (UTC): the first
    moment at ``at`` (local wall clock in ``tz``) on an allowed weekday that is not before
    entry + ``delay_days`` days (local calendar days: DST changes keep the hour)."""
    local = entered_at.astimezone(tz)
    earliest = datetime.combine(local.date() + timedelta(days=delay_days), local.timetz())
    earliest = earliest.replace(tzinfo=tz)
    if at is None and earliest.isoweekday() in weekdays:
        return earliest.astimezone(UTC)
    day: date = earliest.date()
    for _day in range(15):
        moment = datetime.combine(day, at or time(0), tzinfo=tz)
        if day.isoweekday() in weekdays and (moment >= earliest or at is None):
            return moment.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError("no allowed weekday")  # parse_weekdays never gives an empty set


class Automation(Timestamped, Base):
    """A trigger, a mode and ordered steps; active or not."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    trigger: Mapped[str] = mapped_column(String(10), default=Trigger.STATUS)
    status_value: Mapped[str | None] = mapped_column(String(40))
    filter_id: Mapped[int | None] = mapped_column(
        ForeignKey("saved_filters.id", ondelete="RESTRICT")
    )
    mode: Mapped[str] = mapped_column(String(12), default=Mode.CONTINUOUS)
    only_new: Mapped[bool] = mapped_column(default=False)
    reentry: Mapped[str] = mapped_column(String(14), default=Reentry.NEVER)
    reentry_days: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=False)
    # The last activation, and the first one (the baseline "only new" counts from; the
    # moment a one-time automation took its contacts).
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    saved_filter = relationship("SavedFilter")
    created_by = relationship("User")
    steps = relationship("AutomationStep", order_by="AutomationStep.position",
                         back_populates="automation", cascade="all, delete-orphan",
                         passive_deletes=True)

    def __str__(self) -> str:
        return self.name

    @property
    def trigger_words(self) -> str:
        """"status = lead" or "filter 'Hot leads'"."""
        if self.trigger == Trigger.STATUS:
            return _("contacts in status '%(status)s'", status=self.status_value)
        name = self.saved_filter.name if self.saved_filter else f"#{self.filter_id}"
        return _("contacts matching the filter '%(name)s'", name=name)

    def criteria(self) -> dict:
        """The trigger as a criteria tree (models/criteria)."""
        if self.trigger == Trigger.STATUS:
            return {"all": [{"field": "status", "op": "eq", "value": self.status_value}]}
        return self.saved_filter.criteria if self.saved_filter else {"all": []}

    def problems(self) -> dict[str, str]:
        """What keeps it from being activated, by field."""
        found: dict[str, str] = {}
        if not (self.name or "").strip():
            found["name"] = _("give the automation a name")
        if self.trigger == Trigger.STATUS and not (self.status_value or "").strip():
            found["status_value"] = _("choose the status")
        if self.trigger == Trigger.FILTER and self.filter_id is None and self.saved_filter is None:
            found["filter"] = _("choose the saved filter")
        if self.trigger not in set(Trigger):
            found["trigger"] = _("choose status or filter")
        if self.mode not in set(Mode):
            found["mode"] = _("choose continuous or one-time")
        if self.mode == Mode.ONE_TIME and self.only_new:
            found["only_new"] = _("a one-time automation takes who matches at activation")
        if self.reentry == Reentry.AFTER_DAYS and not (self.reentry_days or 0) > 0:
            found["reentry_days"] = _("give the days after leaving (1 or more)")
        for step in self.steps:
            for field, message in step.problems().items():
                found[f"step {step.position}: {field}"] = message
        if not self.steps:
            found["steps"] = _("add at least one step")
        return found


class AutomationStep(Base):
    """One step: what (email to contact / email to user / task), for whom, and when."""

    __tablename__ = "automation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=1)
    kind: Mapped[str] = mapped_column(String(14), default=StepKind.EMAIL_CONTACT)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="RESTRICT")
    )
    # Email to a user / task: for whom; email to the contact: who sends it.
    recipient: Mapped[str] = mapped_column(String(6), default=Recipient.OWNER)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    subject: Mapped[str] = mapped_column(String(255), default="")
    delay_days: Mapped[int] = mapped_column(default=0)
    weekdays: Mapped[str] = mapped_column(String(20), default="1-7")
    at_time: Mapped[time | None]

    automation = relationship("Automation", back_populates="steps")
    template = relationship("EmailTemplate")
    user = relationship("User")

    __table_args__ = (Index("ix_automation_steps_automation_id", "automation_id"),)

    @property
    def kind_label(self) -> str:
        """The kind in words."""
        return STEP_LABELS.get(self.kind, self.kind)

    @property
    def timing_words(self) -> str:
        """"2 days after entry, Mon–Fri at 09:00"."""
        days = _("on entry") if not self.delay_days else ngettext(
            "%(num)d day after entry", "%(num)d days after entry", self.delay_days)
        if self.at_time:
            return _("%(days)s, %(weekdays)s at %(time)s", days=days,
                     weekdays=weekdays_words(self.weekdays), time=f"{self.at_time:%H:%M}")
        return f"{days}, {weekdays_words(self.weekdays)}"

    @property
    def what_words(self) -> str:
        """"template 'Welcome' from the owner" …"""
        who = _("the owner") if self.recipient == Recipient.OWNER else (
            self.user.email if self.user else _("user #%(id)s", id=self.user_id))
        if self.kind == StepKind.EMAIL_CONTACT:
            name = self.template.name if self.template else "?"
            return _("template '%(name)s', sent as %(who)s", name=name, who=who)
        if self.kind == StepKind.EMAIL_USER:
            name = self.template.name if self.template else "?"
            return _("template '%(name)s' to %(who)s", name=name, who=who)
        return _("task '%(subject)s' for %(who)s", subject=self.subject, who=who)

    def due_for(self, entered_at: datetime, tz: ZoneInfo) -> datetime:
        """This step's due time for a contact who entered at ``entered_at``."""
        return step_due(entered_at, self.delay_days or 0, parse_weekdays(self.weekdays),
                        self.at_time, tz)

    def problems(self) -> dict[str, str]:
        """What is missing for the step to run."""
        from .email import CAMPAIGN_FOLDER

        found = {}
        if self.kind not in set(StepKind):
            found["kind"] = _("choose email to contact, email to user or task")
        if self.kind in (StepKind.EMAIL_CONTACT, StepKind.EMAIL_USER):
            if self.template is None and self.template_id is None:
                found["template"] = _("choose a template")
            elif self.kind == StepKind.EMAIL_CONTACT and self.template is not None \
                    and self.template.folder != CAMPAIGN_FOLDER:
                found["template"] = _("template '%(name)s' is not in the Campaign folder",
                                      name=self.template.name)
        if self.kind == StepKind.TASK and not (self.subject or "").strip():
            found["subject"] = _("give the task a subject")
        if self.recipient == Recipient.USER and self.user is None and self.user_id is None:
            found["user"] = _("choose the user")
        if not 0 <= (self.delay_days or 0) <= 3650:
            found["delay_days"] = _("days after entry: 0 … 3650")
        try:
            parse_weekdays(self.weekdays)
        except ValueError as exc:
            found["weekdays"] = str(exc)
        return found


class AutomationEnrolment(Base):
    """One contact's pass through an automation: entered, left, which attempt.

    Attempt 0 is the "only new records" baseline: who matched at activation, held so they
    do not enter (no steps); when they stop matching and start again, they enter as 1.
    """

    __tablename__ = "automation_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(default=1)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(40))

    automation = relationship(
        "Automation",
        backref=backref("enrolments", cascade="save-update, merge, delete", passive_deletes=True),
    )
    contact = relationship("Contact")

    __table_args__ = (
        UniqueConstraint("automation_id", "contact_id", "attempt"),
        # At most one open enrolment per contact and automation: two ticks entering the same
        # contact at once insert one row (the other is ON CONFLICT DO NOTHING).
        Index("ux_automation_enrolments_open", "automation_id", "contact_id", unique=True,
              sqlite_where=text("left_at IS NULL"), postgresql_where=text("left_at IS NULL")),
        Index("ix_automation_enrolments_contact_id", "contact_id"),
    )


class StepTrace(Base):
    """One step for one enrolment: due when, done when, and what came of it."""

    __tablename__ = "automation_step_traces"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("automation_enrolments.id", ondelete="CASCADE")
    )
    step_id: Mapped[int] = mapped_column(ForeignKey("automation_steps.id", ondelete="CASCADE"))
    # The enrolment's contact, kept here so a step's statements need no join back.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(8), default=TraceState.PENDING)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(14))
    # Why not sent / why cancelled or failed (see WHY).
    reason: Mapped[str | None] = mapped_column(String(40))
    # The task it created. No foreign key: the ids are handed out to the traces before the
    # activities are inserted (one statement each), and a deleted task keeps its trace.
    activity_id: Mapped[int | None]

    enrolment = relationship(
        "AutomationEnrolment",
        backref=backref("traces", cascade="save-update, merge, delete", passive_deletes=True),
    )
    step = relationship(
        "AutomationStep",
        backref=backref("traces", cascade="save-update, merge, delete", passive_deletes=True),
    )
    __table_args__ = (
        UniqueConstraint("enrolment_id", "step_id"),
        Index("ix_automation_step_traces_step_id_state_due_at", "step_id", "state", "due_at"),
        Index("ix_automation_step_traces_contact_id", "contact_id"),
    )

    @property
    def why(self) -> str | None:
        """The reason in words."""
        return WHY.get(self.reason, self.reason) if self.reason else None


# --- the set-based statements -----------------------------------------------------------------

enrolments = AutomationEnrolment.__table__
traces = StepTrace.__table__


def _tz() -> ZoneInfo:
    from .settings import installation_tz

    return installation_tz()


def matching(automation: Automation, now: datetime):
    """``SELECT contacts.id`` of the contacts the trigger matches now (the compiled criteria)."""
    from .campaigns.audience import filter_selection
    from .contacts import Contact
    from .criteria import matching_ids

    if automation.trigger == Trigger.FILTER:
        if automation.saved_filter is None:
            return select(Contact.__table__.c.id).where(literal(False))
        return filter_selection(automation.saved_filter)
    tree = {"all": [{"field": "status", "op": "eq", "value": automation.status_value or ""}]}
    return matching_ids(tree, now, _tz())


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
    from .contacts import Contact

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

    tz = tz or _tz()
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


def pending_moments(step: AutomationStep) -> list[tuple[datetime, datetime, int]]:
    """(entered_at, due_at, count) of the step's pending traces."""
    return [tuple(r) for r in db.session.execute(
        select(enrolments.c.entered_at, traces.c.due_at, func.count())
        .select_from(traces.join(enrolments, enrolments.c.id == traces.c.enrolment_id))
        .where(traces.c.step_id == step.id, traces.c.state == TraceState.PENDING)
        .group_by(enrolments.c.entered_at, traces.c.due_at)
    )]


def reschedule_effect(automation: Automation, tz: ZoneInfo | None = None) -> list[dict]:
    """What saving the steps as they are now (in the session, unsaved) would do to pending
    traces: per step, how many move and to when; the done ones stay as they are."""
    tz = tz or _tz()
    effect = []
    for step in automation.steps:
        moved, same, moves = 0, 0, []
        if step.id is not None:
            for entered_at, due_at, n in pending_moments(step):
                new = step.due_for(entered_at, tz)
                if new != due_at:
                    moved += n
                    moves.append({"from": due_at, "to": new, "count": n})
                else:
                    same += n
            done = db.session.scalar(select(func.count()).where(
                traces.c.step_id == step.id, traces.c.state == TraceState.DONE)) or 0
        else:
            done = 0
        effect.append({"step": step, "moved": moved, "unchanged": same, "moves": moves,
                       "done": done, "new": step.id is None})
    return effect


def reschedule(automation: Automation, tz: ZoneInfo | None = None) -> int:
    """Pending traces get the due times of the steps as they are now (per step and entry
    moment one UPDATE); done traces are not touched. Then traces for new steps."""
    tz = tz or _tz()
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


def claim_due(step_id: int, now: datetime, limit: int) -> list[int]:
    """Mark up to ``limit`` due pending traces of a step done (in this transaction) and
    return their ids. PostgreSQL: two ticks skip each other's rows (SKIP LOCKED), and the
    outer ``state = pending`` is checked again on the row a concurrent claim committed."""
    due = (
        select(traces.c.id)
        .where(traces.c.step_id == step_id, traces.c.state == TraceState.PENDING,
               traces.c.due_at <= now)
        .order_by(traces.c.due_at, traces.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return sorted(db.session.execute(
        update(traces)
        .where(traces.c.id.in_(due.scalar_subquery()), traces.c.state == TraceState.PENDING)
        .values(state=TraceState.DONE, done_at=now)
        .returning(traces.c.id)
        .execution_options(synchronize_session=False)
    ).scalars().all())


def send_key(enrolment_id, step_id: int):
    """The outbox send key of one step for one enrolment: ``automation:<enrolment>:<step>``."""
    return literal("automation:") + cast(enrolment_id, String) + literal(f":{step_id}")


NOTIFY_REASON = "automation_user"  # outbox rows to users: no contact opt-out applies


def _outcome(ids: list[int], outcome: str, reason=None, *where) -> int:
    return db.session.execute(
        update(traces).where(traces.c.id.in_(ids), traces.c.outcome.is_(None), *where)
        .values(outcome=outcome, reason=reason).execution_options(synchronize_session=False)
    ).rowcount


def email_contacts(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """The step's template to each claimed trace's contact, through the outbox (opt-out,
    no / invalid email, bounces and the waiting period decided in SQL)."""
    from .contacts import Contact
    from .email import OutboxMessage, OutboxState
    from .email.outbox import suppression_reason
    from .settings import Settings

    outbox, contacts = OutboxMessage.__table__, Contact.__table__
    why = suppression_reason(step.template_id, now, Settings.get().email_waiting_period_days)
    rows = (
        select(literal(step.template_id), contacts.c.id, send_key(traces.c.enrolment_id, step.id),
               literal("automation"), case_state(why), why, contacts.c.email,
               literal(now, outbox.c.created_at.type))
        .select_from(traces.join(contacts, contacts.c.id == traces.c.contact_id))
        .where(traces.c.id.in_(ids))
    )
    db.session.execute(insert_ignoring_duplicates(outbox).from_select(
        ["template_id", "contact_id", "send_key", "reason", "state", "suppressed_reason",
         "to_email", "created_at"], rows))
    earlier = outbox.alias("o")
    mine = and_(earlier.c.template_id == step.template_id,
                earlier.c.contact_id == traces.c.contact_id,
                earlier.c.send_key == send_key(traces.c.enrolment_id, step.id))
    held_reason = select(earlier.c.suppressed_reason).where(
        mine, earlier.c.state == OutboxState.SUPPRESSED).scalar_subquery()
    suppressed = _outcome(ids, Outcome.SUPPRESSED, held_reason,
                          exists().where(mine, earlier.c.state == OutboxState.SUPPRESSED))
    queued = _outcome(ids, Outcome.QUEUED)
    return {"queued": queued, "suppressed": suppressed}


def case_state(why):
    """queued when nothing holds the message back, else suppressed."""
    from sqlalchemy import case

    from .email import OutboxState

    return case((why.is_(None), OutboxState.QUEUED.value), else_=OutboxState.SUPPRESSED.value)


def _recipient_id(step: AutomationStep):
    from .contacts import Contact

    if step.recipient == Recipient.USER:
        return literal(step.user_id)
    return Contact.__table__.c.owner_id


def email_users(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """A notification from the step's template to the owner or the chosen user, about each
    claimed trace's contact (the contact's details are the template's placeholders)."""
    from .contacts import Contact
    from .email import OutboxMessage, OutboxState
    from .users import User

    outbox, contacts, users = OutboxMessage.__table__, Contact.__table__, User.__table__
    source = traces.join(contacts, contacts.c.id == traces.c.contact_id)
    rows = (
        select(literal(step.template_id), contacts.c.id, send_key(traces.c.enrolment_id, step.id),
               literal(NOTIFY_REASON), literal(OutboxState.QUEUED.value), users.c.email,
               literal(now, outbox.c.created_at.type))
        .select_from(source.join(users, users.c.id == _recipient_id(step)))
        .where(traces.c.id.in_(ids), users.c.email.is_not(None))
    )
    db.session.execute(insert_ignoring_duplicates(outbox).from_select(
        ["template_id", "contact_id", "send_key", "reason", "state", "to_email", "created_at"],
        rows))
    sent = exists().where(outbox.c.template_id == step.template_id,
                          outbox.c.contact_id == traces.c.contact_id,
                          outbox.c.send_key == send_key(traces.c.enrolment_id, step.id))
    queued = _outcome(ids, Outcome.QUEUED, None, sent)
    failed = _outcome(ids, Outcome.FAILED,
                      "no_owner" if step.recipient == Recipient.OWNER else "no_user")
    return {"queued": queued, "failed": failed}


def create_tasks(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """One activity (type task) per claimed trace, for the owner or the chosen user, linked
    to the contact, due at the step's time: ids handed out first (the dialect part), then
    one INSERT … SELECT of activities and one of their contact links."""
    from .activities import Activity, ActivityContact, ActivityStatus, ActivityType
    from .contacts import Contact

    activities, links = Activity.__table__, ActivityContact.__table__
    contacts = Contact.__table__
    owner = _recipient_id(step)
    if step.recipient == Recipient.OWNER:
        nobody = exists().where(contacts.c.id == traces.c.contact_id, contacts.c.owner_id.is_(None))
        failed = _outcome(ids, Outcome.FAILED, "no_owner", nobody)
    else:
        failed = _outcome(ids, Outcome.FAILED, "no_user") if step.user_id is None else 0
    todo = and_(traces.c.id.in_(ids), traces.c.outcome.is_(None))
    if db.engine.dialect.name == "postgresql":
        new_id = func.nextval(func.pg_get_serial_sequence("activities", "id"))
    else:
        # SQLite: one writer at a time, and this transaction holds the write lock (the
        # claim wrote first): the ids after the highest are ours.
        base = db.session.scalar(select(func.coalesce(func.max(activities.c.id), 0)))
        other = traces.alias("other")
        new_id = literal(base) + select(func.count()).where(
            other.c.id.in_(ids), other.c.outcome.is_(None), other.c.id <= traces.c.id
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
    created = _outcome(ids, Outcome.TASK_CREATED)
    return {"task_created": created, "failed": failed}


RUNNERS = {
    StepKind.EMAIL_CONTACT: email_contacts,
    StepKind.EMAIL_USER: email_users,
    StepKind.TASK: create_tasks,
}


def run_step(step: AutomationStep, ids: list[int], now: datetime) -> dict:
    """Do a step for the claimed traces (the caller commits)."""
    return RUNNERS[step.kind](step, ids, now)


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


def remove_step(step: AutomationStep) -> None:
    """Delete a step (its traces go with it) and close the gap in the positions."""
    automation = step.automation
    automation.steps.remove(step)
    db.session.flush()
    renumber(automation)


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


# --- reading ----------------------------------------------------------------------------------


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
    from .contacts import Contact

    query = select(Contact, StepTrace).join(StepTrace, StepTrace.contact_id == Contact.id) \
        .where(StepTrace.step_id == step.id)
    if state == "pending":
        query = query.where(StepTrace.state == TraceState.PENDING)
    else:
        query = query.where(StepTrace.outcome == state)
    return db.session.execute(query.order_by(StepTrace.due_at, Contact.id).limit(limit)).all()


def history_of(contact_id: int) -> list[dict]:
    """A contact's automations: each enrolment with its step traces (and "why not sent")."""
    from .email import OutboxMessage

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
            elif trace.outcome == Outcome.QUEUED and trace.step.kind == StepKind.EMAIL_CONTACT:
                state = db.session.scalar(select(OutboxMessage.state).where(
                    OutboxMessage.contact_id == contact_id,
                    OutboxMessage.send_key == f"automation:{enrolment.id}:{trace.step_id}"))
                if state == "sent":
                    outcome = Outcome.SENT
                elif state == "suppressed":
                    outcome = "suppressed at send time"
            steps.append({"trace": trace, "step": trace.step, "outcome": outcome, "why": why})
        out.append({"enrolment": enrolment, "automation": automation, "steps": steps})
    return out


def dry_run(automation: Automation, now: datetime, tz: ZoneInfo | None = None,
            sample: int = 20) -> dict:
    """Who would enter now, when each one's first step happens, and how many the first
    email's suppressions (waiting period, opt-out, …) would hold back. Writes nothing."""
    from .contacts import Contact
    from .email.outbox import suppression_reason
    from .settings import Settings

    tz = tz or _tz()
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

