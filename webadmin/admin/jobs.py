"""The jobs screen, a live progress bar, and the contact import page."""

from __future__ import annotations

from pathlib import Path

from flask import abort, flash, redirect, send_file, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from jobs.bulk import can_undo, start_undo
from jobs.runs import attempts
from models import STUCK, JobRun, JobStatus, db

from .base import ReadOnlyModelView
from .bulk import BulkActionsMixin
from .bulk.lists import JOB_ACTIONS

STATUS_BADGE = {
    JobStatus.QUEUED: "secondary",
    JobStatus.RUNNING: "primary",
    JobStatus.DONE: "success",
    JobStatus.FAILED: "danger",
    STUCK: "warning",
}


def _status_badge(view, context, model, name):
    status = model.shown_status  # "stuck": running, but its worker stopped renewing the lease
    badge = STATUS_BADGE.get(status, "secondary")
    return Markup(f'<span class="badge badge-{badge}" data-status="{escape(status)}">'
                  f"{escape(status)}</span>")


def _attempt(view, context, model, name):
    if model.attempt <= 1:
        return ""
    waiting = ""
    if model.status == JobStatus.QUEUED and model.not_before:
        waiting = f" (from {model.not_before:%H:%M:%S})"
    return f"{model.attempt}{waiting}"


def _progress(view, context, model, name):
    total = f" / {model.progress_total:,}" if model.progress_total else ""
    return f"{model.progress_done:,}{total} ({model.percent} %)"


def _error_head(view, context, model, name):
    return (model.error or "").split("\n", 1)[0][:160]


def undoable(run: JobRun) -> bool:
    """A finished audience or bulk job that nobody has undone yet, and that the current
    user may undo (a user their own jobs, an admin anyone's)."""
    return can_undo(run) and (current_user.is_admin or run.user_id == current_user.id)


class JobRunView(BulkActionsMixin, ReadOnlyModelView):
    """Every job the product started: who, what, status, progress, counts, error."""

    bulk_area = "jobs"
    bulk_actions = JOB_ACTIONS

    column_list = ["id", "kind", "status", "attempt", "progress", "user", "enqueued_at",
                   "duration", "result", "error"]
    column_default_sort = ("enqueued_at", True)
    column_filters = ["kind", "status", "attempt", "enqueued_at", "user.email"]
    column_labels = {"user.email": "Started by"}
    column_searchable_list = ["id", "kind"]
    column_formatters = {
        "status": _status_badge,
        "progress": _progress,
        "duration": lambda v, c, m, n: f"{m.duration_seconds:.1f} s" if m.started_at else "",
        "error": _error_head,
        "attempt": _attempt,
    }
    details_template = "kohde/jobs/details.html"

    def render(self, template, **kwargs):  # noqa: D102 (the details page offers undo)
        kwargs.setdefault("undoable", undoable)
        kwargs.setdefault("attempts", attempts)
        return super().render(template, **kwargs)
    # What changes while a job runs is in the live partial above the table, not here.
    column_details_list = ["id", "kind", "user", "scheduled_action", "params", "enqueued_at",
                           "worker_name", "worker_host", "worker_pid", "heartbeat_at",
                           "lease_expires_at"]

    @expose("/progress/<run_id>")
    def progress(self, run_id: str):
        """The progress partial htmx polls while a job runs (it stops polling when done)."""
        return self.render("kohde/jobs/_progress.html", run=self._run(run_id))

    @expose("/report/<run_id>")
    def report(self, run_id: str):
        """Download the row-by-row report a job wrote (e.g. rejected import rows)."""
        run = self._run(run_id)
        path = (run.result or {}).get("report_path")
        if not path or not Path(path).is_file():
            abort(404)
        return send_file(path, mimetype="text/csv", as_attachment=True,
                         download_name=f"{run.id}-report.csv")

    @expose("/undo/<run_id>", methods=["POST"])
    def undo(self, run_id: str):
        """Start the undo of a finished audience or bulk job, as a job of its own."""
        run = self._run(run_id)
        if can_undo(run) and not undoable(run):
            abort(403, description=_("Job %(id)s was started by someone else: only they or an "
                                     "admin can undo it.", id=run.id))
        if not undoable(run):
            flash(_("Job %(id)s cannot be undone.", id=run.id), "error")
            return redirect(url_for(".details_view", id=run.id))
        undo_run = start_undo(run, started_by=current_user.id)
        flash(f"Undoing {run.id}: job {undo_run.id} started.", "info")
        return redirect(url_for(".details_view", id=undo_run.id))

    @staticmethod
    def _run(run_id: str) -> JobRun:
        run = db.session.get(JobRun, run_id)
        if run is None:
            abort(404)
        return run
