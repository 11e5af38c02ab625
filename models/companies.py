"""Companies (organisations) that contacts belong to."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Timestamped


class Company(Timestamped, Base):
    """An organisation; contacts point at it, campaigns dedupe by it."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    business_id: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(doc="Number of employees")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    owner = relationship("User")

    __table_args__ = (
        # CSV import matches companies by name, case-insensitively.
        Index("ix_companies_lower_name", func.lower(name)),
        Index("ix_companies_owner_id", "owner_id"),
    )

    def __str__(self) -> str:
        return self.name
