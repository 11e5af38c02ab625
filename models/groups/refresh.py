"""Refreshing a target group: its stored members become what its conditions select now.

Set-based statements in one transaction: count, delete the members that no
longer match, insert the new matches (those that stay keep their added_at).
Refreshing twice in a row changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, exists, func, insert, literal, select, update

from ..base import db, utcnow
from . import TargetGroup, TargetGroupMember, TargetGroupRefresh
from .queries import group_selection

members = TargetGroupMember.__table__


def _member_count(group_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(members).where(members.c.group_id == group_id)
    )


def refresh(group: TargetGroup, progress: Callable[[int, int], None] | None = None) -> dict:
    """Replace the group's members with its current selection, commit, return the counts.

    ``progress(done, total)`` (a job's) commits instead of a plain commit.
    """
    now = utcnow()
    selection = group_selection(group, now).subquery("selection")
    before = _member_count(group.id)
    new_rows = select(literal(group.id), selection.c.id, literal(now, members.c.added_at.type))
    if before:
        removed = db.session.execute(
            delete(members).where(
                members.c.group_id == group.id,
                ~exists().where(selection.c.id == members.c.contact_id),
            )
        ).rowcount
        already = exists().where(
            members.c.group_id == group.id, members.c.contact_id == selection.c.id
        )
        new_rows = new_rows.where(~already)
    else:
        # An empty group (first fill) has nothing to remove and no member to skip: without
        # the anti-join the insert is the plain INSERT … SELECT (on SQLite probing the index
        # being filled made the first fill ~1.4× the floor; see bench/groups.py).
        removed = 0
    # preserve_rowcount: otherwise SQLAlchemy closes psycopg's cursor first and the
    # INSERT … SELECT reports -1 on PostgreSQL (SQLite's is right either way).
    added = db.session.execute(
        insert(members)
        .from_select(["group_id", "contact_id", "added_at"], new_rows)
        .execution_options(preserve_rowcount=True)
    ).rowcount
    # Arithmetic instead of a second count of the members (a tenth of a no-change
    # refresh at 600,000 members); a driver that cannot tell gets the count.
    count = before - removed + added if added >= 0 else _member_count(group.id)
    db.session.execute(
        update(TargetGroup)
        .where(TargetGroup.id == group.id)
        .values(refreshed_at=now, member_count=count)
    )
    # A row per refresh, in the same transaction: the group page charts the count over time.
    db.session.execute(insert(TargetGroupRefresh).values(
        group_id=group.id, refreshed_at=now, member_count=count,
        added=count - (before - removed), removed=removed))
    # One transaction (so no progress in between: SQLite would block a second writer):
    # a failed refresh leaves the old members in place.
    if progress:
        progress(count, count)  # commits
    else:
        db.session.commit()
    return {"added": count - (before - removed), "removed": removed, "members": count}
