"""Calendar activities (calls, meetings, tasks, emails) and their contacts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..base import Base, Timestamped, UTCDateTime, numbered_from_id


class ActivityType(StrEnum):
    """What kind of calendar entry an activity is."""

    CALL = "call"
    MEETING = "meeting"
    TASK = "task"
    EMAIL = "email"


class ActivityStatus(StrEnum):
    """Where an activity stands."""

    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


class Activity(Timestamped, Base):
    """A calendar entry or task of a user, linked to contacts, company and campaign."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    type: Mapped[str] = mapped_column(String(10), default=ActivityType.CALL)
    subject: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default=ActivityStatus.PLANNED)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    # The job (mass-create, wizard run) that created it: "apply to all" edits use it.
    job_id: Mapped[str | None] = mapped_column(String(80))

    owner = relationship("User")
    company = relationship("Company")
    campaign = relationship("Campaign")
    contacts = relationship(
        "Contact",
        secondary="activity_contacts",
        backref=backref("activities", passive_deletes=True),
        passive_deletes=True,
    )

    __table_args__ = (
        Index("ix_activities_owner_id_start_at", "owner_id", "start_at"),
        Index("ix_activities_campaign_id", "campaign_id"),
        Index("ix_activities_job_id", "job_id"),
    )

    def __str__(self) -> str:
        return f"{self.number} {self.subject}" if self.number else self.subject


# Every activity gets a number, "A-<id>" like the mass-created ones, whatever path made
# it (admin form, calendar, code).
numbered_from_id(Activity, lambda activity: f"A-{activity.id}")


class ActivityContact(Base):
    """Links an activity to one of its contacts."""

    __tablename__ = "activity_contacts"

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_activity_contacts_contact_id", "contact_id"),)


class ActivitySlot(Base):
    """A calendar slot a mass-creation job may use (working days × slot times), per job."""

    __tablename__ = "activity_slots"

    job_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ActivityPlan(Base):
    """Which contact gets which user's slot, planned set-based before anything is created
    (a dry run reads the plan and throws it away)."""

    __tablename__ = "activity_plans"

    job_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    contact_id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int]
    company_id: Mapped[int | None]
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
