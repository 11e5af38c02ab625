"""Audience jobs: add or remove campaign members set-based, record it, undo it.

Each job is one transaction: it either changes the campaign completely or
not at all. Added members carry the job's id; removed members are copied to
``campaign_member_removals`` first. Undo removes exactly the members the job
added that are still there, and puts back exactly the ones it removed.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, literal, select, true

from models import (
    Campaign,
    CampaignMember,
    CampaignMemberRemoval,
    JobRun,
    JobStatus,
    TargetGroup,
    db,
    utcnow,
)
from models.audience import (
    ADDING,
    SOURCE_OF,
    AudienceError,
    bulk_join_plans,
    check_request,
    to_add,
    to_remove,
)

from .groups import refresh
from .mail.outbox import queue_campaign_join
from .mail.sender import start_senders
from .runs import JobContext, job
from .sql import insert_ignoring_duplicates

members = CampaignMember.__table__
removals = CampaignMemberRemoval.__table__
MEMBER_COLUMNS = ["campaign_id", "contact_id", "added_at", "added_by_id", "source", "source_ref",
                  "job_id"]  # fmt: skip
# A removal is the member row as it was, under the removing job's id (its own job_id
# becomes added_by_job_id, so undo restores that too).
REMOVAL_COLUMNS = ["job_id", *MEMBER_COLUMNS[:-1], "added_by_job_id"]


def _take_turn(campaign_id: int) -> None:
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
                       .with_for_update(key_share=True))  # fmt: skip


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


def _add(ctx: JobContext, campaign_id: int, action, source_id, contact_ids) -> int:
    chosen = to_add(campaign_id, action, source_id, contact_ids).subquery("chosen")
    now = utcnow()
    rows = select(
        literal(campaign_id),
        chosen.c.id,
        literal(now, members.c.added_at.type),
        literal(ctx.user_id, members.c.added_by_id.type),
        literal(SOURCE_OF[action].value),
        literal(source_id, members.c.source_ref.type),
        literal(ctx.run_id),
    ).where(true())  # SQLite parses INSERT … SELECT … ON CONFLICT only after a WHERE
    return _insert_members(rows)


def _insert_members(rows) -> int:
    """INSERT the rows as members, skipping contacts already in; how many went in.

    ON CONFLICT: another job adding the same contact at the same moment is not an
    error, and the skipped rows are not counted. SQLAlchemy keeps an INSERT's rowcount
    only when asked.
    """
    statement = insert_ignoring_duplicates(members).from_select(MEMBER_COLUMNS, rows)
    return db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _remove(ctx: JobContext, campaign_id: int, action, source_id, contact_ids) -> int:
    leaving = to_remove(campaign_id, action, source_id, contact_ids).subquery("leaving")
    which = and_(members.c.campaign_id == campaign_id,
                 members.c.contact_id.in_(select(leaving.c.id)))  # fmt: skip
    if db.engine.dialect.name == "postgresql":
        return _delete_and_record(ctx.run_id, which)
    # SQLite has no DELETE inside WITH. Record first, then delete exactly what was
    # recorded: undo needs the rows as they were.
    db.session.execute(
        insert_ignoring_duplicates(removals).from_select(
            REMOVAL_COLUMNS,
            select(literal(ctx.run_id), *[members.c[c] for c in MEMBER_COLUMNS]).where(which),
        )
    )
    recorded = select(removals.c.contact_id).where(removals.c.job_id == ctx.run_id)
    return db.session.execute(
        delete(members).where(
            members.c.campaign_id == campaign_id, members.c.contact_id.in_(recorded)
        )
    ).rowcount


@job("campaign_audience")
def change_audience(
    ctx: JobContext,
    campaign_id: int,
    action: str,
    source_id: int | None = None,
    contact_ids: list[int] | None = None,
    refresh_group: bool = False,
) -> dict:
    """Run one audience action on a campaign, in one transaction."""
    act = check_request(campaign_id, action, source_id, contact_ids)
    result: dict = {"campaign_id": campaign_id, "action": act.value}
    if refresh_group and act.value.endswith("_group"):
        group = db.session.get(TargetGroup, source_id)
        if group is None:
            raise AudienceError(f"target group {source_id} does not exist")
        result["group_refresh"] = refresh(group)  # commits: take the turn after it
    _take_turn(campaign_id)
    if act in ADDING:
        with bulk_join_plans(act):
            result["added"] = _add(ctx, campaign_id, act, source_id, contact_ids)
        # Joining a campaign with a template means its email, in the same transaction.
        result["email"] = queue_campaign_join(campaign_id, job_id=ctx.run_id)
    else:
        with bulk_join_plans(act):
            result["removed"] = _remove(ctx, campaign_id, act, source_id, contact_ids)
    ctx.progress(1, 1)  # commits the whole change at once
    if result.get("email", {}).get("queued"):
        start_senders()
    return result


@job("undo_audience")
def undo_audience(ctx: JobContext, run_id: str) -> dict:
    """Revert what one finished audience job added and removed (and nothing else)."""
    original = db.session.get(JobRun, run_id)
    if original is None or original.kind != "campaign_audience":
        raise AudienceError(f"{run_id} is not an audience job")
    if original.status != JobStatus.DONE:
        raise AudienceError(f"job {run_id} is {original.status}; only a finished job can be undone")
    if original.result.get("undone_by"):
        raise AudienceError(f"job {run_id} was already undone by {original.result['undone_by']}")
    removed, restored = revert(run_id, original.params["campaign_id"])
    original.result = {**original.result, "undone_by": ctx.run_id}
    ctx.progress(1, 1)
    return {"undid": run_id, "removed": removed, "restored": restored}


def revert(run_id: str, campaign_id: int) -> tuple[int, int]:
    """Remove the members job ``run_id`` added to the campaign and put back the ones it
    removed (not committed); how many went and came back. Also undoes scheduled runs."""
    _take_turn(campaign_id)
    removed = db.session.execute(
        delete(members).where(members.c.campaign_id == campaign_id, members.c.job_id == run_id)
    ).rowcount
    put_back = select(
        removals.c.campaign_id, removals.c.contact_id, removals.c.added_at,
        removals.c.added_by_id, removals.c.source, removals.c.source_ref,
        removals.c.added_by_job_id,
    ).where(removals.c.job_id == run_id)  # fmt: skip
    return removed, _insert_members(put_back)
