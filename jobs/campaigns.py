"""Audience jobs: add or remove campaign members set-based, record it, undo it.

Each job is one transaction: it either changes the campaign completely or
not at all. Added members carry the job's id; removed members are copied to
``campaign_member_removals`` first. Undo removes exactly the members the job
added that are still there, and puts back exactly the ones it removed.
"""

from __future__ import annotations

from models import (
    JobRun,
    JobStatus,
    TargetGroup,
    db,
)
from models.campaigns.audience import (
    ADDING,
    AudienceError,
    check_request,
)
from models.campaigns.membership import (
    add_members,
    added_ranges,
    remove_members,
    revert,
    take_turn,
)
from models.dialect import no_nested_loops
from models.email.outbox import queue_campaign_join
from models.groups.refresh import refresh

from .email.sender import start_senders
from .pause import pause_at
from .runs import JobContext, enqueue, job
from .split import chunk_rows, fan_out, finisher, summed


@job("campaign_audience")
def change_audience(
    ctx: JobContext,
    campaign_id: int,
    action: str,
    source_id: int | None = None,
    contact_ids: list[int] | None = None,
    refresh_group: bool = False,
    *,
    split: bool = True,
) -> dict:
    """Run one audience action on a campaign, in one transaction; with ``split`` (its own
    job's way), the email of more new members than KOHDE_CHUNK_ROWS follows in chunk runs.
    A scheduled run calls this inside its own job and records the outcome after it
    returns, so it passes ``split=False``: one transaction, as always."""
    act = check_request(campaign_id, action, source_id, contact_ids)
    result: dict = {"campaign_id": campaign_id, "action": act.value}
    if refresh_group and act.value.endswith("_group"):
        group = db.session.get(TargetGroup, source_id)
        if group is None:
            raise AudienceError(f"target group {source_id} does not exist")
        result["group_refresh"] = refresh(group)  # commits: take the turn after it
    take_turn(campaign_id)
    if act in ADDING:
        result.update(add_members(campaign_id, act, source_id, contact_ids,
                                  job_id=ctx.run_id, added_by=ctx.user_id,
                                  split_above=chunk_rows() if split else None))
    else:
        result["removed"] = remove_members(ctx.run_id, campaign_id, act, source_id, contact_ids)
    pause_at("campaign_audience.before_commit")  # crash tests: rows written, not committed
    if act in ADDING and result["email"] is None:
        # Rule 4: the email of many new members is queued in contact-id ranges, each a
        # chunk run of its own, recorded with the members in one commit.
        ranges = added_ranges(campaign_id, ctx.run_id, chunk_rows())
        fan_out(ctx, "campaign_email_chunk", ranges, total=result["added"],
                result={**result, "email": {"queued": 0, "suppressed": 0}})
        return result
    ctx.progress(1, 1)  # commits the whole change at once
    if result.get("email", {}).get("queued"):
        start_senders()
    return result


@job("campaign_email_chunk")
def campaign_email_chunk(ctx: JobContext, parent_id: str, seq: int, low: int, high: int) -> dict:
    """The campaign email for one contact-id range of the members a split audience job
    added: one INSERT … SELECT; a repeat adds nothing (one message per template, contact
    and send)."""
    parent = db.session.get(JobRun, parent_id)
    with no_nested_loops():  # members the parent just added may not be in the statistics
        email = queue_campaign_join(parent.params["campaign_id"], job_id=parent_id,
                                    contact_range=(low, high))
    made = email["queued"] + email["suppressed"]
    pause_at("campaign_email_chunk.before_commit")  # crash tests: rows written, not committed
    ctx.progress(made, made)
    if email["queued"]:
        start_senders()  # sending starts with the first range, not after the last
    return email


@finisher("campaign_audience")
def finish_audience(result: dict, chunks: list[dict]) -> dict:
    """A split audience job's email is its ranges' added up."""
    return {**result, "email": summed({}, chunks, ("queued", "suppressed"))}


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


def start_audience_change(
    campaign_id: int,
    action: str,
    source_id: int | None = None,
    contact_ids: list[int] | None = None,
    *,
    refresh_group: bool = False,
    started_by: int | None = None,
) -> JobRun:
    """Queue one audience action on a campaign (``action`` is an ``Action`` value)."""
    params = {"campaign_id": campaign_id, "action": str(action), "source_id": source_id,
              "contact_ids": contact_ids, "refresh_group": refresh_group}
    return enqueue("campaign_audience", params, user_id=started_by)


def start_undo_audience(run_id: str, started_by: int | None = None) -> JobRun:
    """Queue the undo of one finished audience job."""
    return enqueue("undo_audience", {"run_id": run_id}, user_id=started_by)
