"""Campaigns and their members."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, event, inspect, or_, select
from sqlalchemy.orm import Mapped, Session, backref, mapped_column, relationship

from ..base import Base, Timestamped, UTCDateTime, db, numbered_from_id, utcnow


class Campaign(Timestamped, Base):
    """A project with members; only active campaigns can be used in actions."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None] = mapped_column(doc="Estimated end date")
    email_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="SET NULL")
    )
    # When the template was attached: members who joined before get no email.
    email_template_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text, default="")

    email_template = relationship("EmailTemplate")
    owner = relationship("User")

    def __str__(self) -> str:
        return f"{self.number} {self.name}" if self.number else self.name


# The shape of generated numbers (year-id): typed numbers may not take it, or a later
# campaign's generated number could collide with one typed before.
GENERATED_NUMBER = re.compile(r"\d{4}-\d{5,}")


# A campaign saved without a number gets "<year>-<id>".
numbered_from_id(Campaign, lambda campaign: f"{utcnow().year}-{campaign.id:05d}")


@event.listens_for(Session, "before_flush")
def _note_template_change(session, _context, _instances) -> None:
    """Remember when a campaign got its email template: only members who join from then on
    get the campaign's email (the legacy seed's rule)."""
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, Campaign):
            continue
        state = inspect(obj)
        changed = (state.attrs.email_template.history.has_changes()
                   or state.attrs.email_template_id.history.has_changes())
        if changed and (obj.email_template is not None or obj.email_template_id is not None):
            obj.email_template_set_at = utcnow()


class MemberSource(StrEnum):
    """How a member came into a campaign."""

    GROUP = "group"
    CAMPAIGN = "campaign"
    FILTER = "filter"
    MANUAL = "manual"
    WORKFLOW = "workflow"
    IMPORT = "import"
    AUTOMATIC = "automatic"


class CampaignMember(Base):
    """One contact (or lead) in one campaign, with who added it, when and how."""

    __tablename__ = "campaign_members"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(12), default=MemberSource.MANUAL)
    # The group, campaign or filter id the member came from, if any.
    source_ref: Mapped[int | None]
    # The job that added the member: undo removes exactly what a job added. Not indexed:
    # whoever asks by job also knows the campaign (undo, the join email), and the
    # primary key's campaign prefix finds its rows; an index of job ids cost a fifth of
    # every bulk copy on PostgreSQL.
    job_id: Mapped[str | None] = mapped_column(String(80))

    # Deleting a campaign deletes its members: the ORM deletes loaded ones, ON DELETE
    # CASCADE the rest (by default the ORM blanks their key and the delete fails).
    campaign = relationship(
        "Campaign",
        backref=backref("members", cascade="save-update, merge, delete", passive_deletes=True),
    )
    contact = relationship("Contact")
    added_by = relationship("User")

    __table_args__ = (
        Index("ix_campaign_members_contact_id", "contact_id"),
    )


class CampaignMemberRemoval(Base):
    """A member a job removed, as it was: undo puts exactly these back."""

    __tablename__ = "campaign_member_removals"

    job_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(12))
    source_ref: Mapped[int | None]
    # The job that had added the member, so undo restores that too.
    added_by_job_id: Mapped[str | None] = mapped_column(String(80))


def active_campaigns(exclude_id: int | None = None) -> list:
    """(id, number, name) of every active campaign (only those can be used in actions),
    by name; ``exclude_id`` leaves one out (a campaign is no source for itself)."""
    query = select(Campaign.id, Campaign.number, Campaign.name).where(Campaign.active.is_(True))
    if exclude_id is not None:
        query = query.where(Campaign.id != exclude_id)
    return db.session.execute(query.order_by(Campaign.name)).all()


def unused_name(base: str) -> str:
    """``base``, or ``base (2)``, ``base (3)`` … the first that no campaign has yet."""
    taken = set(db.session.scalars(select(Campaign.name).where(
        or_(Campaign.name == base, Campaign.name.like(base + " (%)")))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name
