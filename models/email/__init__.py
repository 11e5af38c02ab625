"""Email templates and the outbox every message goes through."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base, Timestamped, UTCDateTime, utcnow

CAMPAIGN_FOLDER = "Campaign"  # only templates in this folder attach to campaigns and groups
# The folders a template form offers (stored as these codes, shown translated); a folder
# stored otherwise (the CLI's --folder, older rows) is offered beside them.
TEMPLATE_FOLDERS = (CAMPAIGN_FOLDER, "Automation", "Service", "Archive")


class SenderMode(StrEnum):
    """Whose name and address a message is sent from."""

    FIXED = "fixed"
    OWNER = "owner"  # the contact's owner
    USER = "user"  # a chosen CRM user


class SendTiming(StrEnum):
    """When a template's messages go out."""

    IMMEDIATELY = "immediately"
    SCHEDULED = "scheduled"  # on chosen weekdays at a time of day, every week


class EmailTemplate(Timestamped, Base):
    """Sender, subject and bodies with placeholders, and when to send."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    folder: Mapped[str] = mapped_column(String(60), default=CAMPAIGN_FOLDER)
    sender_mode: Mapped[str] = mapped_column(String(10), default=SenderMode.FIXED)
    sender_name: Mapped[str] = mapped_column(String(120), default="")
    sender_email: Mapped[str | None] = mapped_column(String(254))
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(255))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    marketing: Mapped[bool] = mapped_column(default=True)
    send_timing: Mapped[str] = mapped_column(String(12), default=SendTiming.IMMEDIATELY)
    # ISO weekdays 1 (Monday) … 7 (Sunday), comma separated, e.g. "1,3,5".
    send_weekdays: Mapped[str] = mapped_column(String(20), default="")
    send_time: Mapped[time | None]
    registration_url: Mapped[str | None] = mapped_column(String(500))
    survey_url: Mapped[str | None] = mapped_column(String(500))

    sender_user = relationship("User")
    # The same message in other languages, chosen by the contact's language (message.py).
    variants = relationship("EmailTemplateVariant", back_populates="template",
                            cascade="all, delete-orphan", passive_deletes=True,
                            order_by="EmailTemplateVariant.language")

    def __str__(self) -> str:
        return self.name


class EmailTemplateVariant(Base):
    """A template's subject and bodies in one language; contacts whose language has no
    variant get the template's main text."""

    __tablename__ = "email_template_variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("email_templates.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")

    template = relationship("EmailTemplate", back_populates="variants")

    __table_args__ = (UniqueConstraint("template_id", "language"),)

    def __str__(self) -> str:
        return self.language


class OutboxState(StrEnum):
    """The life of one message: queued → sending → sent / deferred / failed / suppressed."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class OutboxMessage(Base):
    """One message to one contact; unique per (template, contact, send key)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("email_templates.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("target_groups.id", ondelete="SET NULL")
    )
    # What makes this send distinct, e.g. "campaign:12" or "group:3:2026-11-24".
    send_key: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(40), default="campaign_join")
    state: Mapped[str] = mapped_column(String(12), default=OutboxState.QUEUED)
    suppressed_reason: Mapped[str | None] = mapped_column(String(40))
    to_email: Mapped[str | None] = mapped_column(String(254))
    # The template variant's language the message went out in (NULL: the main text).
    language: Mapped[str | None] = mapped_column(String(5))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The job run that claimed it: when that run is known dead, the claim is released at once.
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whose name and address it goes from when not the template's choice (an automation
    # step's "sent as the owner / a chosen user"): a SenderMode, NULL for the template's.
    sender_mode: Mapped[str | None] = mapped_column(String(10))
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    template = relationship("EmailTemplate")
    contact = relationship("Contact")
    sender_user = relationship("User")
    campaign = relationship("Campaign")
    group = relationship("TargetGroup")

    __table_args__ = (
        UniqueConstraint("template_id", "contact_id", "send_key"),
        Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_messages_contact_id", "contact_id"),
        Index("ix_outbox_messages_campaign_id", "campaign_id"),
    )


class SuppressedAddress(Base):
    """An address no email goes to any more (a hard bounce: the server said 5xx)."""

    __tablename__ = "suppressed_addresses"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40), default="bounced")
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailboxMessage(Base):
    """A message the development mail sink received (shown on the Mailbox screen)."""

    __tablename__ = "mailbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(254), default="")
    recipients: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    message_id: Mapped[str | None] = mapped_column(String(255))
    raw: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_mailbox_messages_received_at", "received_at"),)
