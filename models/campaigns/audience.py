"""Campaign audiences: which contacts an action would add or remove, and the summary.

Every action is a ``SELECT contact_id``: the dry run counts it, the job writes
it, so the preview and the real run can never disagree.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import and_, case, distinct, exists, func, select
from sqlalchemy.sql import Select

from ..base import db
from ..contacts import Contact, ContactKind
from ..criteria import matching_ids
from ..dialect import no_nested_loops
from ..groups import FilterModule, SavedFilter, TargetGroup, TargetGroupMember
from ..settings import installation_tz
from . import Campaign, CampaignMember, MemberSource

members = CampaignMember.__table__
contacts = Contact.__table__
group_members = TargetGroupMember.__table__


HAS_EMAIL = and_(contacts.c.email_key.is_not(None), contacts.c.email_key != "")


class Action(StrEnum):
    """What an audience job does."""

    COPY_GROUP = "copy_group"
    REMOVE_GROUP = "remove_group"
    COPY_CAMPAIGN = "copy_campaign"
    REMOVE_CAMPAIGN = "remove_campaign"
    LOAD_FILTER = "load_filter"
    KEEP_ONLY = "keep_only"
    DEDUPE_EMAIL = "dedupe_email"
    DEDUPE_COMPANY = "dedupe_company"
    PRUNE_OPTED_OUT = "prune_opted_out"
    ADD_CONTACTS = "add_contacts"
    REMOVE_CONTACTS = "remove_contacts"


ADDING = {Action.COPY_GROUP, Action.COPY_CAMPAIGN, Action.LOAD_FILTER, Action.ADD_CONTACTS}
SOURCE_OF = {
    Action.COPY_GROUP: MemberSource.GROUP,
    Action.COPY_CAMPAIGN: MemberSource.CAMPAIGN,
    Action.LOAD_FILTER: MemberSource.FILTER,
    Action.ADD_CONTACTS: MemberSource.MANUAL,
}
BY_ID = {Action.ADD_CONTACTS, Action.REMOVE_CONTACTS}
NEEDS_SOURCE = {Action.COPY_GROUP, Action.REMOVE_GROUP, Action.COPY_CAMPAIGN,
                Action.REMOVE_CAMPAIGN, Action.LOAD_FILTER, Action.KEEP_ONLY}
# The groups and campaigns a source id names (saved filters are loaded by _saved_filter).
SOURCE_MODEL = {
    Action.COPY_GROUP: (TargetGroup, "target group"),
    Action.REMOVE_GROUP: (TargetGroup, "target group"),
    Action.COPY_CAMPAIGN: (Campaign, "campaign"),
    Action.REMOVE_CAMPAIGN: (Campaign, "campaign"),
}


class AudienceError(ValueError):
    """An audience action that cannot run (inactive campaign, missing source, …)."""


def active_campaign(campaign_id: int) -> Campaign:
    """The campaign, refusing a missing or inactive one with a clear message."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise AudienceError(f"campaign {campaign_id} does not exist")
    if not campaign.active:
        raise AudienceError(
            f"campaign {campaign.name!r} is not active: only active campaigns can be changed"
        )
    return campaign


def filter_selection(saved: SavedFilter) -> Select:
    """``SELECT id`` of the contacts a saved filter selects (a company filter: their contacts)."""
    query = matching_ids(saved.criteria, tz=installation_tz())
    if saved.module == FilterModule.LEAD:
        query = query.where(contacts.c.kind == ContactKind.LEAD)
    elif saved.module == FilterModule.COMPANY:
        query = query.where(contacts.c.company_id.is_not(None))
    return query


def _source_ids(action: Action, source_id: int | None, contact_ids: list[int] | None) -> Select:
    """``SELECT id`` of the contacts an adding action brings (members or not)."""
    if action == Action.COPY_GROUP:
        return select(group_members.c.contact_id.label("id")).where(
            group_members.c.group_id == source_id
        )
    if action == Action.COPY_CAMPAIGN:
        return select(members.c.contact_id.label("id")).where(members.c.campaign_id == source_id)
    if action == Action.LOAD_FILTER:
        return filter_selection(_saved_filter(source_id))
    # A list of ids, or a SELECT of them (a workflow: the saved activities' contacts).
    chosen = contact_ids if contact_ids is not None else []
    return select(contacts.c.id).where(contacts.c.id.in_(chosen))


def _saved_filter(filter_id: int | None) -> SavedFilter:
    saved = db.session.get(SavedFilter, filter_id) if filter_id else None
    if saved is None:
        raise AudienceError(f"saved filter {filter_id} does not exist")
    return saved


def is_empty(campaign_id: int) -> bool:
    """Whether the campaign has no members.

    As the lowest member id, not EXISTS: min() reads the first entry of the primary
    key's index, where EXISTS may be planned as a sequential scan that stops at the
    first member, and a campaign filled last has its rows at the end of the table.
    """
    first = select(func.min(members.c.contact_id)).where(members.c.campaign_id == campaign_id)
    return db.session.scalar(first) is None


def to_add(campaign_id: int, action: Action, source_id=None, contact_ids=None) -> Select:
    """``SELECT id`` of the contacts the action adds: its source, less current members.

    Written for the campaign as it is: into an empty campaign the source as it is
    (each source lists a contact once), else the source less the members by NOT
    EXISTS. Run it under ``bulk_join_plans`` on PostgreSQL: the anti-join must be a
    hash or merge join even where statistics are stale.
    """
    source = _source_ids(action, source_id, contact_ids)
    if is_empty(campaign_id):
        return source
    offered = source.subquery("offered")
    current = (select(members.c.contact_id)
               .where(members.c.campaign_id == campaign_id,
                      members.c.contact_id == offered.c.id))
    return select(offered.c.id).where(~exists(current))


def bulk_join_plans(action: Action):
    """No nested-loop joins for a bulk audience action's statements (``no_nested_loops``);
    actions on a few listed contacts keep theirs: a lookup per contact is right there."""
    return no_nested_loops(action not in BY_ID)


def _ranked_duplicates(campaign_id: int, partition, present) -> Select:
    # Keep the earliest-added member per key; the rest are duplicates.
    rank = func.row_number().over(
        partition_by=partition, order_by=(members.c.added_at, members.c.contact_id)
    )
    ranked = (
        select(members.c.contact_id, rank.label("rn"))
        .select_from(members.join(contacts, contacts.c.id == members.c.contact_id))
        .where(members.c.campaign_id == campaign_id, present)
        .subquery("ranked")
    )
    return select(ranked.c.contact_id.label("id")).where(ranked.c.rn > 1)


def to_remove(campaign_id: int, action: Action, source_id=None, contact_ids=None) -> Select:
    """``SELECT id`` of the current members the action removes."""
    mine = members.c.campaign_id == campaign_id
    if action == Action.DEDUPE_EMAIL:
        return _ranked_duplicates(campaign_id, contacts.c.email_key, HAS_EMAIL)
    if action == Action.DEDUPE_COMPANY:
        return _ranked_duplicates(campaign_id, contacts.c.company_id,
                                  contacts.c.company_id.is_not(None))
    if action == Action.PRUNE_OPTED_OUT:
        return (
            select(members.c.contact_id.label("id"))
            .select_from(members.join(contacts, contacts.c.id == members.c.contact_id))
            .where(mine, contacts.c.email_opt_out.is_(True))
        )
    if action == Action.REMOVE_CONTACTS:
        # A list of ids, or a SELECT of them (a bulk action's selection).
        condition = members.c.contact_id.in_(contact_ids if contact_ids is not None else [])
    elif action == Action.REMOVE_GROUP:
        condition = members.c.contact_id.in_(
            select(group_members.c.contact_id).where(group_members.c.group_id == source_id)
        )
    elif action == Action.REMOVE_CAMPAIGN:
        other = members.alias("other")
        condition = members.c.contact_id.in_(
            select(other.c.contact_id).where(other.c.campaign_id == source_id)
        )
    elif action == Action.KEEP_ONLY:
        kept = filter_selection(_saved_filter(source_id)).subquery("kept")
        condition = ~exists().where(kept.c.id == members.c.contact_id)
    else:
        raise AudienceError(f"{action} does not remove members")
    return select(members.c.contact_id.label("id")).where(mine, condition)


def check_request(campaign_id: int, action: str, source_id=None, contact_ids=None) -> Action:
    """Validate an action request; returns the Action or raises AudienceError."""
    try:
        act = Action(action)
    except ValueError:
        raise AudienceError(f"unknown audience action {action!r}") from None
    active_campaign(campaign_id)
    if act in NEEDS_SOURCE and source_id is None:
        raise AudienceError(f"{act} needs a source (a group, campaign or saved filter)")
    if act in (Action.COPY_CAMPAIGN, Action.REMOVE_CAMPAIGN) and source_id == campaign_id:
        raise AudienceError("a campaign cannot be its own source")
    if act in SOURCE_MODEL:
        # A group or campaign deleted since the request would otherwise read as "0 rows":
        # a job that did nothing must not look like one that found nothing to do.
        model, label = SOURCE_MODEL[act]
        if db.session.get(model, source_id) is None:
            raise AudienceError(f"{label} {source_id} does not exist")
    if act in (Action.ADD_CONTACTS, Action.REMOVE_CONTACTS) and not contact_ids:
        raise AudienceError(f"{act} needs contact ids")
    return act


def _count(query: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def dry_run(campaign_id: int, action: str, source_id=None, contact_ids=None) -> dict:
    """What the action would do now, counted with the SQL the job will run."""
    act = check_request(campaign_id, action, source_id, contact_ids)
    with bulk_join_plans(act):
        if act in ADDING:
            source = _count(_source_ids(act, source_id, contact_ids).distinct())
            adding = _count(to_add(campaign_id, act, source_id, contact_ids))
            return {"action": act.value, "would_add": adding,
                    "already_members": source - adding}
        removing = _count(to_remove(campaign_id, act, source_id, contact_ids))
        return {"action": act.value, "would_remove": removing}


def email_effect(campaign_id: int, action: str, source_id=None, contact_ids=None) -> dict | None:
    """For an adding action's dry run: how many emails the join would queue and how many
    contacts would get none, by reason (None when the action adds nobody an email: a
    removing action, or a campaign without a template)."""
    # Imported here: the outbox module imports the campaigns package, so a top-level import
    # would be a cycle.
    from ..email.outbox import join_email_preview

    act = check_request(campaign_id, action, source_id, contact_ids)
    if act not in ADDING:
        return None
    with bulk_join_plans(act):
        return join_email_preview(campaign_id, to_add(campaign_id, act, source_id, contact_ids))


def summary(campaign_id: int) -> dict:
    """The audience in numbers, one query: who is in, how reachable, how duplicated."""
    joined = members.join(contacts, contacts.c.id == members.c.contact_id)
    has_email = HAS_EMAIL
    per_company = (
        select(contacts.c.company_id)
        .select_from(joined)
        .where(members.c.campaign_id == campaign_id, contacts.c.company_id.is_not(None))
        .group_by(contacts.c.company_id)
        .having(func.count() > 1)
        .subquery()
    )
    row = db.session.execute(
        select(
            func.count().label("members"),
            func.count().filter(contacts.c.kind == ContactKind.LEAD).label("leads"),
            func.count(distinct(contacts.c.company_id)).label("companies"),
            func.count().filter(has_email).label("with_email"),
            func.count().filter(contacts.c.email_opt_out.is_(True)).label("opted_out"),
            func.count(distinct(case((has_email, contacts.c.email_key)))).label("emails"),
            select(func.count()).select_from(per_company).scalar_subquery()
            .label("companies_with_several_members"),
        )
        .select_from(joined)
        .where(members.c.campaign_id == campaign_id)
    ).one()
    data = dict(row._mapping)
    data["contacts"] = data["members"] - data["leads"]
    data["without_email"] = data["members"] - data["with_email"]
    # Members that dedupe by email would remove: all with an email, less one per address.
    data["duplicate_emails"] = data["with_email"] - data.pop("emails")
    return data


