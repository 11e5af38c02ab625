"""The home page: counts of what the installation holds and recent jobs."""

from __future__ import annotations

from datetime import timedelta

from flask import redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user
from sqlalchemy import select

from jobs.schedules import last_tick, overdue_actions
from models import JobRun, clock, db
from models.dashboard import dashboard_counts


def scheduler_status() -> dict:
    """The scheduler's last tick and the scheduled actions that are overdue."""
    tick = last_tick()
    now = clock.now()
    return {"last_tick": tick, "overdue": overdue_actions(now),
            "stale": tick is None or now - tick.ticked_at > timedelta(minutes=5)}


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
                           scheduler=scheduler_status())
