"""Bulk-action jobs on a list's selection (models.selections): set a column, move or
reassign activities, delete, and undo — chunked by primary key with progress per chunk
(docs/architecture.md, rule 4). A result holds counts and ids, never a sentence: the page
says it in the reader's language (webadmin/admin/bulk/sentences.py).

Pages and commands call the typed ``start_*`` functions; the selection travels as
primitives in the job's parameters, so the job acts on exactly the set that was shown.
Area actions that reuse other machinery (campaign membership, mass create, export,
refresh, outbox) are in ``jobs.bulk_areas``.
"""

from __future__ import annotations

from datetime import date, timedelta

from models import JobRun, JobStatus, User, db
from models.bulk.activities import reassign_slotted
from models.bulk.changes import (
    ACTIVE_SET,
    OPT_OUT_SET,
    OWNER_CHANGED,
    REASSIGNED,
    STATUS_SET,
    Change,
    chunks,
    delete_rows,
    forget,
    restore_column,
    restore_times,
    set_column,
    shift_times,
)
from models.campaigns.membership import revert
from models.selections import Selection, SelectionError, bounds

from .runs import JobContext, attempts, enqueue, job

# Every column a bulk action may set, by the name the job's parameters use.
CHANGES = {c.area + "." + c.column: c for c in (
    Change("contacts", "owner_id", OWNER_CHANGED),
    Change("contacts", "status", STATUS_SET),
    Change("contacts", "email_opt_out", OPT_OUT_SET),
    Change("companies", "owner_id", OWNER_CHANGED),
    Change("activities", "owner_id", REASSIGNED),
    Change("activities", "status", STATUS_SET),
    Change("campaigns", "active", ACTIVE_SET),
)}
# What a deleted row's audit entry keeps (the first one is its summary).
DELETED_SHOWN = {
    "contacts": {"email": "email", "first_name": "first_name", "last_name": "last_name"},
    "activities": {"subject": "subject", "number": "number", "owner_id": "owner_id"},
}
# Job kinds whose runs can be undone: column changes and times here, campaign membership
# (recorded by the audience machinery under the job's id) in jobs.bulk_areas.
MEMBERSHIP = {"bulk_join_campaign", "bulk_leave_campaign", "bulk_campaign_cleanup"}
UNDOABLE = {"bulk_set", "bulk_shift", "bulk_reassign_slotted", *MEMBERSHIP}


class BulkError(ValueError):
    """A bulk request that cannot run (no such column, user, campaign, …)."""


def selection_of(params: dict) -> Selection:
    """The selection stored in a job's parameters, checked again (BulkError if unusable)."""
    try:
        return Selection.from_params(params)
    except SelectionError as exc:
        raise BulkError(str(exc)) from None


def over_chunks(ctx: JobContext, selection: Selection, work) -> tuple[int, int]:
    """Run ``work(low, high) -> changed`` for each primary-key chunk of the selection,
    committing and recording progress after each; (rows selected, rows changed).

    Progress is the share of the id range done, in rows: counting each chunk's
    selected rows again would cost a second pass over the selection.
    """
    low, high, total = bounds(selection)
    ctx.progress(0, total)
    changed = 0
    for start, end in chunks(low, high):
        changed += work(start, end)
        ctx.progress(round(total * (end - low + 1) / (high - low + 1)), total)
    return total, changed


def earlier_attempts(run_id: str) -> list[str]:
    """The ids of the attempts of this run's request before it (a retry after a crash
    follows a run whose committed chunks are recorded under that run's id)."""
    ids = [run.id for run in attempts(db.session.get(JobRun, run_id))]
    return ids[:ids.index(run_id)]


@job("bulk_set")
def bulk_set(ctx: JobContext, selection: dict, change: str, value=None, note: str = "") -> dict:
    """Set one column on every selected row (recorded for undo, audited per row)."""
    spec = CHANGES.get(change)
    if spec is None:
        raise BulkError(f"a bulk action cannot set {change!r}")
    chosen = selection_of(selection)
    if chosen.area != spec.area:
        raise BulkError(f"{change} is not a column of {chosen.area}")
    if spec.column == "owner_id" and value is not None and db.session.get(User, value) is None:
        raise BulkError(f"user {value} does not exist")
    total, changed = over_chunks(ctx, chosen, lambda low, high: set_column(
        ctx.run_id, chosen, spec, value, low, high, user_id=ctx.user_id, note=note))
    return {"selected": total, "changed": changed, "unchanged": total - changed}


@job("bulk_shift")
def bulk_shift(ctx: JobContext, selection: dict, minutes: int) -> dict:
    """Move every selected activity by ``minutes`` (recorded for undo, audited)."""
    chosen = selection_of(selection)
    if chosen.area != "activities" or not isinstance(minutes, int) or not minutes:
        raise BulkError("a shift moves activities by a whole, non-zero number of minutes")
    done_by = earlier_attempts(ctx.run_id)
    total, moved = over_chunks(ctx, chosen, lambda low, high: shift_times(
        ctx.run_id, chosen, timedelta(minutes=minutes), low, high, user_id=ctx.user_id,
        done_by=done_by))
    return {"selected": total, "moved": moved}


@job("bulk_reassign_slotted")
def bulk_reassign_slotted(ctx: JobContext, selection: dict, user_id: int, day: str) -> dict:
    """Give the selected activities to a user in their free slots from ``day`` on (one
    transaction: the planner pairs all of them at once)."""
    chosen = selection_of(selection)
    if db.session.get(User, user_id) is None:
        raise BulkError(f"user {user_id} does not exist")
    result = reassign_slotted(ctx.run_id, chosen, user_id, date.fromisoformat(day),
                              user_id_acting=ctx.user_id)
    ctx.progress(result["moved"], result["moved"])  # commits
    return result


@job("bulk_delete")
def bulk_delete(ctx: JobContext, selection: dict) -> dict:
    """Delete every selected row (contacts, activities), each audited; not undoable."""
    chosen = selection_of(selection)
    shown = DELETED_SHOWN.get(chosen.area)
    if shown is None:
        raise BulkError(f"{chosen.area} cannot be deleted in bulk")
    total, deleted = over_chunks(ctx, chosen, lambda low, high: delete_rows(
        ctx.run_id, chosen, low, high, user_id=ctx.user_id, shown=shown))
    return {"selected": total, "deleted": deleted}


@job("undo_bulk")
def undo_bulk(ctx: JobContext, run_id: str) -> dict:
    """Put back what one finished bulk job changed, where nobody changed it since."""
    original = db.session.get(JobRun, run_id)
    if original is None or original.kind not in UNDOABLE:
        raise BulkError(f"{run_id} is not a bulk job that can be undone")
    if original.status != JobStatus.DONE:
        raise BulkError(f"job {run_id} is {original.status}; only a finished job can be undone")
    if original.result.get("undone_by"):
        raise BulkError(f"job {run_id} was already undone by {original.result['undone_by']}")
    params = original.params
    restored = kept = 0
    if original.kind in MEMBERSHIP:
        for campaign_id in original.result.get("campaign_ids", []):
            removed, put_back = revert(run_id, campaign_id)
            restored += removed + put_back
    else:
        # Chunks an earlier attempt committed before it died are recorded under its id.
        for attempt_id in [*earlier_attempts(run_id), run_id]:
            if original.kind == "bulk_set":
                back, left = restore_column(attempt_id, CHANGES[params["change"]],
                                            params.get("value"), user_id=ctx.user_id,
                                            undo_id=ctx.run_id)
            else:
                back, left = restore_times(
                    attempt_id, with_owner=original.kind == "bulk_reassign_slotted",
                    user_id=ctx.user_id, undo_id=ctx.run_id)
            restored, kept = restored + back, kept + left
            forget(attempt_id)
    original.result = {**original.result, "undone_by": ctx.run_id}
    ctx.progress(restored, restored)  # commits
    return {"undid": run_id, "restored": restored, "kept": kept}


def start_bulk_set(selection: Selection, change: str, value, *, note: str = "",
                   started_by: int | None = None) -> JobRun:
    """Queue setting ``change`` (``"contacts.owner_id"``, …; see CHANGES) on a selection."""
    if change not in CHANGES:
        raise BulkError(f"a bulk action cannot set {change!r}")
    return enqueue("bulk_set", {"selection": selection.to_params(), "change": change,
                                "value": value, "note": note}, user_id=started_by)


def start_set_owner(selection: Selection, owner_id: int | None, *,
                    started_by: int | None = None) -> JobRun:
    """Queue a change of owner of the selected contacts, companies or activities (the
    activities keep their times)."""
    return start_bulk_set(selection, f"{selection.area}.owner_id", owner_id,
                          started_by=started_by)


def start_set_status(selection: Selection, status: str, *,
                     started_by: int | None = None) -> JobRun:
    """Queue setting the status of the selected contacts or activities."""
    return start_bulk_set(selection, f"{selection.area}.status", status, started_by=started_by)


def start_opt_out(selection: Selection, opted_out: bool, reason: str, *,
                  started_by: int | None = None) -> JobRun:
    """Queue opting the selected contacts out of email (or back in), with the reason."""
    return start_bulk_set(selection, "contacts.email_opt_out", opted_out, note=reason,
                          started_by=started_by)


def start_set_active(selection: Selection, active: bool, *,
                     started_by: int | None = None) -> JobRun:
    """Queue activating or deactivating the selected campaigns."""
    return start_bulk_set(selection, "campaigns.active", active, started_by=started_by)


def start_shift(selection: Selection, minutes: int, *, started_by: int | None = None) -> JobRun:
    """Queue moving the selected activities by ``minutes`` (negative: earlier)."""
    return enqueue("bulk_shift", {"selection": selection.to_params(), "minutes": minutes},
                   user_id=started_by)


def start_reassign_slotted(selection: Selection, user_id: int, day: date, *,
                           started_by: int | None = None) -> JobRun:
    """Queue giving the selected activities to ``user_id`` in free slots from ``day`` on."""
    return enqueue("bulk_reassign_slotted", {"selection": selection.to_params(),
                                             "user_id": user_id, "day": day.isoformat()},
                   user_id=started_by)


def start_delete(selection: Selection, *, started_by: int | None = None) -> JobRun:
    """Queue deleting the selected contacts or activities."""
    return enqueue("bulk_delete", {"selection": selection.to_params()}, user_id=started_by)


def start_undo_bulk(run_id: str, *, started_by: int | None = None) -> JobRun:
    """Queue the undo of one finished bulk job."""
    return enqueue("undo_bulk", {"run_id": run_id}, user_id=started_by)


def can_undo(run: JobRun) -> bool:
    """A finished audience or bulk job that nobody has undone yet."""
    return (run.kind in UNDOABLE | {"campaign_audience"} and run.status == JobStatus.DONE
            and not (run.result or {}).get("undone_by"))


def start_undo(run: JobRun, *, started_by: int | None = None) -> JobRun:
    """Queue the undo of a finished job, whichever kind of undo it needs."""
    if not can_undo(run):
        raise BulkError(f"job {run.id} cannot be undone")
    if run.kind == "campaign_audience":
        from .campaigns import start_undo_audience  # the audience has its own undo job
        return start_undo_audience(run.id, started_by=started_by)
    return start_undo_bulk(run.id, started_by=started_by)
