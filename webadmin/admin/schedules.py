"""Scheduled actions (admins only): the list, a form with proper fields and a live preview of
the next 10 runs, the run history, Run now / Pause / Resume and undo of a run."""

from __future__ import annotations

from datetime import datetime, time

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField, ValidationError, widgets

from jobs.schedules import run_now, start_undo_run
from models import (
    ActionKind,
    ActivityAssignee,
    ActivityDay,
    ActivityType,
    Campaign,
    CatchUp,
    Frequency,
    Overlap,
    RunStatus,
    ScheduledAction,
    ScheduledActionRun,
    Settings,
    TargetGroup,
    User,
    clock,
    db,
)
from models.labels import choices, label
from models.recurrence import WEEKDAY_NAMES, Recurrence, time_zones
from models.schedules import timing_problem
from models.schedules.ledger import ScheduleError, pause, resume

from ..i18n import localtime
from .base import SecureModelView
from .campaigns import campaign_template_only, campaign_templates
from .forms import blank_select
from .links import group_in_words, record_link


class WeekdaysField(SelectMultipleField):
    """ISO weekdays as checkboxes, stored as "1,3,5"."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [(str(n), WEEKDAY_NAMES[n - 1]) for n in range(1, 8)])
        super().__init__(*args, **kwargs)

    def process_data(self, value):  # noqa: D102 (the stored "1,3" → ["1", "3"])
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        super().process_data(value)

    def populate_obj(self, obj, name):  # noqa: D102
        setattr(obj, name, ",".join(sorted(self.data or [], key=int)))


def automatic_email_needs_timing(form, field):
    """A group's automatic email needs a template whose timing is weekdays + a time."""
    if field.data:
        problem = timing_problem(form.email_template.data)
        if problem:
            raise ValidationError(_("Cannot switch on automatic email: %(problem)s.",
                                    problem=problem))


def _local(model: ScheduledAction, moment: datetime | None) -> str:
    """A moment in the action's own zone, in the reader's format."""
    return localtime(moment, model.timezone)


def _muted(text) -> Markup:
    return Markup('<span class="text-muted">%s</span>') % text


def _next_run(view, context, model, name):
    if not model.active:
        return _muted(_("paused"))
    return _local(model, model.next_run_at) or _muted(_("none"))


def _last_run(view, context, model, name):
    if model.last_run_at is None:
        return _muted(_("never"))
    badge = "success" if model.last_status == "done" else "danger"
    return Markup(f'{escape(_local(model, model.last_run_at))} '
                  f'<span class="badge badge-{badge}">'
                  f'{escape(label(model.last_status, RunStatus))}</span>')


def _state(view, context, model, name):
    if model.active:
        return Markup('<span class="badge badge-success">%s</span>') % _("active")
    return Markup('<span class="badge badge-secondary" title="%s">%s</span>') % (
        model.paused_reason or "", _("paused"))


def _schedule(view, context, model, name):
    return model.recurrence.describe()


def target_in_words(group_id: int | None, campaign_id: int | None) -> Markup:
    """What an action works on, as words with links: the group with its conditions as a
    sentence, and the campaign (number and name) it fills, if any."""
    parts = []
    if group_id is not None:
        parts.append(group_in_words(group_id))
    if campaign_id is not None:
        parts.append(Markup("→ ") + record_link(Campaign, "campaign.details_view", campaign_id))
    return Markup(" ").join(parts)


def _target(view, context, model, name):
    return target_in_words(model.target_group_id, model.campaign_id)


def _streak(view, context, model, name):
    if not model.failure_streak:
        return "0"
    return Markup(f'<span class="text-danger">{model.failure_streak} / {model.max_failures}</span>')


def active_campaigns():
    """Only active campaigns can be used in actions."""
    return db.session.query(Campaign).filter(Campaign.active.is_(True)).order_by(Campaign.name)


def active_users():
    """Users who can own an action or get its activities."""
    return db.session.query(User).filter(User.active.is_(True)).order_by(User.email)


def groups_by_name():
    """Target groups, by name."""
    return db.session.query(TargetGroup).order_by(TargetGroup.name)


class ScheduledActionView(SecureModelView):
    """What runs when: type, target, frequency (in a time zone), and how each run went."""

    admin_only = True
    column_list = ["id", "name", "kind", "target", "schedule", "next_run_at", "last_run_at",
                   "active", "failure_streak"]
    column_labels = {"kind": _l("Type"), "next_run_at": _l("Next run (local)"),
                     "last_run_at": _l("Last run (local)"),
                     "failure_streak": _l("Failures in a row"), "active": _l("State"),
                     "schedule": _l("Schedule"), "target": _l("Target")}
    column_formatters = {"next_run_at": _next_run, "last_run_at": _last_run, "active": _state,
                         "schedule": _schedule, "failure_streak": _streak, "target": _target,
                         "kind": lambda v, c, m, n: m.kind_label}
    column_filters = ["kind", "frequency", "active", "origin", "next_run_at"]
    column_searchable_list = ["name"]
    column_default_sort = ("id", False)
    can_view_details = True
    details_template = "kohde/schedules/details.html"
    create_template = "kohde/schedules/create.html"
    edit_template = "kohde/schedules/edit.html"
    form_columns = [
        "name", "kind", "target_group", "campaign", "template", "owner", "refresh_first",
        "activity_subject", "activity_type", "activity_assignee", "user", "activity_day",
        "activity_day_offset", "frequency", "start_at", "interval_hours", "time_of_day",
        "weekdays", "day_of_month", "cron", "timezone", "catch_up", "overlap", "max_failures",
        "active",
    ]
    form_overrides = {"weekdays": WeekdaysField, "timezone": SelectField}
    form_choices = {
        "kind": choices(ActionKind),
        "frequency": choices(Frequency),
        "activity_type": choices(ActivityType),
        "activity_assignee": choices(ActivityAssignee),
        "activity_day": choices(ActivityDay),
        "catch_up": choices(CatchUp),
        "overlap": choices(Overlap),
    }
    form_args = {
        "kind": {"label": _l("Type")},
        "target_group": {"label": _l("Target group"), "query_factory": groups_by_name,
                         **blank_select(_l("(no group)"))},
        "campaign": {"label": _l("Campaign (copy a group into it; optional for activities)"),
                     "query_factory": active_campaigns,
                     **blank_select(_l("(no campaign)"))},
        "template": {"label": _l("Template (group email; empty: the group's own)"),
                     "query_factory": campaign_templates, "validators": [campaign_template_only],
                     **blank_select(_l("(the group's own)"))},
        "owner": {"label": _l("Owner (owns the campaigns it creates)"),
                  "query_factory": active_users,
                  **blank_select(_l("(you)"))},
        "user": {"label": _l("User (activities: the chosen or fallback user)"),
                 "query_factory": active_users,
                 **blank_select(_l("(nobody)"))},
        "refresh_first": {"label": _l("Refresh the group first")},
        "activity_subject": {"label": _l("Activity subject")},
        "activity_type": {"label": _l("Activity type")},
        "activity_assignee": {"label": _l("Activities for")},
        "activity_day": {"label": _l("Activities on")},
        "activity_day_offset": {"label": _l("N days after the run")},
        "start_at": {"label": _l("Date and time (once; the first of every N hours), local")},
        "interval_hours": {"label": _l("Every N hours")},
        "time_of_day": {"label": _l("Time of day (local)"), "default_format": "%H:%M"},
        "weekdays": {"label": _l("Weekdays")},
        "day_of_month": {"label": _l("Day of the month (31: the last day of short months)")},
        "cron": {"label": _l("Cron expression (local time)"),
                 "description": _l("minute hour day month weekday, e.g. 0 7 * * 1-5")},
        "timezone": {"label": _l("Time zone")},
        "catch_up": {"label": _l("Missed runs")},
        "overlap": {"label": _l("When the previous run is still running")},
        "max_failures": {"label": _l("Pause after N failures in a row")},
        "active": {"label": _l("Active")},
    }

    def _with_zones(self, form):
        form.timezone.choices = [(z, z) for z in time_zones()]
        return form

    def create_form(self, obj=None):
        """The form; a new action's time zone is the installation's and its owner is you."""
        form = self._with_zones(super().create_form(obj))
        if request.method == "GET":
            form.timezone.data = Settings.get().timezone
            form.owner.data = db.session.get(User, current_user.id)
            form.activity_subject.data = form.activity_subject.data or _("Call")
            form.max_failures.data = form.max_failures.data or 3
            form.active.data = True
        return form

    def edit_form(self, obj=None):  # noqa: D102
        return self._with_zones(super().edit_form(obj))

    def validate_form(self, form) -> bool:
        """The fields, then the action as a whole: each problem under the field it is about."""
        ok = super().validate_form(form)
        # Flask-Admin validates its delete and action forms here too: only the action's form.
        if not ok or request.method != "POST" or not hasattr(form, "frequency"):
            return ok
        draft = ScheduledAction(frequency="daily", kind="refresh_group", activity_type="call",
                                activity_assignee="owner", activity_day="today",
                                catch_up="latest", overlap="skip", max_failures=3)
        form.populate_obj(draft)
        problems = draft.problems()
        db.session.expunge(draft) if draft in db.session else None
        for name, message in problems.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, message]
            else:
                flash(f"{self._field_label(name)}: {message}", "error")
        return not problems

    def on_model_change(self, form, model, is_created):
        """Who made it; its next run from now in its own zone (paused: none)."""
        if is_created:
            model.created_by_id = current_user.id
            if model.owner is None:
                model.owner = db.session.get(User, current_user.id)
        if model.active:
            model.paused_reason = None
            model.compute_next_run(clock.now())
        else:
            model.next_run_at = None
            model.paused_reason = model.paused_reason or _("paused by hand")

    # --- the live preview ---------------------------------------------------------------------

    @expose("/preview", methods=["POST"])
    def preview(self):
        """htmx: the next 10 runs in local time for the posted fields, DST moves marked."""
        form = request.form

        def number(name):
            raw = (form.get(name) or "").strip()
            return int(raw) if raw.isdigit() else None

        def moment(name, kind):
            raw = (form.get(name) or "").strip()
            try:
                return kind(raw) if raw else None
            except ValueError:
                return None

        rec = Recurrence(
            frequency=form.get("frequency", ""), timezone=form.get("timezone", ""),
            start_at=moment("start_at", lambda s: datetime.fromisoformat(s.replace("T", " "))),
            interval_hours=number("interval_hours"),
            time_of_day=moment("time_of_day", time.fromisoformat),
            weekdays=tuple(sorted(int(d) for d in form.getlist("weekdays") if d.isdigit())),
            day_of_month=number("day_of_month"), cron=(form.get("cron") or "").strip() or None,
        )
        problems = rec.problems()
        runs = [] if problems else rec.preview(clock.now())
        return self.render("kohde/schedules/_preview.html", problems=problems, runs=runs,
                           rule=None if problems else rec.describe(),
                           target=target_in_words(number("target_group"), number("campaign")))

    # --- Run now, Pause, Resume, Undo -----------------------------------------------------------

    def _posted_action(self) -> ScheduledAction:
        action = db.session.get(ScheduledAction, request.form.get("id", type=int) or 0)
        if action is None:
            abort(404)
        return action

    def _back(self, action_id: int):
        return redirect(url_for(".details_view", id=action_id))

    @expose("/run-now/", methods=["POST"])
    def run_now_view(self):
        """Run the action at once (its due time is this minute)."""
        action = self._posted_action()
        try:
            run = run_now(action, user_id=current_user.id)
        except ScheduleError as exc:
            flash(str(exc), "error")
            return self._back(action.id)
        if run.job_run_id:
            flash(_("'%(name)s' is running: job %(job)s.", name=action.name, job=run.job_run_id),
                  "info")
        else:
            flash(_("'%(name)s' will run when its previous run has finished.", name=action.name),
                  "info")
        return self._back(action.id)

    @expose("/pause/", methods=["POST"])
    def pause_view(self):
        """Stop the action until it is resumed."""
        action = self._posted_action()
        pause(action, _("paused by %(email)s", email=current_user.email))
        flash(_("'%(name)s' is paused.", name=action.name), "info")
        return self._back(action.id)

    @expose("/resume/", methods=["POST"])
    def resume_view(self):
        """Run the action again from its next due time."""
        action = self._posted_action()
        try:
            resume(action)
        except ScheduleError as exc:
            flash(_("'%(name)s' cannot run: %(problem)s", name=action.name, problem=exc), "error")
            return self._back(action.id)
        flash(_("'%(name)s' runs again: next %(when)s.", name=action.name,
                when=_local(action, action.next_run_at)), "info")
        return self._back(action.id)

    @expose("/undo/", methods=["POST"])
    def undo_view(self):
        """Undo one run that created or filled a campaign (a job; its page shows progress)."""
        run = db.session.get(ScheduledActionRun, request.form.get("run_id", type=int) or 0)
        if run is None:
            abort(404)
        try:
            job_run = start_undo_run(run, user_id=current_user.id)
        except ScheduleError as exc:
            flash(str(exc), "error")
            return self._back(run.action_id)
        flash(_("Undoing the run due %(when)s: job %(job)s.", when=localtime(run.due_at),
                job=job_run.id), "info")
        return redirect(url_for("jobrun.details_view", id=job_run.id))

    @expose("/group/<int:group_id>")
    def for_group(self, group_id: int):
        """htmx partial for a target group's page: the actions that use the group."""
        group = db.session.get(TargetGroup, group_id)
        if group is None:
            abort(404)
        rows = db.session.scalars(select(ScheduledAction)
                                  .where(ScheduledAction.target_group_id == group_id)
                                  .order_by(ScheduledAction.name)).all()
        return self.render("kohde/schedules/_group.html", group=group, actions=rows,
                           local=_local)

    @expose("/details/")
    def details_view(self):
        """The action, its next runs and its run history."""
        action = self.get_one_or_404()
        rec = action.recurrence
        upcoming = [] if rec.problems() else rec.preview(clock.now())
        history = db.session.scalars(
            select(ScheduledActionRun).where(ScheduledActionRun.action_id == action.id)
            .order_by(ScheduledActionRun.due_at.desc()).limit(100)
        ).all()
        return self.render(self.details_template, model=action, upcoming=upcoming,
                           history=history, local=_local, return_url=url_for(".index_view"),
                           problems=self._problems_in_words(action.problems()),
                           target=target_in_words(action.target_group_id, action.campaign_id))

    def _field_label(self, name: str) -> str:
        label = self.form_args.get(name, {}).get("label")
        return str(label) if label else name.replace("_", " ").capitalize()

    def _problems_in_words(self, problems: dict) -> dict:
        """Each problem under its field's label, not its column name."""
        return {self._field_label(name): message for name, message in problems.items()}
