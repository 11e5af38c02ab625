"""Companies (organisations) that contacts belong to."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Timestamped
from .text import name_key


def _name_key_default(context) -> str | None:
    # Core inserts (the import's, the seed's) fill the key from the row's name like the ORM.
    return name_key(context.get_current_parameters().get("name"))


class Company(Timestamped, Base):
    """An organisation; contacts point at it, campaigns dedupe by it."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # models.text.name_key(name): what the CSV import matches companies on (any script).
    name_key: Mapped[str | None] = mapped_column(String(200), default=_name_key_default)
    business_id: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(doc="Number of employees")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    owner = relationship("User")

    __table_args__ = (
        # CSV import matches companies by name_key.
        Index("ix_companies_name_key", "name_key"),
        Index("ix_companies_owner_id", "owner_id"),
    )

    def __str__(self) -> str:
        return self.name


@event.listens_for(Company.name, "set")
def _keep_name_key(company: Company, value, _old, _initiator) -> None:
    company.name_key = name_key(value)
