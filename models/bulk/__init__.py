"""Bulk actions on a list's selection: what a job changed, kept so it can be undone.

The statements live beside it: ``changes.py`` (set a column, shift times, delete, with
audit entries), ``contacts.py`` / ``activities.py`` (what the areas add: campaign
membership, activities, export).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, UTCDateTime


class BulkUndo(Base):
    """One row a bulk job changed, with the value(s) it had before: undo puts them back.

    Written set-based before the change (``INSERT … SELECT`` of the selection's rows whose
    value differs), so the change itself is driven by these rows and records exactly what
    it touched. ``old_int`` holds ids, numbers and booleans (0/1); ``old_text`` text;
    ``old_start`` / ``old_end`` an activity's times, and ``new_start`` / ``new_end`` the
    times the job gave it: undo puts back only what still holds them, so an activity
    someone moved since keeps its new place.
    """

    __tablename__ = "bulk_undo"

    job_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    row_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    old_int: Mapped[int | None] = mapped_column(BigInteger)
    old_text: Mapped[str | None] = mapped_column(String(255))
    old_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    old_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
