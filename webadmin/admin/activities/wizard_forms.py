"""The group-activity wizard's posted forms, read into its run (or into an edit).

Each ``save_*`` copies what a step posted into the run and returns the problems
that keep the wizard on that step: the state is kept even when it is not valid
yet, so Back and Next never lose what was typed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import request

from models import (
    ActivityStatus,
    ActivityType,
    ActivityWizardRun,
    Campaign,
    TargetGroup,
    User,
    WizardAssignment,
    WizardMode,
    WizardSource,
    db,
)
from models.activities.wizard_plan import assignment_problems, details_problems
from models.criteria import validate
from models.criteria.validation import loads
from models.settings import installation_tz

MAX_ID = 2**31 - 1  # an integer column's range: a larger number cannot be anyone's id
MAX_SHIFT_DAYS = 3650


def _id_text(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and int(raw) <= MAX_ID else None


def _int(name: str) -> int | None:
    """A posted whole number (at most an id's range), or None when empty or not one."""
    return _id_text(request.form.get(name) or "")


def _ints(name: str) -> list[int]:
    return sorted({i for v in request.form.getlist(name) if (i := _id_text(v)) is not None})


def _existing(model, name: str, label: str, problems: list[str]) -> int | None:
    """The id of an existing row posted as ``name``; a problem when it names none."""
    raw = (request.form.get(name) or "").strip()
    found = _id_text(raw)
    if not raw:
        return None
    if found is None or db.session.get(model, found) is None:
        problems.append(f"no such {label}: {raw!r}")
        return None
    return found


def today() -> date:
    """Today in the installation's time zone."""
    return datetime.now(installation_tz()).date()


def save_mode(run: ActivityWizardRun) -> list[str]:
    """Step 1: one shared activity or one per contact."""
    mode = request.form.get("mode", "")
    if mode not in set(WizardMode):
        return ["choose one shared activity or one activity per contact"]
    run.mode = mode
    return []


def save_source(run: ActivityWizardRun) -> list[str]:
    """Step 2: conditions (the builder's JSON tree) or an existing target group."""
    source = request.form.get("source", "")
    if source not in set(WizardSource):
        return ["choose conditions or a target group"]
    run.source = source
    if source == WizardSource.GROUP:
        run.group_id = _existing(TargetGroup, "group_id", "target group", [])
        return [] if run.group_id else ["choose an existing target group"]
    tree, problems = loads(request.form.get("criteria") or "")
    if problems:
        return [f"conditions: {p}" for p in problems]
    problems = validate(tree)
    if not problems:
        run.criteria = tree
    return [f"conditions: {p}" for p in problems]


def save_assignment(run: ActivityWizardRun) -> list[str]:
    """Step 4: who gets the activities, and the activities' details."""
    assignment = request.form.get("assignment", WizardAssignment.USER)
    if run.mode == WizardMode.SHARED:
        assignment = WizardAssignment.USER
    if assignment not in set(WizardAssignment):
        return ["choose how the activities are assigned"]
    run.assignment = assignment
    unknown: list[str] = []  # only existing ids reach the run's foreign keys
    run.user_id = _existing(User, "user_id", "user", unknown)
    run.fallback_user_id = _existing(User, "fallback_user_id", "fallback user", unknown)
    run.user_ids = _ints("user_ids")
    details = {
        "activity_type": request.form.get("activity_type", ""),
        "subject": (request.form.get("subject") or "").strip(),
        "notes": request.form.get("notes") or "",
        "day": request.form.get("day", ""),
        "campaign_id": _existing(Campaign, "campaign_id", "campaign", unknown),
    }
    if run.mode == WizardMode.SHARED:
        details["start"] = request.form.get("start", "")
        details["duration_minutes"] = _int("duration_minutes")
    run.details = details
    problems = unknown + assignment_problems(run) + details_problems(details, run.mode)
    if "choose the day" not in problems and date.fromisoformat(details["day"]) < today():
        problems.append("choose today or a later day")
    return problems


def read_edit() -> tuple[dict, dict, list[str]]:
    """Step 7: the fields filled in (type, subject, notes, status) and the time change
    ({"shift": timedelta} or {"start": datetime}); every problem with them."""
    form, problems, changes = request.form, [], {}
    for name, allowed in (("type", set(ActivityType)), ("status", set(ActivityStatus))):
        value = form.get(name, "")
        if value and value not in allowed:
            problems.append(f"unknown {name} {value!r}")
        elif value:
            changes[name] = value
    subject = (form.get("subject") or "").strip()
    if len(subject) > 255:
        problems.append("the subject must be at most 255 characters")
    elif subject:
        changes["subject"] = subject
    if (form.get("notes") or "").strip():
        changes["notes"] = form["notes"]
    timing = {}
    try:
        days, minutes = int(form.get("shift_days") or 0), int(form.get("shift_minutes") or 0)
    except ValueError:
        problems.append("the shift must be whole days and minutes")
        days = minutes = 0
    if abs(days) + abs(minutes) / 1440 > MAX_SHIFT_DAYS:
        problems.append(f"shift by at most {MAX_SHIFT_DAYS} days")
    elif days or minutes:
        timing["shift"] = timedelta(days=days, minutes=minutes)
    if form.get("new_day") or form.get("new_time"):
        try:
            new_start = datetime.combine(date.fromisoformat(form.get("new_day", "")),
                                         time.fromisoformat(form.get("new_time", "")),
                                         installation_tz())
        except ValueError:
            problems.append("a new start needs both a day and a time")
        else:
            if "shift" in timing:
                problems.append("give either a shift or a new start, not both")
            timing["start"] = new_start
    if not problems and not changes and not timing:
        problems.append("fill in at least one field to change")
    return changes, timing, problems
