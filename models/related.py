"""What a record's page shows about the records around it: one function per related list.

Every list is bounded (``LIMIT`` one more than asked, so the page knows whether a
"show all" link is needed) and ordered so the newest or the next thing comes first.
The pages page through a long list with ``offset``; nothing here loads a whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from .activities import Activity, ActivityContact, ActivityStatus
from .audit import AuditEntry
from .base import db
from .campaigns import Campaign, CampaignMember
from .contacts import Contact
from .email import EmailTemplate, OutboxMessage
from .groups import TargetGroup, TargetGroupMember
from .users import User


@dataclass
class Page:
    """One page of a related list: its rows, where it starts and whether more follow."""

    rows: list
    offset: int
    limit: int
    more: bool

    @property
    def shown_to(self) -> int:
        """The number of the last row shown (for "21–40")."""
        return self.offset + len(self.rows)


def bounded(query: Select, limit: int, offset: int = 0, *, scalars: bool = False) -> Page:
    """Run ``query`` for one page: ``limit`` rows from ``offset``, asking for one more to
    know whether another page follows."""
    limit, offset = max(1, limit), max(0, offset)
    result = db.session.execute(query.limit(limit + 1).offset(offset))
    rows = list(result.scalars() if scalars else result.all())
    return Page(rows[:limit], offset, limit, len(rows) > limit)


def contact_campaigns(contact_id: int, limit: int = 10, offset: int = 0) -> Page:
    """The contact's campaigns, newest membership first: (member, campaign, added_by, the
    name of the group or campaign it came from)."""
    added_by = aliased(User)
    from_group, from_campaign = aliased(TargetGroup), aliased(Campaign)
    query = (
        select(CampaignMember, Campaign, added_by,
               func.coalesce(from_group.name, from_campaign.name).label("source_name"))
        .join(Campaign, Campaign.id == CampaignMember.campaign_id)
        .outerjoin(added_by, added_by.id == CampaignMember.added_by_id)
        .outerjoin(from_group, and_(CampaignMember.source == "group",
                                    from_group.id == CampaignMember.source_ref))
        .outerjoin(from_campaign, and_(CampaignMember.source == "campaign",
                                       from_campaign.id == CampaignMember.source_ref))
        .where(CampaignMember.contact_id == contact_id)
        .order_by(CampaignMember.added_at.desc(), Campaign.id)
    )
    return bounded(query, limit, offset)


def contact_groups(contact_id: int, limit: int = 10, offset: int = 0) -> Page:
    """The target groups the contact is a stored member of (as of each group's last
    refresh), by name: (member, group)."""
    query = (
        select(TargetGroupMember, TargetGroup)
        .join(TargetGroup, TargetGroup.id == TargetGroupMember.group_id)
        .where(TargetGroupMember.contact_id == contact_id)
        .order_by(TargetGroup.name, TargetGroup.id)
    )
    return bounded(query, limit, offset)


def _linked_to(contact_id: int):
    return exists().where(ActivityContact.activity_id == Activity.id,
                          ActivityContact.contact_id == contact_id)


def planned_activities(contact_id: int, now: datetime, limit: int = 10, offset: int = 0) -> Page:
    """The contact's planned activities from now on, soonest first."""
    query = (
        select(Activity)
        .where(_linked_to(contact_id), Activity.status == ActivityStatus.PLANNED,
               Activity.start_at >= now)
        .order_by(Activity.start_at, Activity.id)
    )
    return bounded(query, limit, offset, scalars=True)


def past_activities(contact_id: int, now: datetime, limit: int = 10, offset: int = 0) -> Page:
    """The contact's other activities (begun, done or cancelled), latest first."""
    query = (
        select(Activity)
        .where(_linked_to(contact_id),
               or_(Activity.status != ActivityStatus.PLANNED, Activity.start_at < now))
        .order_by(Activity.start_at.desc(), Activity.id.desc())
    )
    return bounded(query, limit, offset, scalars=True)


def contact_emails(contact_id: int, limit: int = 10, offset: int = 0) -> Page:
    """The messages made for the contact, newest first: (message, template name, campaign)."""
    query = (
        select(OutboxMessage, EmailTemplate.name, Campaign)
        .join(EmailTemplate, EmailTemplate.id == OutboxMessage.template_id)
        .outerjoin(Campaign, Campaign.id == OutboxMessage.campaign_id)
        .where(OutboxMessage.contact_id == contact_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    )
    return bounded(query, limit, offset)


def record_history(table_name: str, record_id: int | str, limit: int = 10,
                   offset: int = 0) -> Page:
    """A record's audit trail, newest first: (entry, user)."""
    query = (
        select(AuditEntry, User)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(AuditEntry.table_name == table_name, AuditEntry.record_id == str(record_id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return bounded(query, limit, offset)


def company_contacts(company_id: int, limit: int = 10, offset: int = 0) -> Page:
    """The company's contacts and leads, by last and first name."""
    query = (
        select(Contact)
        .where(Contact.company_id == company_id)
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    )
    return bounded(query, limit, offset, scalars=True)


def company_activities(company_id: int, limit: int = 10, offset: int = 0) -> Page:
    """Activities of the company: linked to it, or to one of its contacts; latest first."""
    of_its_contacts = exists().where(
        ActivityContact.activity_id == Activity.id,
        ActivityContact.contact_id == Contact.id,
        Contact.company_id == company_id,
    )
    query = (
        select(Activity)
        .where(or_(Activity.company_id == company_id, of_its_contacts))
        .order_by(Activity.start_at.desc(), Activity.id.desc())
    )
    return bounded(query, limit, offset, scalars=True)


def activity_contacts(activity_id: int, limit: int = 10, offset: int = 0) -> Page:
    """The contacts linked to an activity, by last and first name."""
    query = (
        select(Contact)
        .join(ActivityContact, ActivityContact.contact_id == Contact.id)
        .where(ActivityContact.activity_id == activity_id)
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    )
    return bounded(query, limit, offset, scalars=True)


def contacts_of_activities(activity_ids: list[int], per_activity: int = 3) -> dict[int, dict]:
    """For a list page: the first ``per_activity`` contacts of each activity and how many it
    has, in one query (a window function numbers each activity's contacts)."""
    if not activity_ids:
        return {}
    ranked = (
        select(
            ActivityContact.activity_id,
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            func.row_number().over(partition_by=ActivityContact.activity_id,
                                   order_by=(Contact.last_name, Contact.first_name, Contact.id))
            .label("n"),
            func.count().over(partition_by=ActivityContact.activity_id).label("total"),
        )
        .join(Contact, Contact.id == ActivityContact.contact_id)
        .where(ActivityContact.activity_id.in_(activity_ids))
        .subquery()
    )
    out: dict[int, dict] = {}
    for row in db.session.execute(select(ranked).where(ranked.c.n <= per_activity)
                                  .order_by(ranked.c.activity_id, ranked.c.n)):
        entry = out.setdefault(row.activity_id, {"contacts": [], "total": row.total})
        name = f"{row.first_name} {row.last_name}".strip() or row.email or f"#{row.id}"
        entry["contacts"].append((row.id, name))
    return out


def group_members(group_id: int, limit: int = 50, offset: int = 0) -> Page:
    """A target group's stored members, by id (the order refreshes and samples use)."""
    query = (
        select(Contact, TargetGroupMember.added_at)
        .join(TargetGroupMember, TargetGroupMember.contact_id == Contact.id)
        .where(TargetGroupMember.group_id == group_id)
        .order_by(Contact.id)
    )
    return bounded(query, limit, offset)
