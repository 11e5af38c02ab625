"""Who gets each selected contact's activity, as one SELECT of (contact_id, owner_id, company_id).

The selection is any ``SELECT`` of contact ids in a column named ``id`` (a target
group's members, a criteria match, a wizard's selection less its exclusions). The
assignment is one of three, each a single statement the planner builds on:

- a fixed user gets them all;
- each contact's owner, or a fallback user for contacts without one;
- evenly among chosen users: the contacts numbered in id order, the n-th goes to
  chosen user number n mod k, so the counts differ by at most one.

A NULL owner_id means nobody can take the contact: it is reported, never created.
"""

from __future__ import annotations

from sqlalchemy import func, literal, select
from sqlalchemy.sql import Select

from models import Contact, User
from models.groups.queries import group_member_ids

__all__ = ["assignees", "evenly", "group_member_ids", "to_owner", "to_user"]
contacts, users = Contact.__table__, User.__table__

def _row(owner):
    return (contacts.c.id.label("contact_id"), owner.label("owner_id"),
            contacts.c.company_id.label("company_id"))


def to_user(ids: Select, user_id: int) -> Select:
    """Every selected contact for one user."""
    selected = ids.subquery("selected")
    return select(*_row(literal(user_id))).select_from(
        selected.join(contacts, contacts.c.id == selected.c.id)
    )


def to_owner(ids: Select, fallback_id: int | None = None) -> Select:
    """Each selected contact for its owner; the ownerless for ``fallback_id`` (or nobody)."""
    selected = ids.subquery("selected")
    owner = func.coalesce(contacts.c.owner_id, literal(fallback_id))
    return select(*_row(owner)).select_from(selected.join(contacts, contacts.c.id == selected.c.id))


def evenly(ids: Select, user_ids: list[int]) -> Select:
    """The selected contacts dealt out in turn among ``user_ids`` (those that exist).

    Contact n (by id, from 0) joins chosen user n mod k, k counted by the same
    statement, so an id that is not a user cannot leave a gap in the rotation.
    """
    selected = ids.subquery("selected")
    numbered = select(
        selected.c.id, (func.row_number().over(order_by=selected.c.id) - 1).label("n")
    ).subquery("numbered")
    chosen = select(
        users.c.id.label("user_id"),
        (func.row_number().over(order_by=users.c.id) - 1).label("turn"),
    ).where(users.c.id.in_(user_ids)).subquery("chosen")
    k = func.nullif(select(func.count()).select_from(chosen).scalar_subquery(), 0)
    # An outer join: with no user left at all, the contacts stay, unassigned and reported.
    return select(*_row(chosen.c.user_id)).select_from(
        numbered.join(contacts, contacts.c.id == numbered.c.id)
        .outerjoin(chosen, chosen.c.turn == numbered.c.n % k)
    )


def assignees(ids: Select, *, user_id=None, fallback_id=None, user_ids=None) -> Select:
    """The assignment the arguments name: ``user_ids`` (evenly), ``user_id`` (all to one),
    else each contact's owner with ``fallback_id`` for the ownerless."""
    if user_ids:
        return evenly(ids, list(user_ids))
    if user_id:
        return to_user(ids, user_id)
    return to_owner(ids, fallback_id)
