"""Target groups (named conditions, materialised members) and saved filters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..base import Base, Timestamped, UTCDateTime, utcnow


class SampleMode(StrEnum):
    """How a group keeps only part of its matches."""

    NONE = "none"
    SYSTEMATIC = "systematic"  # every k-th match by id
    RANDOM = "random"  # seeded, so the same matches give the same sample


class TargetGroup(Timestamped, Base):
    """Named conditions over contacts; members are stored on refresh."""

    __tablename__ = "target_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[dict] = mapped_column(JSON, default=lambda: {"all": []})
    sample_mode: Mapped[str] = mapped_column(String(12), default=SampleMode.NONE)
    sample_size: Mapped[int | None]
    sample_percent: Mapped[float | None]
    sample_seed: Mapped[int | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    email_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="SET NULL")
    )
    # Legacy "automatic email campaigns": a new campaign at each template due time.
    automatic_email: Mapped[bool] = mapped_column(default=False)
    # Refresh the group this many minutes before each automatic send (None: at the send).
    automatic_email_refresh_minutes: Mapped[int | None]
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    member_count: Mapped[int] = mapped_column(default=0)

    owner = relationship("User")
    email_template = relationship("EmailTemplate")

    def __str__(self) -> str:
        return self.name


class TargetGroupMember(Base):
    """One contact in one target group, as of the group's last refresh."""

    __tablename__ = "target_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("target_groups.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Deleting a group deletes its members: the ORM deletes loaded ones, ON DELETE
    # CASCADE the rest (by default the ORM blanks their key and the delete fails).
    group = relationship(
        "TargetGroup",
        backref=backref("members", cascade="save-update, merge, delete", passive_deletes=True),
    )
    contact = relationship("Contact")

    __table_args__ = (Index("ix_target_group_members_contact_id", "contact_id"),)


class TargetGroupRefresh(Base):
    """One refresh of a group: when, how many members it left, how many came and went (the
    group page's "members over refreshes" chart)."""

    __tablename__ = "target_group_refreshes"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("target_groups.id", ondelete="CASCADE"))
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    member_count: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        Index("ix_target_group_refreshes_group_id_refreshed_at", "group_id", "refreshed_at"),
    )


class FilterModule(StrEnum):
    """What a saved filter selects: contacts, companies (their contacts) or leads."""

    CONTACT = "contact"
    COMPANY = "company"
    LEAD = "lead"


class SavedFilter(Timestamped, Base):
    """Named conditions used ad hoc (list views, loads, automations); not stored."""

    __tablename__ = "saved_filters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    module: Mapped[str] = mapped_column(String(10), default=FilterModule.CONTACT)
    criteria: Mapped[dict] = mapped_column(JSON, default=lambda: {"all": []})
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shared: Mapped[bool] = mapped_column(default=True)

    owner = relationship("User")

    def __str__(self) -> str:
        return f"{self.name} ({self.module})"
