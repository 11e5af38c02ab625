"""The jobs screen, a live progress bar, and the contact import page."""

from __future__ import annotations

from pathlib import Path

from flask import abort, flash, redirect, send_file, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape

from jobs.bulk import can_undo, start_undo
from jobs.runs import attempts
from models import STUCK, JobRun, JobStatus, db
from models.labels import choices, label

from ..i18n import number
from .base import Permission, ReadOnlyModelView, can
from .bulk import BulkActionsMixin
from .bulk.lists import JOB_ACTIONS
from .bulk.sentences import bulk_sentence
from .job_summary import params_of, result_of
from .related import when

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
    undone = " ↶" if (model.result or {}).get("undone_by") else ""
    return Markup(f'<span class="badge badge-{badge}" data-status="{escape(status)}">'
                  f"{escape(str(label(status, JobStatus)))}{undone}</span>")


def _attempt(view, context, model, name):
    if model.attempt <= 1:
        return ""
    waiting = ""
    if model.status == JobStatus.QUEUED and model.not_before:
        waiting = " " + _("(from %(time)s)", time=when(model.not_before, with_seconds=True))
    return f"{model.attempt}{waiting}"


def _progress(view, context, model, name):
    total = f" / {number(model.progress_total)}" if model.progress_total else ""
    return f"{number(model.progress_done)}{total} ({model.percent} %)"


def _error_head(view, context, model, name):
    return (model.error or "").split("\n", 1)[0][:160]


def _result(view, context, model, name):
    # The result in words, as on the job's page; links stay links.
    said = bulk_sentence(model)
    if said:
        return said
    rows = result_of(model) if model.result else []
    return Markup("; ").join(Markup("{} {}").format(words, shown) for _k, words, shown in rows)


def may_undo(run: JobRun) -> bool:
    """Users undo their own jobs; an admin undoes anyone's (the README's role matrix)."""
    return can(Permission.UNDO_ANY_JOB) or (
        current_user.is_authenticated and run.user_id == current_user.id)


def progress_context() -> dict:
    """What templates/kohde/jobs/_progress.html needs, for every page that includes it (the
    job's page, its live partial, the wizard's step 6)."""
    return {"undoable": can_undo, "may_undo": may_undo, "result_of": result_of,
            "bulk_sentence": bulk_sentence,
            "job_by_id": lambda run_id: db.session.get(JobRun, run_id),
            "when": when}


class JobRunView(BulkActionsMixin, ReadOnlyModelView):
    """Every job the product started: who, what, status, progress, counts, error."""

    bulk_area = "jobs"
    bulk_actions = JOB_ACTIONS

    column_list = ["kind", "status", "attempt", "progress", "user", "enqueued_at",
                   "duration", "result", "error", "id"]
    column_default_sort = ("enqueued_at", True)
    column_filters = ["kind", "status", "attempt", "enqueued_at", "user.email"]
    column_choices = {"kind": choices("job"), "status": choices(JobStatus)}
    column_labels = {"user.email": _l("Started by"), "user": _l("Started by"),
                     "enqueued_at": _l("Queued"), "kind": _l("Job"),
                     "progress": _l("Progress"), "duration": _l("Duration")}
    column_searchable_list = ["id", "kind"]
    column_formatters = {
        "kind": lambda v, c, m, n: label(m.kind, "job"),
        "status": _status_badge,
        "progress": _progress,
        "duration": lambda v, c, m, n: f"{m.duration_seconds:.1f} s" if m.started_at else "",
        "error": _error_head,
        "attempt": _attempt,
        "result": _result,
        "enqueued_at": lambda v, c, m, n: when(m.enqueued_at),
        "heartbeat_at": lambda v, c, m, n: when(m.heartbeat_at, with_seconds=True),
        "lease_expires_at": lambda v, c, m, n: when(m.lease_expires_at, with_seconds=True),
    }
    column_formatters_detail = column_formatters
    details_template = "kohde/jobs/details.html"
    # What the job was asked is above the table in words (params_of); what changes while a
    # job runs is in the live partial.
    column_details_list = ["id", "kind", "user", "scheduled_action", "enqueued_at",
                           "worker_name", "worker_host", "worker_pid", "heartbeat_at",
                           "lease_expires_at"]

    def get_query(self):
        """The jobs people started: the chunks of a split job are summed up in its row
        (rule 4), not listed beside it."""
        return super().get_query().filter(JobRun.parent_id.is_(None))

    def get_count_query(self):  # noqa: D102 (the same restriction as the list)
        return super().get_count_query().filter(JobRun.parent_id.is_(None))

    def render(self, template, **kwargs):  # noqa: D102 (the details page offers undo)
        kwargs = {**progress_context(), "attempts": attempts, "params_of": params_of, **kwargs}
        return super().render(template, **kwargs)

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
        """Start the undo of a finished audience or bulk job, as a job of its own (a user
        undoes only their own jobs)."""
        run = self._run(run_id)
        if not can_undo(run):
            flash(_("Job %(id)s cannot be undone.", id=run.id), "error")
            return redirect(url_for(".details_view", id=run.id))
        if not may_undo(run):
            abort(403, description=_("Only the person who started job %(id)s, or an admin, "
                                     "can undo it.", id=run.id))
        undo_run = start_undo(run, started_by=current_user.id)
        flash(_("Undoing %(id)s: job %(undo)s started.", id=run.id, undo=undo_run.id), "info")
        return redirect(url_for(".details_view", id=undo_run.id))

    @staticmethod
    def _run(run_id: str) -> JobRun:
        run = db.session.get(JobRun, run_id)
        if run is None:
            abort(404)
        return run
