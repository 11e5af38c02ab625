"""The home page: counts of what the installation holds and recent jobs."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from models import JobRun, JobStatus, clock, db
from models import charts as numbers
from models.dashboard import dashboard_counts
from models.labels import label
from models.schedules.ledger import last_tick, overdue_actions
from models.settings import installation_tz

from .charts import Chart, chart
from .related import when


def scheduler_status() -> dict:
    """The scheduler's last tick and the scheduled actions that are overdue."""
    tick = last_tick(current_app.config["KOHDE_QUEUE"])
    now = clock.now()
    return {"last_tick": tick, "overdue": overdue_actions(now),
            "stale": tick is None or now - tick.ticked_at > timedelta(minutes=5)}


def _day(day) -> str:
    return day.strftime("%d.%m.")


def dashboard_charts() -> list[Chart]:
    """Messages per day (30 days), planned activities per owner (two weeks), job outcomes."""
    now, tz = clock.now(), installation_tz()
    messages = numbers.messages_per_day(now, tz)
    planned = numbers.activities_per_owner(now, tz)
    jobs = numbers.job_outcomes(now)
    return [
        chart("chart-messages", _("Email messages per day, last 30 days"), _("Day"),
              _("Messages"), [_day(d) for d in messages["categories"]], messages["series"],
              {"sent": _("Sent"), "suppressed": _("Not sent (suppressed)"),
               "failed": _("Failed")}),
        chart("chart-activities", _("Planned activities per owner, next two weeks"), _("Day"),
              _("Activities"), [_day(d) for d in planned["categories"]], planned["series"],
              {"others": _("Others")}),
        chart("chart-jobs", _("Job outcomes, last 30 days"), _("Outcome"), _("Job runs"),
              [str(label(s, JobStatus)) for s in jobs["categories"]], jobs["series"],
              {"runs": _("Job runs")}),
    ]


class DashboardView(AdminIndexView):
    """The back office's home page; needs a login like every other screen."""

    def is_accessible(self) -> bool:  # noqa: D102
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):  # noqa: D102
        return redirect(url_for("auth.login", next=request.full_path))

    @expose("/")
    def index(self):
        """Counts and the ten most recent jobs."""
        recent = db.session.scalars(select(JobRun).order_by(JobRun.enqueued_at.desc()).limit(10))
        return self.render("kohde/dashboard.html", counts=dashboard_counts(), recent_jobs=recent,
                           scheduler=scheduler_status(), charts=dashboard_charts(), when=when)
