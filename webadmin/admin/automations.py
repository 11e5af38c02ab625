"""Automations (admins define them): the list with who is in and per-step counts, the
details page with the step builder (htmx: add, move up / down, remove, edit with a preview
of the effect on pending steps), who is at which step, the dry run, Activate / Deactivate;
and a contact's automations and step history (for everyone who may see the contact)."""

from __future__ import annotations

from datetime import time

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import select

from models import (
    Automation,
    AutomationStep,
    EmailTemplate,
    User,
    clock,
    db,
)
from models.automations import (
    STEP_LABELS,
    Mode,
    Recipient,
    Reentry,
    Trigger,
    activate,
    contacts_at,
    deactivate,
    dry_run,
    enrolled_now,
    history_of,
    move_step,
    remove_step,
    reschedule,
    reschedule_effect,
    schedule,
    step_counts,
)
from models.labels import choices, label
from models.settings import installation_tz
from models.users import active_users

from .base import SecureModelView, SecureView
from .forms import blank_select

# What the first activation did (models.automations.activate), in words.
ACTIVATION_WORDS = {"entered": _l("entered"), "scheduled": _l("steps scheduled"),
                    "baseline": _l("already matching, held back as not new")}


def _enrolled(view, context, model, name):
    return enrolled_now(model.id)


def _step_counts(view, context, model, name):
    counts = step_counts(model)
    parts = []
    for step in model.steps:
        c = counts.get(step.id, {})
        words = ", ".join(f"{label(k, 'Outcome')} {v}" for k, v in sorted(c.items())) or "—"
        parts.append(f"{step.position}. {escape(step.kind_label)}: {escape(words)}")
    return Markup("<br>".join(parts))


class AutomationView(SecureModelView):
    """Automations: admins only."""

    admin_only = True
    details_template = "kohde/automations/details.html"
    column_list = ["id", "name", "active", "mode", "trigger", "enrolled", "steps"]
    column_formatters = {"enrolled": _enrolled, "steps": _step_counts,
                         "trigger": lambda v, c, m, n: m.trigger_words}
    column_labels = {"enrolled": _l("In it now"), "steps": _l("Per step")}
    form_columns = ["name", "trigger", "status_value", "saved_filter", "mode", "only_new",
                    "reentry", "reentry_days"]
    form_choices = {"trigger": choices(Trigger), "mode": choices(Mode),
                    "reentry": choices(Reentry)}
    form_args = {"status_value": {"label": _l("Status (trigger: status)")},
                 "saved_filter": {"label": _l("Saved filter (trigger: filter)"),
                                  **blank_select(_l("(no filter)"))},
                 "only_new": {"label": _l("Only new records (who start matching after "
                                          "activation)")},
                 "reentry_days": {"label": _l("Re-entry: days after leaving")}}
    column_details_list = ["id", "name"]

    def on_model_change(self, form, model, is_created):
        """New automations start switched off; the details page activates them."""
        if is_created:
            from flask_login import current_user

            model.created_by_id = current_user.id
            model.active = False

    def _automation(self, automation_id: int) -> Automation:
        row = db.session.get(Automation, automation_id)
        if row is None:
            abort(404)
        return row

    def _step(self, step_id: int, removed: bool = False) -> AutomationStep:
        """The step, 404 when there is none; a removed one only to read (``removed``)."""
        step = db.session.get(AutomationStep, step_id)
        if step is None or (step.removed_at is not None and not removed):
            abort(404)
        return step

    @expose("/details/")
    def details_view(self, **_kwargs):
        """The automation, its steps (the builder), the dry run and the switch."""
        row = self.get_one_or_404()
        tz = installation_tz()
        return self.render(self.details_template, **self._steps_context(row),
                           dry=dry_run(row, clock.now(), tz), tz=tz,
                           enrolled=enrolled_now(row.id), problems=row.problems(),
                           return_url=url_for(".index_view"))

    def _steps_context(self, row: Automation) -> dict:
        return {"model": row, "counts": step_counts(row), "kinds": STEP_LABELS,
                "templates": db.session.scalars(select(EmailTemplate)
                                                .order_by(EmailTemplate.name)).all(),
                "users": active_users()}

    def _steps_partial(self, row: Automation, note: str | None = None):
        return self.render("kohde/automations/_steps.html", note=note,
                           **self._steps_context(row))

    # --- the step builder (htmx) ----------------------------------------------------------------

    def _fill(self, step: AutomationStep, form) -> None:
        step.kind = form.get("kind", step.kind)
        template_id = form.get("template_id", type=int)
        step.template = db.session.get(EmailTemplate, template_id) if template_id else None
        step.subject = (form.get("subject") or "").strip()
        user_id = form.get("user_id", type=int)
        step.user = db.session.get(User, user_id) if user_id else None
        step.recipient = Recipient.USER if step.user is not None else Recipient.OWNER
        step.delay_days = form.get("delay_days", type=int) or 0
        step.weekdays = (form.get("weekdays") or "1-7").strip()
        raw = (form.get("at_time") or "").strip()
        try:
            step.at_time = time.fromisoformat(raw) if raw else None
        except ValueError:
            step.at_time = None

    def _new_step(self, row: Automation) -> tuple[AutomationStep, dict]:
        """The step the add form describes, appended to ``row`` (not flushed), and what is
        missing for it to run."""
        step = AutomationStep(position=len(row.steps) + 1)
        with db.session.no_autoflush:
            self._fill(step, request.form)
            row.steps.append(step)
            return step, step.problems()

    @expose("/<int:automation_id>/steps/add", methods=["POST"])
    def add_step(self, automation_id: int):
        """Add a step at the end; once the automation has run, the contacts in it get the
        step too (their due times from when each entered)."""
        row = self._automation(automation_id)
        step, problems = self._new_step(row)
        if problems:
            db.session.rollback()
            context = self._steps_context(self._automation(automation_id))
            return self.render("kohde/automations/_steps.html", problems=problems, **context), 422
        db.session.flush()
        scheduled = schedule(row, tz=installation_tz()) if row.started_at is not None else 0
        db.session.commit()
        return self._steps_partial(row, ngettext(
            "Step added; %(num)d contact in the automation gets it.",
            "Step added; %(num)d contacts in the automation get it.", scheduled)
            if scheduled else None)

    @expose("/<int:automation_id>/steps/preview", methods=["POST"])
    def preview_new_step(self, automation_id: int):
        """What adding the step would do, before it is added: how many of the contacts in
        the automation get it and when the first ones are due (nothing is saved)."""
        row = self._automation(automation_id)
        step, problems = self._new_step(row)
        with db.session.no_autoflush:
            effect = [e for e in reschedule_effect(row, now=clock.now()) if e["step"] is step]
        db.session.rollback()
        return self.render("kohde/automations/_effect.html", problems=problems, effect=effect,
                           active=row.active, tz=installation_tz())

    @expose("/steps/<int:step_id>/move", methods=["POST"])
    def move(self, step_id: int):
        """Move a step up or down."""
        step = self._step(step_id)
        move_step(step, -1 if request.form.get("direction") == "up" else 1)
        db.session.commit()
        return self._steps_partial(step.automation)

    @expose("/steps/<int:step_id>/remove", methods=["POST"])
    def remove(self, step_id: int):
        """Remove a step: its pending traces are cancelled (the step was removed), the done
        ones stay in the contacts' history."""
        step = self._step(step_id)
        row = step.automation
        cancelled = remove_step(step, clock.now())
        db.session.commit()
        return self._steps_partial(row, ngettext(
            "Step removed; %(num)d contact waiting for it will not get it.",
            "Step removed; %(num)d contacts waiting for it will not get it.", cancelled))

    @expose("/steps/<int:step_id>/preview", methods=["POST"])
    def preview_step(self, step_id: int):
        """What saving the edited step would do: pending steps moved, done ones untouched."""
        step = self._step(step_id)
        with db.session.no_autoflush:
            self._fill(step, request.form)
            problems = step.problems()
            effect = [e for e in reschedule_effect(step.automation) if e["step"] is step]
        db.session.rollback()
        return self.render("kohde/automations/_effect.html", problems=problems, effect=effect,
                           tz=installation_tz())

    @expose("/steps/<int:step_id>/save", methods=["POST"])
    def save_step(self, step_id: int):
        """Save the edited step; pending traces get the new due times."""
        step = self._step(step_id)
        with db.session.no_autoflush:
            self._fill(step, request.form)
            problems = step.problems()
        if problems:
            db.session.rollback()
            return self.render("kohde/automations/_effect.html", problems=problems, effect=[],
                               tz=installation_tz()), 422
        moved = reschedule(step.automation)
        db.session.commit()
        flash(ngettext("Step %(step)s saved; %(num)d pending step rescheduled.",
                       "Step %(step)s saved; %(num)d pending steps rescheduled.", moved,
                       step=step.position), "info")
        return self._steps_partial(step.automation)

    @expose("/steps/<int:step_id>/contacts")
    def at_step(self, step_id: int):
        """The contacts behind a count: at the step (pending) or with an outcome."""
        step = self._step(step_id, removed=True)
        state = request.args.get("state", "pending")
        return self.render("kohde/automations/at_step.html", step=step, state=state,
                           rows=contacts_at(step, state, 500), tz=installation_tz())

    # --- Activate / Deactivate ------------------------------------------------------------------

    @expose("/activate/", methods=["POST"])
    def activate_view(self):
        """Switch it on (refused while something is missing)."""
        row = self._automation(request.form.get("id", type=int) or 0)
        problems = row.problems()
        if problems:
            flash(_("It cannot run as it is:") + " "
                  + "; ".join(f"{k}: {v}" for k, v in problems.items()), "error")
        else:
            done = activate(row, clock.now())
            db.session.commit()
            words = ", ".join(f"{ACTIVATION_WORDS.get(key, key)} {n}" for key, n in done.items())
            flash(_("'%(name)s' is active: %(done)s.", name=row.name, done=words) if done
                  else _("'%(name)s' is active.", name=row.name), "info")
        return redirect(url_for(".details_view", id=row.id))

    @expose("/deactivate/", methods=["POST"])
    def deactivate_view(self):
        """Switch it off: nothing happens until it is activated again."""
        row = self._automation(request.form.get("id", type=int) or 0)
        deactivate(row, clock.now())
        db.session.commit()
        flash(_("'%(name)s' is off; it resumes where it was when activated again.",
                name=row.name), "info")
        return redirect(url_for(".details_view", id=row.id))


class ContactAutomationsView(SecureView):
    """A contact's automations and step history (an htmx partial on the contact's page)."""

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))

    @expose("/<int:contact_id>")
    def for_contact(self, contact_id: int):
        """The contact's enrolments with each step's outcome and why not sent."""
        return self.render("kohde/automations/_contact.html", history=history_of(contact_id),
                           tz=installation_tz())

