"""Activity jobs: mass-create a target group's activities, create a wizard run's activities.

The planning and the SQL live in ``models.activities`` (slots, assignment, the
wizard's checks); these functions run them as jobs, and the ``start_*``
functions are what pages and commands call.
"""

from __future__ import annotations

from datetime import date

from models import ActivityType, ActivityWizardRun, JobRun, WizardMode, db
from models.activities.listing import made_count
from models.activities.slots import ActivityError, create_from_plan, plan, plan_for
from models.activities.wizard_plan import assigned, create_shared, run_problems
from models.jobs import failed
from models.workflows import run_for as run_workflows

from .email.sender import start_senders
from .runs import JobContext, enqueue, job
from .split import chunk_rows


def start_group_activities(
    group_id: int,
    day: date | str,
    *,
    subject: str = "Call",
    activity_type: str = ActivityType.CALL.value,
    user_id: int | None = None,
    fallback_user_id: int | None = None,
    campaign_id: int | None = None,
    started_by: int | None = None,
) -> JobRun:
    """Queue the mass creation of one activity per member of a target group.

    ``user_id`` is whom the activities are for (None: each contact's owner, with
    ``fallback_user_id`` for contacts without one); ``started_by`` is who asked.
    """
    params = {
        "group_id": group_id,
        "day": day if isinstance(day, str) else day.isoformat(),
        "subject": subject,
        "activity_type": activity_type,
        "user_id": user_id,
        "fallback_user_id": fallback_user_id,
        "campaign_id": campaign_id,
    }
    return enqueue("group_activities", params, user_id=started_by)


def start_wizard_activities(run_id: int, started_by: int | None = None) -> JobRun:
    """Queue the creation of a group-activity wizard run's activities."""
    return enqueue("activity_wizard", {"run_id": run_id}, user_id=started_by)


@job("group_activities")
def create_group_activities(
    ctx: JobContext,
    group_id: int,
    day: str,
    subject: str = "Call",
    activity_type: str = ActivityType.CALL.value,
    user_id: int | None = None,
    fallback_user_id: int | None = None,
    campaign_id: int | None = None,
) -> dict:
    """One activity per group member, slotted into users' calendars (one transaction)."""
    if activity_type not in set(ActivityType):
        raise ActivityError(f"unknown activity type {activity_type!r}")
    result = plan(ctx.run_id, group_id, date.fromisoformat(day), user_id, fallback_user_id)
    # Ranged, in one transaction: progress goes out with the heartbeat (progress_aside).
    result["created"] = create_from_plan(ctx.run_id, subject, activity_type, campaign_id,
                                         size=chunk_rows(), step=ctx.progress_aside)
    _workflows(ctx, result)
    ctx.progress(result["created"], result["created"])  # commits
    _send_if_queued(result)
    return result


def _workflows(ctx: JobContext, result: dict) -> None:
    """Seed 004: the workflows over the job's activities, set-based, in the same transaction."""
    runs = run_workflows(job_id=ctx.run_id, trigger="mass")
    if runs:
        result["workflows"] = {"added": sum(r.added for r in runs),
                               "queued": sum(r.queued for r in runs)}


def _send_if_queued(result: dict) -> None:
    if (result.get("workflows") or {}).get("queued"):
        start_senders()



@job("activity_wizard")
def create_wizard_activities(ctx: JobContext, run_id: int) -> dict:
    """Create a wizard run's activities, one shared or one per contact (one transaction)."""
    run = db.session.get(ActivityWizardRun, run_id)
    if run is None:
        raise ActivityError(f"no wizard run {run_id}")
    if run.job_id not in (None, ctx.run_id) and not failed(run.job_id):
        raise ActivityError(f"wizard run {run_id} already made its activities (job {run.job_id})")
    if made := made_count(ctx.run_id):  # a repeat after a crash past the commit
        return {"created": made}
    problems = run_problems(run)
    if problems:
        raise ActivityError("; ".join(problems))
    run.job_id = ctx.run_id
    details = run.details
    if run.mode == WizardMode.SHARED:
        activity, contacts = create_shared(run, ctx.run_id)
        result = {"created": 1, "contacts": contacts, "unassigned": 0,
                  "per_user": {str(run.user_id): {details["day"]: 1}}}
    else:
        result = plan_for(ctx.run_id, assigned(run), date.fromisoformat(details["day"]))
        result["created"] = create_from_plan(
            ctx.run_id, details["subject"].strip(), details["activity_type"],
            details.get("campaign_id"), details.get("notes") or "")
        result["contacts"] = result["created"]
    _workflows(ctx, result)
    ctx.progress(result["created"], result["created"])  # commits
    _send_if_queued(result)
    return result
