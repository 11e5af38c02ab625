"""Installation-wide settings: one row, typed columns."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Timestamped, db


class Settings(Timestamped, Base):
    """The single row of installation settings (id is always 1)."""

    __tablename__ = "settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    activity_duration_minutes: Mapped[int] = mapped_column(default=15)
    activity_earliest_start: Mapped[time] = mapped_column(default=time(8, 0))
    activity_latest_end: Mapped[time] = mapped_column(default=time(16, 0))
    # ISO weekdays 1 (Monday) … 7 (Sunday) that count as working days.
    working_days: Mapped[str] = mapped_column(String(20), default="1,2,3,4,5")
    email_waiting_period_days: Mapped[int] = mapped_column(default=30)
    email_messages_per_second: Mapped[int] = mapped_column(default=50)
    automatic_email_campaigns: Mapped[bool] = mapped_column(default=True)

    @classmethod
    def get(cls) -> Settings:
        """The settings row, created with defaults on first use."""
        row = db.session.get(cls, 1)
        if row is None:
            row = cls(id=1, timezone=current_app.config["KOHDE_TIMEZONE"])
            db.session.add(row)
            db.session.flush()
        return row

    @property
    def zone(self) -> ZoneInfo:
        """The installation's time zone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    def __str__(self) -> str:
        return "Settings"


def installation_tz() -> ZoneInfo:
    """The time zone people schedule and read dates in (Admin → Settings)."""
    return Settings.get().zone
