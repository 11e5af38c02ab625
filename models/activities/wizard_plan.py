"""The group-activity wizard's work: check a run, plan its report, create its activities.

Per-contact runs go through the same set-based planner as target-group mass
creation (jobs.activities): the run's selection (chosen contacts less the
exclusions) and its assignment (jobs.activity_assignment) make the one SELECT
the planner slots. A shared run is one numbered activity whose contact links
are one INSERT … SELECT of the selection.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, insert, literal, select
from sqlalchemy.sql import Select

from models import (
    Activity,
    ActivityContact,
    ActivityPlan,
    ActivityType,
    ActivityWizardRun,
    Campaign,
    Company,
    Contact,
    TargetGroup,
    User,
    WizardAssignment,
    WizardMode,
    WizardSource,
    db,
)
from models.activities.wizard import selected_ids
from models.criteria import validate
from models.groups.queries import count_of
from models.settings import installation_tz

from .assignment import evenly, to_owner, to_user
from .slots import plan_for

links, plans = ActivityContact.__table__, ActivityPlan.__table__
MAX_MINUTES = 7 * 24 * 60  # a shared activity lasts at most a week


def assigned(run: ActivityWizardRun) -> Select:
    """(contact_id, owner_id, company_id) of every selected contact, as the run assigns them."""
    ids = selected_ids(run)
    if run.mode == WizardMode.SHARED or run.assignment == WizardAssignment.USER:
        return to_user(ids, run.user_id)
    if run.assignment == WizardAssignment.EVEN:
        return evenly(ids, run.user_ids or [])
    return to_owner(ids, run.fallback_user_id)


def _active_user(user_id) -> bool:
    return bool(user_id) and db.session.scalar(
        select(func.count()).where(User.id == user_id, User.active.is_(True))
    ) == 1


def source_problems(run: ActivityWizardRun) -> list[str]:
    """What is wrong with step 2's choice (empty: the contacts can be selected)."""
    if run.source == WizardSource.GROUP:
        if run.group_id is None or db.session.get(TargetGroup, run.group_id) is None:
            return ["choose an existing target group"]
        return []
    return [f"conditions: {p}" for p in validate(run.criteria)]


def assignment_problems(run: ActivityWizardRun) -> list[str]:
    """What is wrong with step 4's choice of users."""
    if run.mode == WizardMode.SHARED or run.assignment == WizardAssignment.USER:
        return [] if _active_user(run.user_id) else ["choose the responsible user"]
    if run.assignment == WizardAssignment.EVEN:
        ids = [i for i in run.user_ids or [] if isinstance(i, int)]
        found = db.session.scalar(
            select(func.count()).where(User.id.in_(ids), User.active.is_(True))
        ) if ids else 0
        if not found or found != len(set(ids)):
            return ["choose the users to share the activities"]
        return []
    if run.fallback_user_id and not _active_user(run.fallback_user_id):
        return ["the fallback user does not exist (any more)"]
    return []


def details_problems(details: dict, mode: str) -> list[str]:
    """What is wrong with the activity details (type, subject, day, start, campaign)."""
    problems = []
    if details.get("activity_type") not in set(ActivityType):
        problems.append("choose the activity type")
    if not 1 <= len((details.get("subject") or "").strip()) <= 255:
        problems.append("the subject must be 1–255 characters")
    try:
        date.fromisoformat(details.get("day") or "")
    except ValueError:
        problems.append("choose the day")
    if mode == WizardMode.SHARED:
        try:
            time.fromisoformat(details.get("start") or "")
        except ValueError:
            problems.append("choose the start time")
        duration = details.get("duration_minutes")
        if not isinstance(duration, int) or not 1 <= duration <= MAX_MINUTES:
            problems.append(f"the duration must be 1–{MAX_MINUTES} whole minutes")
    campaign_id = details.get("campaign_id")
    if campaign_id is not None and db.session.get(Campaign, campaign_id) is None:
        problems.append("the campaign does not exist (any more)")
    return problems


def run_problems(run: ActivityWizardRun) -> list[str]:
    """Everything that stops the run from creating its activities."""
    problems = source_problems(run)
    if not problems and count_of(selected_ids(run)) == 0:
        problems.append("no contacts are selected: change the conditions or the exclusions")
    return problems + assignment_problems(run) + details_problems(run.details or {}, run.mode)


def shared_times(run: ActivityWizardRun) -> tuple[datetime, datetime]:
    """A shared activity's start and end: the chosen day and time in the installation's zone."""
    tz = installation_tz()
    start = datetime.combine(date.fromisoformat(run.details["day"]),
                             time.fromisoformat(run.details["start"]), tz)
    return start, start + timedelta(minutes=run.details["duration_minutes"])


def report_rows(run: ActivityWizardRun) -> list:
    """Who is included: contact, company, email, phone, assigned user, planned start.

    Per-contact runs are planned with the job's own SQL and the plan thrown away
    (a rollback), so the report says what "Create" will do; contacts nobody can
    take are listed without a user.
    """
    who = assigned(run).subquery("who")
    if run.mode == WizardMode.SHARED:
        start = literal(shared_times(run)[0], Activity.start_at.type)
        source, planned = who, start
    else:
        job_id = f"report-{uuid.uuid4().hex}"
        plan_for(job_id, assigned(run), date.fromisoformat(run.details["day"]))
        source = who.outerjoin(plans, (plans.c.job_id == job_id)
                               & (plans.c.contact_id == who.c.contact_id))
        planned = plans.c.start_at
    try:
        return db.session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name, Company.name.label("company"),
                   Contact.email, Contact.phone, User.name.label("user_name"),
                   User.email.label("user_email"), planned.label("start_at"))
            .select_from(source.join(Contact, Contact.id == who.c.contact_id)
                         .outerjoin(Company, Company.id == Contact.company_id)
                         .outerjoin(User, User.id == who.c.owner_id))
            .order_by(User.name.is_(None), User.name, planned, Contact.id)
        ).all()
    finally:
        db.session.rollback()


def create_shared(run: ActivityWizardRun, job_id: str) -> tuple[Activity, int]:
    """One numbered activity for the responsible user, every selected contact linked in
    one INSERT … SELECT; returns it and how many contacts it has."""
    start, end = shared_times(run)
    details = run.details
    activity = Activity(type=details["activity_type"], subject=details["subject"].strip(),
                        notes=details.get("notes") or "", owner_id=run.user_id, start_at=start,
                        end_at=end, campaign_id=details.get("campaign_id"),
                        job_id=job_id)
    db.session.add(activity)
    db.session.flush()  # the id (and so the number) for the links
    ids = selected_ids(run).subquery("ids")
    linked = db.session.execute(insert(links).from_select(
        ["activity_id", "contact_id"], select(literal(activity.id), ids.c.id)))
    return activity, linked.rowcount
