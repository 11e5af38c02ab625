"""The declarative base, the Flask-SQLAlchemy handle and small column helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event, func, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

# Named constraints: SQLite batch migrations cannot alter unnamed ones.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the database stores UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC that always comes back timezone-aware.

    SQLite has no time zones and drops them; PostgreSQL's timestamptz keeps
    them. Normalising here means the rest of the code compares aware datetimes
    on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them without an offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite (e.g. CURRENT_TIMESTAMP)
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Timestamped:
    """created_at / updated_at columns kept by the database and the ORM."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )


def numbered_from_id(model, make_number) -> None:
    """Give every ``model`` row saved without a number ``make_number(row)``, made from its
    id once the INSERT has given it one: unique by construction, even when two rows are
    saved at the same moment. An empty number (a blank form field) counts as none."""
    table = model.__table__

    @event.listens_for(model, "before_insert")
    def _blank_is_none(_mapper, _connection, target) -> None:
        if not target.number:
            target.number = None  # "" twice would clash on the unique column

    @event.listens_for(model, "after_insert")
    def _number(_mapper, connection, target) -> None:
        if target.number is None:
            number = make_number(target)
            connection.execute(update(table).where(table.c.id == target.id).values(number=number))
            set_committed_value(target, "number", number)
