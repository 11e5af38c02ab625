"""Bulk-action jobs that reuse an area's own machinery on a list's selection: campaign
membership (models.campaigns.membership, undoable like audience jobs), the slotted mass
create, the formula-safe export, target group refresh and the outbox's retry / cancel.
The generic ones (set a column, shift, delete, undo) are in ``jobs.bulk``."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from flask import current_app

from models import ActivityType, Campaign, JobRun, TargetGroup, csv_cells, db
from models.activities.slots import create_from_plan
from models.bulk.changes import chunks
from models.bulk.contacts import (
    EXPORT_COLUMNS,
    export_rows,
    join_campaign,
    leave_campaign,
    plan_activities,
)
from models.bulk.lists import cancel_queued, retry_failed
from models.campaigns.audience import Action, AudienceError, check_request
from models.campaigns.membership import remove_members, take_turn
from models.criteria import validate
from models.groups.refresh import refresh
from models.selections import Selection, bounds, selected

from .activities import _send_if_queued, _workflows
from .bulk import BulkError, selection_of
from .email.sender import start_senders
from .runs import JobContext, enqueue, job
from .split import chunk_rows

CLEANUPS = {Action.DEDUPE_EMAIL.value: "email duplicates",
            Action.PRUNE_OPTED_OUT.value: "opted-out members"}


def _ids(query) -> list:
    return list(db.session.scalars(query))


@job("bulk_join_campaign")
def bulk_join_campaign(ctx: JobContext, selection: dict, campaign_id: int) -> dict:
    """Add the selected contacts (or the selected companies' contacts) to a campaign and
    queue its email, in one transaction; undo removes exactly those members."""
    chosen = selection_of(selection)
    result = join_campaign(ctx.run_id, chosen, campaign_id, ctx.user_id)
    result["campaign_ids"] = [campaign_id]
    ctx.progress(1, 1)  # commits the whole change at once
    if result["email"]["queued"]:
        start_senders()
    return result


@job("bulk_leave_campaign")
def bulk_leave_campaign(ctx: JobContext, selection: dict, campaign_id: int) -> dict:
    """Remove the selected contacts from a campaign (recorded: undo puts them back)."""
    chosen = selection_of(selection)
    removed = leave_campaign(ctx.run_id, chosen, campaign_id)
    ctx.progress(1, 1)
    return {"removed": removed, "campaign_ids": [campaign_id]}


@job("bulk_contact_activities")
def bulk_contact_activities(ctx: JobContext, selection: dict, day: str, subject: str,
                            activity_type: str, user_id: int | None = None,
                            fallback_user_id: int | None = None,
                            campaign_id: int | None = None) -> dict:
    """One activity per selected contact, slotted into users' calendars (the mass create)."""
    if activity_type not in set(ActivityType):
        raise BulkError(f"unknown activity type {activity_type!r}")
    chosen = selection_of(selection)
    result = plan_activities(ctx.run_id, chosen, date.fromisoformat(day), user_id,
                             fallback_user_id)
    result["created"] = create_from_plan(ctx.run_id, subject, activity_type, campaign_id,
                                         size=chunk_rows(), step=ctx.progress_aside)
    _workflows(ctx, result)
    ctx.progress(result["created"], result["created"])  # commits
    _send_if_queued(result)
    return result


@job("bulk_export_contacts")
def bulk_export_contacts(ctx: JobContext, selection: dict) -> dict:
    """The selected contacts as a formula-safe CSV file (models.csv_cells), by id chunks."""
    chosen = selection_of(selection)
    folder = Path(current_app.config["KOHDE_DATA_DIR"]) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ctx.run_id}.csv"
    low, high, total = bounds(chosen)
    ctx.progress(0, total)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv_cells.writer(fh, quoting=csv.QUOTE_MINIMAL)
        out.writerow(EXPORT_COLUMNS)
        for start, end in chunks(low, high):
            for row in export_rows(chosen, start, end):
                out.writerow(row)
                written += 1
            ctx.progress(written, total)
    return {"exported": written, "report_path": str(path)}


@job("bulk_campaign_cleanup")
def bulk_campaign_cleanup(ctx: JobContext, selection: dict, action: str) -> dict:
    """Remove email duplicates or opted-out members from each selected campaign (the
    audience's own removal, recorded under this job for undo); inactive ones are skipped."""
    if action not in CLEANUPS:
        raise BulkError(f"unknown clean-up {action!r}")
    chosen = selection_of(selection)
    ids = _ids(selected(chosen).order_by("id"))
    done, removed, skipped, per_campaign = 0, 0, [], {}
    ctx.progress(0, len(ids))
    for campaign_id in ids:
        try:
            check_request(campaign_id, action)
        except AudienceError as exc:
            skipped.append(str(exc))
        else:
            take_turn(campaign_id)
            gone = remove_members(ctx.run_id, campaign_id, Action(action))
            per_campaign[str(campaign_id)] = gone
            removed += gone
        done += 1
        ctx.progress(done, len(ids))  # one campaign at a time: each its own commit
    return {"removed": removed, "campaign_ids": [int(c) for c in per_campaign],
            "per_campaign": per_campaign, "skipped": len(skipped),
            "skipped_reasons": [reason[:300] for reason in skipped[:20]]}


@job("bulk_refresh_groups")
def bulk_refresh_groups(ctx: JobContext, selection: dict) -> dict:
    """Refresh each selected target group's members, one group (one commit) at a time."""
    chosen = selection_of(selection)
    ids = _ids(selected(chosen).order_by("id"))
    ctx.progress(0, len(ids))
    members, skipped = 0, []
    for done, group_id in enumerate(ids, start=1):
        group = db.session.get(TargetGroup, group_id)
        problems = validate(group.criteria, group.id)
        if problems:  # the rest still refresh; the result names the ones that could not
            skipped.append({"id": group.id, "problems": problems[:5]})
            ctx.progress(done, len(ids))
            continue
        members += refresh(group)["members"]
        ctx.progress(done, len(ids))
    return {"groups": len(ids) - len(skipped), "members": members, "skipped": len(skipped),
            "skipped_groups": skipped[:20]}


@job("bulk_outbox")
def bulk_outbox(ctx: JobContext, selection: dict, operation: str) -> dict:
    """Retry the selected failed messages, or cancel the selected queued ones."""
    chosen = selection_of(selection)
    if operation == "retry":
        changed = retry_failed(chosen)
    elif operation == "cancel":
        changed = cancel_queued(chosen)
    else:
        raise BulkError(f"unknown outbox operation {operation!r}")
    ctx.progress(changed, changed)
    if operation == "retry" and changed:
        start_senders()
    return {"changed": changed}


def _params(selection: Selection, **more) -> dict:
    return {"selection": selection.to_params(), **more}


def start_join_campaign(selection: Selection, campaign_id: int, *,
                        started_by: int | None = None) -> JobRun:
    """Queue adding the selected contacts (or companies' contacts) to a campaign."""
    _active(campaign_id)
    return enqueue("bulk_join_campaign", _params(selection, campaign_id=campaign_id),
                   user_id=started_by)


def start_leave_campaign(selection: Selection, campaign_id: int, *,
                         started_by: int | None = None) -> JobRun:
    """Queue removing the selected contacts from a campaign."""
    _active(campaign_id)
    return enqueue("bulk_leave_campaign", _params(selection, campaign_id=campaign_id),
                   user_id=started_by)


def _active(campaign_id: int) -> None:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaign.active:
        raise BulkError("choose an active campaign")


def start_contact_activities(selection: Selection, day: date, *, subject: str,
                             activity_type: str, user_id: int | None = None,
                             fallback_user_id: int | None = None,
                             campaign_id: int | None = None,
                             started_by: int | None = None) -> JobRun:
    """Queue one slotted activity per selected contact (for ``user_id``, else each
    contact's owner with ``fallback_user_id`` for the ownerless)."""
    return enqueue("bulk_contact_activities", _params(
        selection, day=day.isoformat(), subject=subject, activity_type=activity_type,
        user_id=user_id, fallback_user_id=fallback_user_id, campaign_id=campaign_id),
        user_id=started_by)


def start_export_contacts(selection: Selection, *, started_by: int | None = None) -> JobRun:
    """Queue a CSV export of the selected contacts (downloaded from the job's page)."""
    return enqueue("bulk_export_contacts", _params(selection), user_id=started_by)


def start_campaign_cleanup(selection: Selection, action: str, *,
                           started_by: int | None = None) -> JobRun:
    """Queue removing email duplicates (``dedupe_email``) or opted-out members
    (``prune_opted_out``) from each selected campaign."""
    return enqueue("bulk_campaign_cleanup", _params(selection, action=action),
                   user_id=started_by)


def start_refresh_groups(selection: Selection, *, started_by: int | None = None) -> JobRun:
    """Queue a refresh of each selected target group."""
    return enqueue("bulk_refresh_groups", _params(selection), user_id=started_by)


def start_outbox(selection: Selection, operation: str, *,
                 started_by: int | None = None) -> JobRun:
    """Queue ``retry`` (failed → queued) or ``cancel`` (queued → suppressed: cancelled) of
    the selected messages."""
    return enqueue("bulk_outbox", _params(selection, operation=operation), user_id=started_by)



