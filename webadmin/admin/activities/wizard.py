"""The group-activity wizard: seven steps, one page each, the state in the run's row.

/admin/activity_wizard/ lists your runs and starts a new one; /<run>/<step>
shows a step (GET) and saves it (POST: "next" goes on, "back" goes back, both
after saving). Steps: 1 shared or per contact, 2 contacts by conditions or
target group, 3 exclusions, 4 users and details, 5 report (print, CSV),
6 create (a job) and the created numbers, 7 edit them all at once.
"""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from jobs.activities import start_wizard_activities
from jobs.email.sender import start_senders
from models import (
    ActivityStatus,
    ActivityType,
    ActivityWizardRun,
    JobRun,
    JobStatus,
    Settings,
    TargetGroup,
    csv_cells,
    db,
)
from models.activities.edits import apply_to_all, shift_to
from models.activities.listing import made_by_job
from models.activities.wizard import (
    clear_exclusions,
    contacts_page,
    selection_counts,
    set_exclusions,
)
from models.activities.wizard_plan import report_rows, run_problems, source_problems
from models.campaigns import active_campaigns
from models.labels import choices
from models.settings import installation_tz
from models.users import active_users
from models.workflows import run_for as run_workflows

from ..base import SecureView
from ..criteria.builder import CriteriaField
from ..jobs import progress_context
from . import wizard_forms as forms

STEPS = ("Shared or per contact", "Contacts", "Exclusions", "Users and details", "Report",
         "Create", "Edit all")
PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # far past any real list; keeps OFFSET inside the database's range
SAVERS = {1: forms.save_mode, 2: forms.save_source, 4: forms.save_assignment}


class SourceForm(FlaskForm):
    """Only to render the criteria builder for step 2 (the page carries the CSRF token)."""

    class Meta:  # noqa: D106
        csrf = False

    criteria = CriteriaField("Conditions")


def _users():
    return active_users()


def _tz() -> ZoneInfo:
    return installation_tz()


def _job(run: ActivityWizardRun) -> JobRun | None:
    return db.session.get(JobRun, run.job_id) if run.job_id else None


def _created(run: ActivityWizardRun) -> bool:
    """Has the run started its job (and that job not failed)? Then steps 1–5 are fixed."""
    job = _job(run)
    return job is not None and job.status != JobStatus.FAILED


class ActivityWizardView(SecureView):
    """/admin/activity_wizard/: the group-activity wizard (Activities → Group activity wizard)."""

    def _run(self, run_id: int) -> ActivityWizardRun:
        run = db.session.get(ActivityWizardRun, run_id)
        if run is None:
            abort(404)
        if run.created_by_id != current_user.id and not current_user.is_admin:
            abort(403)
        return run

    def _page(self, run, step: int, status: int = 200, problems=(), **context):
        """Render a step with its navigation and what the run has chosen so far."""
        template = f"kohde/activities/wizard/step{step}.html"
        return self.render(template, run=run, step=step, steps=STEPS, problems=list(problems),
                           created=_created(run), job=_job(run), **progress_context(),
                           **context), status

    @expose("/")
    def index(self):
        """Your wizard runs, newest first, and the button that starts a new one."""
        query = select(ActivityWizardRun).order_by(ActivityWizardRun.id.desc()).limit(50)
        if not current_user.is_admin:
            query = query.where(ActivityWizardRun.created_by_id == current_user.id)
        return self.render("kohde/activities/wizard/index.html",
                           runs=db.session.scalars(query).all())

    @expose("/start", methods=["POST"])
    def start(self):
        """A fresh run, at step 1."""
        run = ActivityWizardRun(created_by_id=current_user.id)
        db.session.add(run)
        db.session.commit()
        return redirect(url_for(".step", run_id=run.id, step=1))

    @expose("/<int:run_id>/<int:step>", methods=["GET", "POST"])
    def step(self, run_id: int, step: int):
        """Show a step, or save it and move on (``go`` = next / back / page:N / clear)."""
        run = self._run(run_id)
        if not 1 <= step <= len(STEPS):
            abort(404)
        if step <= 5 and _created(run):
            flash("This run has made its activities; its choices stay as they were.", "info")
            return redirect(url_for(".step", run_id=run.id, step=6))
        if step == 7 and not (_job(run) and _job(run).status == JobStatus.DONE):
            flash("Create the activities first (step 6).", "error")
            return redirect(url_for(".step", run_id=run.id, step=6))
        if request.method == "POST":
            return self._save(run, step)
        return self._show(run, step)

    def _save(self, run: ActivityWizardRun, step: int):
        go = request.form.get("go", "next")
        if step == 3:
            self._save_exclusions(run, go)
            if go.startswith("page:") or go == "clear":
                db.session.commit()
                page = go.partition(":")[2] or "1"
                return redirect(url_for(".step", run_id=run.id, step=3, page=page,
                                        q=request.form.get("q") or None))
            problems = []
        elif step == 7:
            return self._edit_all(run)
        else:
            problems = SAVERS.get(step, lambda r: [])(run)
        db.session.commit()  # the state is kept, valid or not
        if go == "back":
            return redirect(url_for(".step", run_id=run.id, step=max(step - 1, 1)))
        if step == 2 and not problems:
            counts = selection_counts(run)
            if counts["chosen"] == 0:
                problems = ["no contacts match: change the conditions or choose another group"]
        if problems:
            return self._show(run, step, status=400, problems=problems)
        return redirect(url_for(".step", run_id=run.id, step=step + 1))

    def _save_exclusions(self, run, go: str) -> None:
        if go == "clear":
            clear_exclusions(run.id)
            return
        shown = [int(v) for v in request.form.getlist("shown") if v.isdigit()]
        excluded = [int(v) for v in request.form.getlist("exclude") if v.isdigit()]
        set_exclusions(run.id, shown, excluded)

    def _show(self, run: ActivityWizardRun, step: int, status: int = 200, problems=()):
        context = getattr(self, f"_context_{step}", lambda run: {})(run)
        if step in (5, 6) and not _created(run):
            problems = list(problems) or run_problems(run)
            if step == 5 and not problems:
                context["rows"] = report_rows(run)
            status = 400 if problems else status
        return self._page(run, step, status, problems, **context)

    def _context_2(self, run) -> dict:
        form = SourceForm(formdata=request.form if request.method == "POST" else None,
                          criteria=run.criteria)
        groups = db.session.execute(
            select(TargetGroup.id, TargetGroup.name, TargetGroup.member_count,
                   TargetGroup.refreshed_at).order_by(TargetGroup.name)
        ).all()
        return {"form": form, "groups": groups}

    def _context_3(self, run) -> dict:
        if broken := source_problems(run):
            return {"broken": broken}
        page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
        search = (request.args.get("q") or "").strip()
        # one row more than a page: whether there is a next page, without counting
        rows = contacts_page(run, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1, search)
        counts = selection_counts(run)
        return {"rows": rows[:PAGE_SIZE], "has_next": len(rows) > PAGE_SIZE, "page": page,
                "q": search, "counts": counts,
                "pages": max(1, -(-counts["chosen"] // PAGE_SIZE))}

    def _context_4(self, run) -> dict:
        campaigns = active_campaigns()
        settings = Settings.current()
        return {"users": _users(), "campaigns": campaigns, "types": choices(ActivityType),
                "today": forms.today(), "duration": settings.activity_duration_minutes,
                "earliest": settings.activity_earliest_start.strftime("%H:%M")}

    def _context_5(self, run) -> dict:
        return {"tz": _tz()}

    def _context_6(self, run) -> dict:
        return {**self._context_5(run), **(self._made(run) if _created(run) else {})}

    def _context_7(self, run) -> dict:
        return {**self._made(run), "types": choices(ActivityType),
                "statuses": choices(ActivityStatus)}

    def _made(self, run: ActivityWizardRun) -> dict:
        """The run's activities (number, user, start, contacts) and their count per user."""
        made = made_by_job(run.job_id)
        per_user: dict[str, int] = {}
        for row in made:  # already read for the list: counting here costs no second query
            who = row.user_name or row.user_email or "—"
            per_user[who] = per_user.get(who, 0) + 1
        return {"made": made, "per_user": per_user, "tz": _tz()}

    @expose("/<int:run_id>/report.csv")
    def report_csv(self, run_id: int):
        """Who is included, as CSV: contact, company, email, phone, assigned user, planned start."""
        run = self._run(run_id)
        problems = run_problems(run)
        if problems:
            return Response("; ".join(problems), status=400, mimetype="text/plain")
        tz, out = _tz(), io.StringIO()
        writer = csv_cells.writer(out)
        writer.writerow(["contact", "company", "email", "phone", "assigned user", "planned start"])
        for r in report_rows(run):
            writer.writerow([f"{r.first_name} {r.last_name}".strip(), r.company or "",
                             r.email or "", r.phone or "", r.user_name or r.user_email or "",
                             r.start_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                             if r.start_at else ""])
        return Response(out.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename=wizard-{run.id}-contacts.csv"})

    @expose("/<int:run_id>/create", methods=["POST"])
    def create(self, run_id: int):
        """Step 6: enqueue the job that makes the activities, then show its progress."""
        run = self._run(run_id)
        if _created(run):
            return redirect(url_for(".step", run_id=run.id, step=6))
        problems = run_problems(run)
        if problems:
            return self._show(run, 6, status=400, problems=problems)
        job = start_wizard_activities(run.id, started_by=current_user.id)
        run.job_id = job.id
        db.session.commit()
        flash(f"Creating the activities: job {job.id}.", "info")
        return redirect(url_for(".step", run_id=run.id, step=6))

    @expose("/<int:run_id>/created")
    def created(self, run_id: int):
        """htmx: the created activities once the job is done (polled until then)."""
        run = self._run(run_id)
        return self.render("kohde/activities/wizard/_created.html", run=run, job=_job(run),
                           **(self._made(run) if _job(run) else {}))

    @expose("/<int:run_id>/exclude", methods=["POST"])
    def exclude(self, run_id: int):
        """htmx: one checkbox of step 3 saved at once; answers the new counts."""
        run = self._run(run_id)
        if _created(run):
            abort(409)
        contact_id = request.form.get("contact_id", type=int)
        if contact_id is None:
            abort(400)
        # htmx sends the whole form along: look for this contact among the ticked ones
        excluded = [contact_id] if str(contact_id) in request.form.getlist("exclude") else []
        set_exclusions(run.id, [contact_id], excluded)
        db.session.commit()
        return self.render("kohde/activities/wizard/_counts.html", counts=selection_counts(run))

    def _edit_all(self, run: ActivityWizardRun):
        changes, timing, problems = forms.read_edit()
        if problems:
            return self._show(run, 7, status=400, problems=problems)
        shift = timing.get("shift") or (shift_to(run.job_id, timing["start"])
                                        if "start" in timing else None)
        changed = apply_to_all(run.job_id, changes, shift)
        # Saved again: the workflows look at them as they are now (one statement per campaign).
        workflow_runs = run_workflows(job_id=run.job_id, trigger="edit",
                                      user_id=current_user.id)
        db.session.commit()
        if any(r.queued for r in workflow_runs):
            start_senders()
        flash(f"Changed {changed} activities.", "info")
        return redirect(url_for(".step", run_id=run.id, step=7))
