"""What an automation is: its trigger, mode and steps, and the rows that record each
contact's pass through it (enrolments and step traces)."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..base import Base, Timestamped, UTCDateTime
from .timing import parse_weekdays, step_due, weekdays_words


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
    # The steps in use; a removed step stays (with its history) but is in no list, count
    # or schedule.
    steps = relationship("AutomationStep", order_by="AutomationStep.position",
                         primaryjoin="and_(Automation.id == AutomationStep.automation_id, "
                                     "AutomationStep.removed_at.is_(None))",
                         back_populates="automation", cascade="all, delete-orphan",
                         passive_deletes=True)
    removed_steps = relationship(
        "AutomationStep", order_by="AutomationStep.removed_at", viewonly=True,
        primaryjoin="and_(Automation.id == AutomationStep.automation_id, "
                    "AutomationStep.removed_at.is_not(None))")

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
    # Removed from the automation: its done traces stay readable (history, "why not sent",
    # who was at it), its pending ones were cancelled (models/automations/editing.py).
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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
        from ..email import CAMPAIGN_FOLDER

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
