"""Scheduled actions (what runs when), their run ledger and the scheduler's last tick.

The database is the schedule: each action stores ``next_run_at`` (UTC), computed
from its recurrence (models/recurrence.py) in its own time zone, and the tick
reads only the rows that are due (an index on ``active, next_run_at``). Every run
is first a row in ``scheduled_action_runs``, unique per (action, due time): that
key, not a Redis lock, makes two schedulers or a scheduler and "Run now" start
one run per due time (docs/architecture.md, rule 10).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, backref, mapped_column, relationship

from ..base import Base, Timestamped, UTCDateTime, utcnow
from ..recurrence import Frequency, Recurrence, parse_weekdays

__all__ = [
    "ActionKind", "ActionInUse", "ActivityAssignee", "ActivityDay", "CatchUp", "Frequency",
    "Origin", "Overlap", "RunStatus", "ScheduledAction", "ScheduledActionRun", "SchedulerTick",
]


class ActionKind(StrEnum):
    """What a scheduled action does when it is due."""

    REFRESH_GROUP = "refresh_group"
    GROUP_ACTIVITIES = "group_activities"
    GROUP_EMAIL = "group_email"
    COPY_GROUP = "copy_group"


KIND_LABELS = {
    ActionKind.REFRESH_GROUP: _l("Refresh a target group"),
    ActionKind.GROUP_ACTIVITIES: _l("Create target group activities"),
    ActionKind.GROUP_EMAIL: _l("Send a target group's email (new campaign each time)"),
    ActionKind.COPY_GROUP: _l("Copy a target group into a campaign"),
}


class CatchUp(StrEnum):
    """Due times missed while no scheduler ran."""

    LATEST = "latest"  # run the latest missed one, once
    SKIP = "skip"  # run nothing for them


class Overlap(StrEnum):
    """A due time while the action's previous run is still queued or running."""

    SKIP = "skip"
    QUEUE = "queue"  # wait for it, then run


class ActivityAssignee(StrEnum):
    """Whose calendar a group-activities action fills."""

    OWNER = "owner"  # each contact's owner; the ownerless are reported
    USER = "user"  # the chosen user gets them all
    OWNER_OR_USER = "owner_or_user"  # the owner; the chosen user takes the ownerless


class ActivityDay(StrEnum):
    """Which day a group-activities action plans from (local to the action's zone)."""

    TODAY = "today"
    NEXT_WORKING_DAY = "next_working_day"
    PLUS_DAYS = "plus_days"


class Origin(StrEnum):
    """Who keeps an action: a person, or a target group's automatic email switch."""

    MANUAL = "manual"
    GROUP_EMAIL = "group_email"  # the group's send timing; kept in step when the group is saved
    GROUP_REFRESH = "group_refresh"  # "refresh N minutes before" that email


class RunStatus(StrEnum):
    """One run in the ledger: waiting (overlap: queue) → queued → running → done / failed;
    or skipped (overlap: skip)."""

    WAITING = "waiting"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


UNSETTLED = (RunStatus.WAITING, RunStatus.QUEUED, RunStatus.RUNNING)


class ScheduledAction(Timestamped, Base):
    """A recurring job: what, on which target, how often (in which zone), and its state."""

    __tablename__ = "scheduled_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    origin: Mapped[str] = mapped_column(String(20), default=Origin.MANUAL)
    # What it works on. RESTRICT: deleting a record an action uses is refused (naming the
    # actions), never a silent delete of the action.
    target_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("target_groups.id", ondelete="RESTRICT")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="RESTRICT")
    )
    # Group email: the template to send (empty: the group's own template).
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="RESTRICT")
    )
    # The action's owner: owns the campaigns it creates; a run acts as this user.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # Group activities: the chosen user (assignee "user") or the fallback ("owner_or_user").
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    refresh_first: Mapped[bool] = mapped_column(default=False)
    activity_assignee: Mapped[str] = mapped_column(String(20), default=ActivityAssignee.OWNER)
    activity_day: Mapped[str] = mapped_column(String(20), default=ActivityDay.TODAY)
    activity_day_offset: Mapped[int] = mapped_column(default=0)
    activity_type: Mapped[str] = mapped_column(String(20), default="call")
    activity_subject: Mapped[str] = mapped_column(String(255), default="")
    # Kept from the first schema and no longer offered in forms (never a JSON box).
    params: Mapped[dict] = mapped_column(JSON, default=dict)

    frequency: Mapped[str] = mapped_column(String(10), default=Frequency.DAILY)
    # Local wall-clock time (naive, in ``timezone``): "once", and the first "every N hours".
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    interval_hours: Mapped[int | None]
    cron: Mapped[str | None] = mapped_column(String(100))
    time_of_day: Mapped[time | None]
    # ISO weekdays 1 (Monday) … 7 (Sunday) for weekly actions, e.g. "1,3".
    weekdays: Mapped[str] = mapped_column(String(20), default="")
    day_of_month: Mapped[int | None]
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    catch_up: Mapped[str] = mapped_column(String(10), default=CatchUp.LATEST)
    overlap: Mapped[str] = mapped_column(String(10), default=Overlap.SKIP)
    max_failures: Mapped[int] = mapped_column(default=3)

    active: Mapped[bool] = mapped_column(default=True)
    failure_streak: Mapped[int] = mapped_column(default=0)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(10))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    target_group = relationship("TargetGroup")
    campaign = relationship("Campaign")
    template = relationship("EmailTemplate")
    owner = relationship("User", foreign_keys=[owner_id])
    user = relationship("User", foreign_keys=[user_id])
    created_by = relationship("User", foreign_keys=[created_by_id])

    __table_args__ = (
        Index("ix_scheduled_actions_active_next_run_at", "active", "next_run_at"),
        Index("ix_scheduled_actions_target_group_id", "target_group_id"),
    )

    @property
    def recurrence(self) -> Recurrence:
        """The schedule as plain values (models/recurrence.py)."""
        try:
            weekdays = parse_weekdays(self.weekdays)
        except ValueError:
            weekdays = ()
        return Recurrence(
            frequency=self.frequency, timezone=self.timezone, start_at=self.start_at,
            interval_hours=self.interval_hours, time_of_day=self.time_of_day,
            weekdays=weekdays, day_of_month=self.day_of_month, cron=self.cron or None,
        )

    def compute_next_run(self, after: datetime) -> datetime | None:
        """Set and return ``next_run_at``: the first due time after ``after`` (None: never)."""
        rec = self.recurrence
        self.next_run_at = None if rec.problems() else rec.next_after(after)
        return self.next_run_at

    def problems(self) -> dict[str, str]:
        """What keeps the action from running, by form field (empty: it can run)."""
        from ..activities import ActivityType
        from ..email import CAMPAIGN_FOLDER

        found = {f: m for f, m in self.recurrence.problems().items()}
        if not (self.name or "").strip():
            found["name"] = _("give the action a name")
        if self.kind not in set(ActionKind):
            found["kind"] = _("choose what the action does (%(values)s)",
                              values=", ".join(ActionKind))
            return found
        if self.target_group is None and self.target_group_id is None:
            found["target_group"] = _("choose the target group")
        if self.kind == ActionKind.COPY_GROUP:
            if self.campaign is None:
                found["campaign"] = _("choose the campaign to copy the group into")
            elif not self.campaign.active:
                found["campaign"] = _("campaign '%(name)s' is not active", name=self.campaign.name)
        if self.kind == ActionKind.GROUP_EMAIL:
            template = self.template or (self.target_group.email_template
                                         if self.target_group else None)
            if template is None:
                found["template"] = _("choose a template, or give the target group an email "
                                      "template")
            elif template.folder != CAMPAIGN_FOLDER:
                found["template"] = _("template '%(name)s' is not in the Campaign folder",
                                      name=template.name)
        if self.kind == ActionKind.GROUP_ACTIVITIES:
            if not (self.activity_subject or "").strip():
                found["activity_subject"] = _("give the activities a subject")
            if self.activity_type not in set(ActivityType):
                found["activity_type"] = _("choose an activity type (%(values)s)",
                                           values=", ".join(ActivityType))
            if self.activity_assignee not in set(ActivityAssignee):
                found["activity_assignee"] = _("choose whose calendar gets the activities")
            elif self.activity_assignee != ActivityAssignee.OWNER and self.user is None \
                    and self.user_id is None:
                found["user"] = _("choose the user who gets the activities (or the fallback user)")
            if self.activity_day not in set(ActivityDay):
                found["activity_day"] = _("choose the day the activities are planned from")
            elif self.activity_day == ActivityDay.PLUS_DAYS and not (
                    0 <= (self.activity_day_offset or 0) <= 365):
                found["activity_day_offset"] = _("days ahead: 0 … 365")
        if self.catch_up not in set(CatchUp):
            found["catch_up"] = _("choose latest or skip")
        if self.overlap not in set(Overlap):
            found["overlap"] = _("choose skip or queue")
        if not self.max_failures or self.max_failures < 1:
            found["max_failures"] = _("pause after at least 1 failure")
        return found

    @property
    def kind_label(self) -> str:
        """The kind in words."""
        return KIND_LABELS.get(self.kind, self.kind)

    def __str__(self) -> str:
        return self.name


class ScheduledActionRun(Base):
    """One run of one action for one due time: the ledger row inserted before any work."""

    __tablename__ = "scheduled_action_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("scheduled_actions.id", ondelete="CASCADE")
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "schedule", "catch_up" (the latest of several missed) or "run_now".
    trigger: Mapped[str] = mapped_column(String(10), default="schedule")
    status: Mapped[str] = mapped_column(String(10), default=RunStatus.QUEUED)
    job_run_id: Mapped[str | None] = mapped_column(
        ForeignKey("job_runs.id", ondelete="SET NULL")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What it did, in words (e.g. "campaign 'X' created, 1,240 messages queued, …").
    summary: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # The campaign the run created or filled (undo reverts it).
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL")
    )

    action = relationship(
        "ScheduledAction",
        backref=backref("history", cascade="save-update, merge, delete", passive_deletes=True,
                        order_by="ScheduledActionRun.due_at.desc()"),
    )
    job_run = relationship("JobRun")
    campaign = relationship("Campaign")

    __table_args__ = (
        UniqueConstraint("action_id", "due_at"),
        Index("ix_scheduled_action_runs_status", "status"),
    )

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SchedulerTick(Base):
    """When the scheduler last ticked (one row per queue): the dashboard shows it."""

    __tablename__ = "scheduler_ticks"

    queue: Mapped[str] = mapped_column(String(60), primary_key=True)
    ticked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The moment the tick ran as (differs from ticked_at under `--burst --now`).
    ticked_as: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due: Mapped[int] = mapped_column(default=0)
    started: Mapped[int] = mapped_column(default=0)


# --- refusing to delete what an action uses ---------------------------------------------------


class ActionInUse(ValueError):
    """A record scheduled actions use cannot be deleted; the message names the actions."""


# model name → the action columns that point at it
USED_BY = {
    "TargetGroup": ("target_group_id",),
    "Campaign": ("campaign_id",),
    "EmailTemplate": ("template_id",),
    "User": ("owner_id", "user_id"),
}


def actions_using(session: Session, obj) -> list[ScheduledAction]:
    """The scheduled actions that use ``obj`` (a group, campaign, template or user)."""
    columns = USED_BY.get(type(obj).__name__)
    if not columns or obj.id is None:
        return []
    table = ScheduledAction.__table__
    uses = or_(*[table.c[column] == obj.id for column in columns])
    return list(session.scalars(select(ScheduledAction).where(uses)
                                .order_by(ScheduledAction.name)))


def in_use_message(obj, actions: list[ScheduledAction]) -> str:
    """"Target group 'X' is used by scheduled actions 'A' (#3), 'B' (#5): …"."""
    label = {"TargetGroup": _("Target group"), "Campaign": _("Campaign"),
             "EmailTemplate": _("Template"), "User": _("User")}[type(obj).__name__]
    names = ", ".join(f"'{a.name}' (#{a.id})" for a in actions)
    return ngettext("%(what)s '%(name)s' is used by scheduled action %(actions)s: change or "
                    "delete it first.",
                    "%(what)s '%(name)s' is used by scheduled actions %(actions)s: change or "
                    "delete them first.", len(actions), what=label, name=obj, actions=names)


@event.listens_for(Session, "before_flush")
def _refuse_deleting_what_actions_use(session, _context, _instances) -> None:
    """Deleting a group, campaign, template or user an action uses: refused with the actions'
    names (the RESTRICT foreign keys are the database's own guard behind this)."""
    for obj in list(session.deleted):
        if type(obj).__name__ in USED_BY and not inspect(obj).was_deleted:
            with session.no_autoflush:
                actions = [a for a in actions_using(session, obj) if a not in session.deleted]
            if type(obj).__name__ == "TargetGroup" and not obj.automatic_email:
                # The group's own automatic-email actions, switched off: they go with it.
                for own in [a for a in actions if a.origin != Origin.MANUAL]:
                    session.delete(own)
                    actions.remove(own)
            if actions:
                raise ActionInUse(in_use_message(obj, actions))


# --- the target group's automatic email (seed 004, option 1) ----------------------------------

GROUP_EMAIL_FIELDS = ("automatic_email", "email_template_id", "email_template",
                      "automatic_email_refresh_minutes", "name", "owner", "owner_id")
TEMPLATE_TIMING_FIELDS = ("send_timing", "send_weekdays", "send_time")


def timing_problem(template) -> str | None:
    """Why a template cannot drive a group's automatic email (None: it can)."""
    from ..email import CAMPAIGN_FOLDER, SendTiming

    if template is None:
        return _("the group has no email template: choose one (Campaign folder)")
    if template.folder != CAMPAIGN_FOLDER:
        return _("template '%(name)s' is not in the %(folder)s folder", name=template.name,
                 folder=repr(CAMPAIGN_FOLDER))
    if template.send_timing != SendTiming.SCHEDULED or not template.send_time:
        return _("template '%(name)s' sends immediately: an automatic group email needs a "
                 "template with send timing 'scheduled' (weekdays and a time)", name=template.name)
    try:
        if not parse_weekdays(template.send_weekdays):
            return _("template '%(name)s' has no send weekdays", name=template.name)
    except ValueError:
        return _("template '%(name)s' has invalid send weekdays %(days)s", name=template.name,
                 days=repr(template.send_weekdays))
    return None


def _shifted(weekdays: tuple[int, ...], at: time, minutes: int) -> tuple[str, time]:
    """Weekdays and time ``minutes`` earlier (a refresh before 00:15 is the day before)."""
    # 2024-01-01 was a Monday: day d of that week is ISO weekday d.
    moved = [datetime.combine(date(2024, 1, d), at) - timedelta(minutes=minutes)
             for d in weekdays]
    return ",".join(str(d) for d in sorted({m.isoweekday() for m in moved})), moved[0].time()


def sync_group_email(session: Session, group) -> list[ScheduledAction]:
    """Make the group's automatic-email actions match the group and its template: a weekly
    "send group email" action on the template's weekdays and time (and a "refresh N minutes
    before" action), paused with the reason when the switch is off or the template cannot
    drive it. Returns the group's automatic actions (added to the session)."""
    from flask import current_app

    from ..clock import now as clock_now
    from ..settings import Settings

    found = {a.origin: a for a in (session.scalars(select(ScheduledAction).where(
        ScheduledAction.target_group_id == group.id,
        ScheduledAction.origin.in_((Origin.GROUP_EMAIL, Origin.GROUP_REFRESH))))
        if group.id is not None else [])}
    template = group.email_template
    if template is None and group.email_template_id is not None:
        from ..email import EmailTemplate

        template = session.get(EmailTemplate, group.email_template_id)
    if not group.automatic_email:
        for action in found.values():
            action.active, action.next_run_at = False, None
            action.paused_reason = "automatic email campaigns are switched off on the group"
        return list(found.values())
    problem = timing_problem(template)
    minutes = group.automatic_email_refresh_minutes
    # Not Settings.get(): this runs inside a flush, where it must not flush a new row.
    tz = session.scalar(select(Settings.timezone).where(Settings.id == 1)) \
        or current_app.config["KOHDE_TIMEZONE"]
    email = found.get(Origin.GROUP_EMAIL) or ScheduledAction(
        origin=Origin.GROUP_EMAIL, kind=ActionKind.GROUP_EMAIL, target_group=group,
        timezone=tz, frequency=Frequency.WEEKLY)
    wanted = [email]
    email.name = f"{group.name}: automatic email"[:200]
    # The relationship first: on a new group only it is set before the flush.
    owner_id = group.owner.id if group.owner is not None else group.owner_id
    email.owner_id = owner_id
    email.template_id = None  # the group's template, whichever it is at each run
    email.refresh_first = minutes == 0
    if minutes:
        refresh_action = found.get(Origin.GROUP_REFRESH) or ScheduledAction(
            origin=Origin.GROUP_REFRESH, kind=ActionKind.REFRESH_GROUP, target_group=group,
            timezone=tz, frequency=Frequency.WEEKLY)
        refresh_action.name = f"{group.name}: refresh {minutes} min before the email"[:200]
        refresh_action.owner_id = owner_id
        wanted.append(refresh_action)
    elif Origin.GROUP_REFRESH in found:
        stale = found[Origin.GROUP_REFRESH]
        stale.active, stale.next_run_at = False, None
        stale.paused_reason = "no refresh before the automatic email any more"
    for action in wanted:
        session.add(action)
        action.frequency = Frequency.WEEKLY
        if problem:
            action.active, action.next_run_at, action.paused_reason = False, None, problem
            continue
        weekdays, at = template.send_weekdays, template.send_time
        if action.origin == Origin.GROUP_REFRESH:
            weekdays, at = _shifted(parse_weekdays(weekdays), at, minutes)
        action.weekdays, action.time_of_day = ",".join(map(str, parse_weekdays(weekdays))), at
        action.active, action.paused_reason = True, None
        action.compute_next_run(clock_now())
    return wanted


@event.listens_for(Session, "before_flush")
def _keep_group_emails_in_step(session, _context, _instances) -> None:
    """Saving a group (its switch, template, refresh minutes) or a template's timing
    creates, updates or pauses the group's automatic-email actions in the same flush."""
    from ..email import EmailTemplate
    from ..groups import TargetGroup

    groups = []
    for obj in list(session.new) + list(session.dirty):
        state = inspect(obj)
        if isinstance(obj, TargetGroup):
            if obj in session.new and not obj.automatic_email:
                continue
            if obj in session.new or any(state.attrs[f].history.has_changes()
                                         for f in GROUP_EMAIL_FIELDS):
                groups.append(obj)
        elif isinstance(obj, EmailTemplate) and obj not in session.new and any(
                state.attrs[f].history.has_changes() for f in TEMPLATE_TIMING_FIELDS):
            with session.no_autoflush:
                groups.extend(session.scalars(select(TargetGroup).where(
                    TargetGroup.email_template_id == obj.id,
                    TargetGroup.automatic_email.is_(True))))
    with session.no_autoflush:
        for group in dict.fromkeys(groups):
            sync_group_email(session, group)
