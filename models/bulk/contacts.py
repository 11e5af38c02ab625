"""What bulk actions on contacts (and companies' contacts) do beyond setting a column:
join or leave a campaign, get activities, be exported. Set-based, through the same
statements the campaign audience and the mass create use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import func, select

from ..activities.assignment import assignees
from ..activities.slots import plan_for
from ..base import db, utcnow
from ..campaigns import Campaign, CampaignMember
from ..campaigns.audience import Action, active_campaign, bulk_join_plans, to_add, to_remove
from ..campaigns.membership import add_members, remove_members, take_turn
from ..contacts import Contact
from ..email.outbox import suppression_reason
from ..selections import Selection, selected
from ..settings import Settings

contacts = Contact.__table__
members = CampaignMember.__table__
EXPORT_COLUMNS = ["id", "kind", "first_name", "last_name", "email", "phone", "title", "language",
                  "city", "status", "email_opt_out", "company_id", "owner_id", "created_at"]


def contact_ids(selection: Selection):
    """``SELECT id`` of the contacts a selection means: the contacts themselves, or the
    contacts of the selected companies."""
    if selection.area == "companies":
        companies = selected(selection).subquery("chosen_companies")
        return select(contacts.c.id).where(contacts.c.company_id.in_(select(companies.c.id)))
    if selection.area != "contacts":
        raise ValueError(f"{selection.area} are not contacts")
    return selected(selection)


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


def join_preview(selection: Selection, campaign_id: int) -> dict:
    """What adding the selection to a campaign would do now: how many join, how many are
    members already, and of the joiners how many get the campaign's email and how many
    not, by reason (the outbox's own rule)."""
    campaign = active_campaign(campaign_id)
    ids = contact_ids(selection)
    with bulk_join_plans(Action.LOAD_FILTER):
        offered = _count(ids)
        joining = to_add(campaign.id, Action.ADD_CONTACTS, contact_ids=ids).subquery("joining")
        email: dict[str, int] = {}
        if campaign.email_template_id is not None:
            settings = Settings.current()
            reason = suppression_reason(campaign.email_template_id, utcnow(),
                                        settings.email_waiting_period_days)
            rows = db.session.execute(
                select(reason.label("reason"), func.count())
                .select_from(joining.join(contacts, contacts.c.id == joining.c.id))
                .group_by(reason)).all()
            email = {(r or "queued"): n for r, n in rows}
        adding = _count(select(joining.c.id))
    return {"campaign": campaign.name, "would_add": adding, "already_members": offered - adding,
            "has_template": campaign.email_template_id is not None,
            "queued": email.pop("queued", 0), "suppressed": email}


def leave_preview(selection: Selection, campaign_id: int) -> dict:
    """How many of the selection are members of the campaign (would be removed)."""
    campaign = active_campaign(campaign_id)
    with bulk_join_plans(Action.LOAD_FILTER):
        leaving = to_remove(campaign.id, Action.REMOVE_CONTACTS,
                            contact_ids=contact_ids(selection))
        return {"campaign": campaign.name, "would_remove": _count(leaving)}


def join_campaign(job_id: str, selection: Selection, campaign_id: int,
                  user_id: int | None) -> dict:
    """Add the selection to the campaign (one transaction, recorded under ``job_id`` for
    undo) and queue its email; the caller commits."""
    active_campaign(campaign_id)
    take_turn(campaign_id)
    with bulk_join_plans(Action.LOAD_FILTER):
        return add_members(campaign_id, Action.ADD_CONTACTS, contact_ids=contact_ids(selection),
                           job_id=job_id, added_by=user_id)


def leave_campaign(job_id: str, selection: Selection, campaign_id: int) -> int:
    """Remove the selection from the campaign, recorded for undo; the caller commits."""
    active_campaign(campaign_id)
    take_turn(campaign_id)
    with bulk_join_plans(Action.LOAD_FILTER):
        return remove_members(job_id, campaign_id, Action.REMOVE_CONTACTS,
                              contact_ids=contact_ids(selection))


def plan_activities(job_id: str, selection: Selection, day: date, user_id=None,
                    fallback_id=None) -> dict:
    """The slotted mass create's plan for the selected contacts (models.activities.slots)."""
    return plan_for(job_id, assignees(contact_ids(selection), user_id=user_id,
                                      fallback_id=fallback_id), day)


def export_rows(selection: Selection, low, high) -> Iterator[tuple]:
    """The selected contacts with ids in ``low``…``high``, for the CSV, in id order."""
    key = contacts.c.id
    rows = selected(selection, *[contacts.c[c] for c in EXPORT_COLUMNS]) \
        .where(key >= low, key <= high).order_by(key)
    yield from db.session.execute(rows.execution_options(yield_per=5000))


def campaign_name(campaign_id: int) -> str:
    """The campaign's name as people read it (for results in words)."""
    campaign = db.session.get(Campaign, campaign_id)
    return str(campaign) if campaign else f"#{campaign_id}"
