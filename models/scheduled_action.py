"""Admin-defined recurring jobs."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Timestamped, UTCDateTime


class ActionKind(StrEnum):
    """What a scheduled action does when it is due."""

    REFRESH_GROUP = "refresh_group"
    GROUP_ACTIVITIES = "group_activities"
    GROUP_EMAIL = "group_email"


class Frequency(StrEnum):
    """How often a scheduled action is due."""

    ONCE = "once"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


class ScheduledAction(Timestamped, Base):
    """A recurring job: what, on which target, how often, from when."""

    __tablename__ = "scheduled_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    target_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("target_groups.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    frequency: Mapped[str] = mapped_column(String(10), default=Frequency.DAILY)
    cron: Mapped[str | None] = mapped_column(String(100))
    time_of_day: Mapped[time | None]
    # ISO weekdays 1 (Monday) … 7 (Sunday) for weekly actions, e.g. "1,3".
    weekdays: Mapped[str] = mapped_column(String(20), default="")
    day_of_month: Mapped[int | None]
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    active: Mapped[bool] = mapped_column(default=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    target_group = relationship("TargetGroup")
    campaign = relationship("Campaign")
    created_by = relationship("User")

    __table_args__ = (Index("ix_scheduled_actions_active_next_run_at", "active", "next_run_at"),)

    def __str__(self) -> str:
        return self.name
