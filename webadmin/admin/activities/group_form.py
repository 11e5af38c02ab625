"""Mass-create activities from a target group's details page: a form, a dry run, a job.

The form is loaded into the group's details page by htmx, so the target
group screen itself stays as it is. "Preview" plans with the job's own SQL
(models.activities.slots.dry_run) and throws the plan away; "Create" enqueues the
``group_activities`` job and goes to its progress page.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from jobs.activities import start_group_activities
from models import ActivityType, Campaign, TargetGroup, User, db
from models.activities.slots import ActivityError, dry_run
from models.campaigns import active_campaigns
from models.labels import choices
from models.settings import installation_tz
from models.users import active_users

from ..base import SecureView, go_to


def _optional_id(name: str, model, label: str) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or db.session.get(model, int(raw)) is None:
        raise ActivityError(f"no such {label}: {raw!r}")
    return int(raw)


def job_params(group_id: int) -> dict:
    """The posted form as the job's parameters; ActivityError names what is wrong."""
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        raise ActivityError("choose a day") from None
    subject = (request.form.get("subject") or "").strip()
    if not subject or len(subject) > 255:
        raise ActivityError("the subject must be 1–255 characters")
    activity_type = request.form.get("activity_type", "")
    if activity_type not in set(ActivityType):
        raise ActivityError(f"unknown activity type {activity_type!r}")
    user_id = None
    if request.form.get("assign") == "user":
        user_id = _optional_id("user_id", User, "user")
        if user_id is None:
            raise ActivityError("choose the user who gets the activities")
    return {
        "group_id": group_id, "day": day.isoformat(), "subject": subject,
        "activity_type": activity_type, "user_id": user_id,
        "fallback_user_id": _optional_id("fallback_user_id", User, "fallback user"),
        "campaign_id": _optional_id("campaign_id", Campaign, "campaign"),
    }


def _user_names(ids) -> dict[int, str]:
    rows = db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {r.id: r.name or r.email for r in rows}


class GroupActivitiesView(SecureView):
    """/admin/group_activities/<group id>/…: the form, its preview and the create button."""

    def is_visible(self) -> bool:
        """Reached from a target group's details page, not from the menu."""
        return False

    def _group(self, group_id: int) -> TargetGroup:
        group = db.session.get(TargetGroup, group_id)
        if group is None:
            abort(404)
        return group

    @expose("/")
    def index(self):
        """No group chosen: the target group list, where each group's page has the form."""
        return redirect(url_for("targetgroup.index_view"))

    @expose("/<int:group_id>/form")
    def form(self, group_id: int):
        """htmx partial for the group's details page: day, subject, type, who, campaign."""
        group = self._group(group_id)
        users = active_users()
        campaigns = active_campaigns()
        today = datetime.now(installation_tz()).date()
        return self.render("kohde/activities/group_form/_form.html", group=group, users=users,
                           campaigns=campaigns, types=choices(ActivityType),
                           today=today)

    @expose("/<int:group_id>/preview", methods=["POST"])
    def preview(self, group_id: int):
        """htmx: per user how many activities on which days, and how many nobody takes."""
        group = self._group(group_id)
        try:
            params = job_params(group.id)
            plan = dry_run(group.id, date.fromisoformat(params["day"]), params["user_id"],
                           params["fallback_user_id"])
        except ActivityError as exc:
            return self.render("kohde/activities/group_form/_preview.html", error=str(exc)), 400
        names = _user_names([int(k) for k in plan["per_user"]])
        rows = [(int(uid), names.get(int(uid), f"#{uid}"), days)
                for uid, days in plan["per_user"].items()]
        return self.render("kohde/activities/group_form/_preview.html", plan=plan, rows=rows,
                           group_id=group.id)

    @expose("/<int:group_id>/create", methods=["POST"])
    def create(self, group_id: int):
        """Enqueue the mass-creation and show the job's progress page."""
        group = self._group(group_id)
        try:
            params = job_params(group.id)
        except ActivityError as exc:
            flash(f"No activities created: {exc}", "error")
            return go_to(url_for("targetgroup.details_view", id=group.id))
        run = start_group_activities(**params, started_by=current_user.id)
        flash(f"Creating activities for {group.name}: job {run.id}.", "info")
        return go_to(url_for("jobrun.details_view", id=run.id))
