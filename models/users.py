"""CRM users: who logs in, with which role, and who owns contacts."""

from __future__ import annotations

import secrets
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from .base import Base, Timestamped, db


class Role(StrEnum):
    """Admins set the installation up; users run campaigns and bulk actions."""

    ADMIN = "admin"
    USER = "user"


class User(UserMixin, Timestamped, Base):
    """A person who logs in to the back office and may own contacts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(10), default=Role.USER)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # The back office's language ("en", "fi", "sv", "hu"); empty: follow the browser.
    language: Mapped[str | None] = mapped_column(String(5))
    # Secret part of the user's private calendar feed URL.
    calendar_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(32)
    )

    @property
    def is_admin(self) -> bool:
        """True when the user may open the admin-only screens."""
        return self.role == Role.ADMIN

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users cannot log in
        return self.active

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password, never the password itself."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __str__(self) -> str:
        return self.name or self.email


def active_users() -> list:
    """(id, name, email) of every active user, by name: the choices of "who" pickers."""
    return db.session.execute(
        select(User.id, User.name, User.email).where(User.active.is_(True))
        .order_by(func.lower(User.name), User.email)
    ).all()


def user_by_email(email: str) -> User | None:
    """The user with this email address, in any case (None: nobody)."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def user_by_calendar_token(token: str) -> User | None:
    """The active user whose private calendar feed this token opens (None: nobody)."""
    return db.session.scalar(
        select(User).where(User.calendar_token == token, User.active.is_(True)))
