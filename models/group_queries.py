"""Queries that belong to target groups and saved filters: selection, counts, explain."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.sql import Select

from .base import db, utcnow
from .contact import Contact
from .criteria import check, matching_ids, sample
from .criteria.explain import explain
from .settings import Settings
from .target_group import TargetGroup, TargetGroupMember


def installation_tz() -> ZoneInfo:
    """The time zone people schedule and read dates in (Admin → Settings)."""
    return Settings.current().tz


def group_selection(group: TargetGroup, now: datetime | None = None) -> Select:
    """``SELECT id`` of the contacts the group should hold now: matches, then its sample."""
    check(group.criteria, group.id)
    matches = matching_ids(group.criteria, now or utcnow(), installation_tz())
    return sample(
        matches, group.sample_mode, group.sample_size, group.sample_percent, group.sample_seed
    )


def group_member_ids(group_id: int) -> Select:
    """``SELECT id`` of a target group's stored members (as of its last refresh)."""
    return select(TargetGroupMember.contact_id.label("id")).where(
        TargetGroupMember.group_id == group_id
    )


def count_of(query: Select) -> int:
    """How many rows a ``SELECT id`` returns, counted by the database."""
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def count_matches(tree: dict) -> int:
    """How many contacts a tree matches right now (no sample, nothing stored)."""
    return count_of(matching_ids(tree, utcnow(), installation_tz()))


def preview(query: Select, limit: int = 20) -> list[Contact]:
    """The first contacts (by id) of a ``SELECT id``, for a preview list."""
    ids = query.subquery()
    return list(
        db.session.scalars(
            select(Contact).where(Contact.id.in_(select(ids.c.id))).order_by(Contact.id).limit(limit)
        )
    )


def explain_membership(group: TargetGroup, contact: Contact) -> dict:
    """Which conditions hold for the contact, whether the sample kept it, and whether it is
    a stored member now."""
    check(group.criteria, group.id)  # before explaining: a stored tree may be out of date
    now = utcnow()
    tz = installation_tz()
    conditions = explain(group.criteria, contact.id, now, tz)
    selection = group_selection(group, now).subquery()
    in_selection = db.session.scalar(
        select(func.count()).select_from(selection).where(selection.c.id == contact.id)
    )
    is_member = db.session.get(TargetGroupMember, (group.id, contact.id)) is not None
    sampled = group.sample_mode not in (None, "none")
    return {
        "group": {"id": group.id, "name": group.name},
        "contact": {"id": contact.id, "name": str(contact), "email": contact.email},
        "matches_conditions": conditions["holds"],
        "sampled": sampled,
        "excluded_by_sample": sampled and conditions["holds"] and not in_selection,
        "would_be_member": bool(in_selection),
        "is_member": is_member,
        "refreshed_at": group.refreshed_at.isoformat() if group.refreshed_at else None,
        "conditions": conditions,
    }
