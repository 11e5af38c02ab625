"""Lists of activities the pages show: a user's calendar days, what a wizard run made, a
user's calendar feed, and the contacts named on each.

An activity shared by thousands of contacts costs no more than one with a single contact:
per activity only the lowest linked contact and the number of links are read (through
activity_contacts' primary key), or, for the feed, the first few by a window function.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..base import db
from ..contacts import Contact
from ..users import User
from . import Activity, ActivityContact

links = ActivityContact.__table__


def _first_contact_and_links():
    """Per activity (correlated): the lowest linked contact's id and the number of links."""
    first = (select(func.min(links.c.contact_id))
             .where(links.c.activity_id == Activity.id).scalar_subquery())
    linked = (select(func.count()).select_from(links)
              .where(links.c.activity_id == Activity.id).scalar_subquery())
    return first, linked


def calendar_rows(owner_id: int, start: datetime, end: datetime) -> list:
    """The owner's activities starting in [start, end), with their first contact's name and
    email and the number of linked contacts: one range scan on (owner_id, start_at)."""
    first, linked = _first_contact_and_links()
    return db.session.execute(
        select(Activity.id, Activity.number, Activity.type, Activity.subject, Activity.status,
               Activity.start_at, Activity.end_at, Contact.first_name, Contact.last_name,
               Contact.email, linked.label("linked"))
        .outerjoin(Contact, Contact.id == first)
        .where(Activity.owner_id == owner_id, Activity.start_at >= start, Activity.start_at < end)
        .order_by(Activity.start_at, Activity.id)
    ).all()


def made_by_job(job_id: str) -> list:
    """The activities one job made (number, type, subject, status, start, user, first contact,
    links), by user and start."""
    first, linked = _first_contact_and_links()
    return db.session.execute(
        select(Activity.number, Activity.type, Activity.subject, Activity.status,
               Activity.start_at, User.name.label("user_name"), User.email.label("user_email"),
               Contact.first_name, Contact.last_name, linked.label("linked"))
        .outerjoin(User, User.id == Activity.owner_id)
        .outerjoin(Contact, Contact.id == first)
        .where(Activity.job_id == job_id)
        .order_by(User.name, Activity.start_at, Activity.id)
    ).all()


def owned_between(owner_id: int, start: datetime, end: datetime) -> list[Activity]:
    """The owner's activities starting in [start, end), with their campaigns (the feed)."""
    return list(db.session.scalars(
        select(Activity).options(joinedload(Activity.campaign))
        .where(Activity.owner_id == owner_id, Activity.start_at >= start,
               Activity.start_at < end)
        .order_by(Activity.start_at, Activity.id)
    ))


def contacts_named(activity_ids: list[int], limit: int) -> list:
    """(activity_id, first_name, last_name, email, total) of the first ``limit`` contacts
    linked to each activity (by id), with how many it has in all."""
    if not activity_ids:
        return []
    ranked = (
        select(links.c.activity_id, Contact.first_name, Contact.last_name, Contact.email,
               func.row_number().over(partition_by=links.c.activity_id,
                                      order_by=links.c.contact_id).label("n"),
               func.count().over(partition_by=links.c.activity_id).label("total"))
        .join(Contact, Contact.id == links.c.contact_id)
        .where(links.c.activity_id.in_(activity_ids))
        .subquery()
    )
    return db.session.execute(select(ranked).where(ranked.c.n <= limit)).all()


def made_count(job_id: str) -> int:
    """How many activities one job made."""
    return db.session.scalar(select(func.count()).where(Activity.job_id == job_id)) or 0
