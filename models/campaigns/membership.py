"""Writing campaign members: the one place contacts join a campaign (and get its email),
the one place audience actions remove members (recorded for undo), and the lock that
lets one audience change at a time into a campaign.

Set-based statements only; the caller (the audience jobs) commits, so each change is
one transaction.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, literal, select, true

from ..base import db, utcnow
from ..dialect import insert_ignoring_duplicates
from ..email.outbox import queue_campaign_join, sends_join_email
from ..ranges import even_ranges
from . import Campaign, CampaignMember, CampaignMemberRemoval
from .audience import SOURCE_OF, Action, bulk_join_plans, to_add, to_remove

members = CampaignMember.__table__
removals = CampaignMemberRemoval.__table__
MEMBER_COLUMNS = ["campaign_id", "contact_id", "added_at", "added_by_id", "source", "source_ref",
                  "job_id"]
# A removal is the member row as it was, under the removing job's id (its own job_id
# becomes added_by_job_id, so undo restores that too).
REMOVAL_COLUMNS = ["job_id", *MEMBER_COLUMNS[:-1], "added_by_job_id"]


def take_turn(campaign_id: int) -> None:
    """Wait until no other audience job is changing this campaign; hold it until commit.

    Without it, two copies of overlapping sets into one campaign on PostgreSQL insert the
    shared contacts in different orders (hash order), wait on each other's rows, and one
    dies of a deadlock; and a removal could record a member that a parallel job deletes,
    which its undo would then bring back. NO KEY UPDATE lets the foreign-key checks of
    other inserts pass. SQLite lets one writer in at a time anyway (FOR UPDATE is not
    rendered there).
    """
    campaigns = Campaign.__table__
    db.session.execute(select(campaigns.c.id).where(campaigns.c.id == campaign_id)
                       .with_for_update(key_share=True))


def _delete_and_record(run_id: str, which) -> int:
    """PostgreSQL: one statement deletes the members and records exactly the rows it
    deleted (``DELETE … RETURNING`` feeding the INSERT), reading the campaign once."""
    gone = delete(members).where(which).returning(*[members.c[c] for c in MEMBER_COLUMNS])
    gone = gone.cte("gone")
    rows = select(literal(run_id), *[gone.c[c] for c in MEMBER_COLUMNS])
    # add_cte puts the WITH on the INSERT: PostgreSQL wants a DELETE in WITH at the top.
    # SQLAlchemy keeps an INSERT's rowcount only when asked.
    statement = insert(removals).add_cte(gone).from_select(REMOVAL_COLUMNS, rows)
    return db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def add_members(campaign_id: int, action: Action, source_id=None, contact_ids=None, *,
                job_id: str | None = None, added_by: int | None = None,
                source: str | None = None, split_above: int | None = None) -> dict:
    """Add the contacts an adding action selects, and queue the campaign's email for them.

    This is the one place contacts join a campaign (the audience job, the admin's single
    add): joining a campaign that has a template means its email, in the same
    transaction, and members from before the template was attached get none.
    ``{"added": n, "email": {"queued": q, "suppressed": s}}``; the caller commits.
    ``split_above`` (a job's): when more members than that joined a campaign with a
    template, the email is left to the caller, who queues it in ranges
    (:func:`added_ranges`) and commits those with the members; ``"email"`` is None then.
    """
    chosen = to_add(campaign_id, action, source_id, contact_ids).subquery("chosen")
    now = utcnow()
    rows = select(
        literal(campaign_id),
        chosen.c.id,
        literal(now, members.c.added_at.type),
        literal(added_by, members.c.added_by_id.type),
        literal(source or SOURCE_OF[action].value),
        literal(source_id, members.c.source_ref.type),
        literal(job_id, members.c.job_id.type),
    ).where(true())  # SQLite parses INSERT … SELECT … ON CONFLICT only after a WHERE
    # The email is queued under the same plans: the members just added are not in the
    # statistics yet, and a nested loop rescanning them per contact took minutes.
    with bulk_join_plans(action):
        added = insert_members(rows)
        if (job_id is not None and split_above is not None and added > split_above
                and sends_join_email(campaign_id)):
            email = None
        elif job_id is not None:
            email = queue_campaign_join(campaign_id, job_id=job_id)
        else:
            email = queue_campaign_join(campaign_id, contact_ids=list(contact_ids or []))
    return {"added": added, "email": email}


def added_ranges(campaign_id: int, job_id: str, size: int) -> list[dict]:
    """The members job ``job_id`` added, cut into contact-id ranges of ``size`` members
    (``{"low", "high"}``, inclusive)."""
    return even_ranges(members.c.contact_id, members.c.campaign_id == campaign_id,
                       members.c.job_id == job_id, size=size)


def insert_members(rows) -> int:
    """INSERT the rows as members, skipping contacts already in; how many went in.

    ON CONFLICT: another job adding the same contact at the same moment is not an
    error, and the skipped rows are not counted. SQLAlchemy keeps an INSERT's rowcount
    only when asked.
    """
    statement = insert_ignoring_duplicates(members).from_select(MEMBER_COLUMNS, rows)
    return db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def remove_members(job_id: str, campaign_id: int, action: Action, source_id=None,
                   contact_ids=None) -> int:
    """Remove the members a removing action selects, recorded under ``job_id`` for undo."""
    leaving = to_remove(campaign_id, action, source_id, contact_ids).subquery("leaving")
    which = and_(members.c.campaign_id == campaign_id,
                 members.c.contact_id.in_(select(leaving.c.id)))
    if db.engine.dialect.name == "postgresql":
        with bulk_join_plans(action):
            return _delete_and_record(job_id, which)
    # SQLite has no DELETE inside WITH. Record first, then delete exactly what was
    # recorded: undo needs the rows as they were.
    db.session.execute(
        insert_ignoring_duplicates(removals).from_select(
            REMOVAL_COLUMNS,
            select(literal(job_id), *[members.c[c] for c in MEMBER_COLUMNS]).where(which),
        )
    )
    recorded = select(removals.c.contact_id).where(removals.c.job_id == job_id)
    return db.session.execute(
        delete(members).where(
            members.c.campaign_id == campaign_id, members.c.contact_id.in_(recorded)
        )
    ).rowcount


def revert(run_id: str, campaign_id: int) -> tuple[int, int]:
    """Remove the members job ``run_id`` added to the campaign and put back the ones it
    removed (not committed); how many went and came back. Audience undo and the undo of a
    scheduled run both come here."""
    take_turn(campaign_id)
    removed = db.session.execute(
        delete(members).where(members.c.campaign_id == campaign_id, members.c.job_id == run_id)
    ).rowcount
    put_back = select(
        removals.c.campaign_id, removals.c.contact_id, removals.c.added_at,
        removals.c.added_by_id, removals.c.source, removals.c.source_ref,
        removals.c.added_by_job_id,
    ).where(removals.c.job_id == run_id)
    return removed, insert_members(put_back)
