"""Target groups, their materialised members and saved filters."""

from __future__ import annotations

from flask import flash, get_template_attribute, redirect, request, url_for
from flask_admin import expose
from flask_admin.model.template import BaseListRowAction
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import ValidationError

from jobs.groups import start_refresh_group
from models import Contact, FilterModule, SampleMode, TargetGroup, db, related
from models.criteria import validate
from models.criteria.sentence import sentence
from models.criteria.validation import loads
from models.groups.queries import explain_membership

from .base import ReadOnlyModelView, SecureModelView, enum_choices
from .campaigns import campaign_template_only, campaign_templates
from .criteria.builder import CriteriaField
from .related import RelatedPagesMixin, section
from .schedules import automatic_email_needs_timing

SAMPLE_CHOICES = enum_choices(SampleMode)
MODULE_CHOICES = enum_choices(FilterModule)


def criteria_is_a_tree(form, field):
    """A criteria value must be a tree the compiler accepts: every problem, by path.

    On a target group's edit page the group's own id goes along, so its
    conditions cannot select on its own members.
    """
    data = field.data
    problems = []
    if isinstance(data, str):
        data, problems = loads(data or "{}")
    edited = getattr(form, "_obj", None)
    problems = problems or validate(data, edited.id if isinstance(edited, TargetGroup) else None)
    if problems:
        # One raise carries one message; the rest go in directly so the page lists them all.
        field.errors.extend(problems[:-1])
        raise ValidationError(problems[-1])


def refresh_form(group_id: int, label: str = "") -> Markup:
    """A POST form (CSRF token included) that starts a refresh of the group."""
    return get_template_attribute("kohde/groups/_refresh.html", "refresh_form")(group_id, label)


class RefreshRowAction(BaseListRowAction):
    """The list's "Refresh now" icon: a small POST form, like Flask-Admin's delete."""

    def __init__(self) -> None:
        super().__init__(title="Refresh now")

    def render(self, context, row_id, row):  # noqa: D102
        return refresh_form(row.id)


def _refreshed_at(view, context, model, name):
    if model.refreshed_at is None:
        return Markup('<span class="text-muted">never</span>')
    return model.refreshed_at.strftime("%Y-%m-%d %H:%M UTC")


def explained_contact(group: TargetGroup) -> dict | None:
    """``?explain=CONTACT_ID`` on a group's page: why that contact is in or out of it."""
    raw = request.args.get("explain", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        return None
    contact = db.session.get(Contact, int(raw))
    if contact is None:
        return None
    problems = validate(group.criteria, group.id)
    if problems:
        return {"group": {"id": group.id, "name": group.name}, "errors": problems}
    return explain_membership(group, contact)


def _criteria_words(view, context, model, name):
    # The conditions as a sentence (models/criteria/sentence.py), never the JSON.
    return Markup('<span data-criteria-sentence>{}</span>').format(sentence(model.criteria))


class TargetGroupView(RelatedPagesMixin, SecureModelView):
    """Named conditions over contacts; refresh stores the members."""

    column_list = ["id", "name", "member_count", "refreshed_at", "sample_mode", "owner"]
    column_searchable_list = ["name"]
    column_filters = ["sample_mode", "refreshed_at", "owner.email"]
    column_labels = {"member_count": _l("Members"), "owner.email": _l("Owner"),
                     "criteria": _l("Conditions"),
                     "refreshed_at": "Refreshed"}
    column_formatters = {"refreshed_at": _refreshed_at, "criteria": _criteria_words}
    column_formatters_detail = column_formatters
    column_extra_row_actions = [RefreshRowAction()]
    form_columns = [
        "name", "description", "criteria", "sample_mode", "sample_size", "sample_percent",
        "sample_seed", "email_template", "automatic_email", "automatic_email_refresh_minutes",
        "owner",
    ]
    form_overrides = {"criteria": CriteriaField}
    form_choices = {"sample_mode": SAMPLE_CHOICES}
    form_args = {
        "criteria": {"label": "Conditions", "validators": [criteria_is_a_tree]},
        "email_template": {"query_factory": campaign_templates,
                           "validators": [campaign_template_only]},
        # On: a weekly "send group email" scheduled action at the template's send timing.
        "automatic_email": {"label": "Automatic email campaigns",
                            "validators": [automatic_email_needs_timing]},
        "automatic_email_refresh_minutes": {
            "label": "Refresh the group N minutes before the automatic email",
            "description": "Empty: no refresh; 0: right before sending; e.g. 15."},
    }
    form_ajax_refs = {"owner": {"fields": ["email", "name"], "page_size": 20}}
    edit_template = "kohde/groups/edit.html"
    details_template = "kohde/groups/details.html"

    def related_context(self, model) -> dict:
        """The group's page: its stored members (paged), and a contact explained."""
        return {"members": section("members",
                                   lambda n, o: related.group_members(model.id, n, o), short=20),
                "explained": explained_contact(model)}

    def edit_form(self, obj=None):
        """The edit form; the builder's live count knows which group it edits."""
        form = super().edit_form(obj)
        form.criteria.group_id = obj.id if obj is not None else None
        return form

    @expose("/refresh/", methods=["POST"])
    def refresh(self):
        """Start a refresh of one group (POST ``id``) and show the job's progress."""
        group = db.session.get(TargetGroup, request.form.get("id", type=int) or 0)
        if group is None:
            flash("That target group does not exist (any more).", "error")
            return redirect(url_for(".index_view"))
        problems = validate(group.criteria, group.id)
        if problems:
            flash(f"{group.name} cannot be refreshed: {'; '.join(problems)}", "error")
            return redirect(url_for(".edit_view", id=group.id))
        run = start_refresh_group(group.id, started_by=current_user.id)
        flash(f"Refreshing {group.name}: job {run.id}.", "info")
        return redirect(url_for("jobrun.details_view", id=run.id))


class TargetGroupMemberView(ReadOnlyModelView):
    """Members as of each group's last refresh (written by the refresh job only)."""

    column_list = ["group", "contact", "added_at"]
    column_default_sort = ("added_at", True)
    column_filters = ["group.name", "added_at", "contact.email"]
    column_labels = {"group.name": "Group", "contact.email": "Contact email"}
    column_searchable_list = ["contact.email"]


class SavedFilterView(SecureModelView):
    """Named conditions used ad hoc: list views, loads into campaigns, automations."""

    column_list = ["id", "name", "module", "shared", "owner", "updated_at"]
    column_searchable_list = ["name"]
    column_filters = ["module", "shared", "owner.email"]
    column_labels = {"owner.email": _l("Owner"), "criteria": _l("Conditions")}
    column_formatters = {"criteria": _criteria_words}
    column_formatters_detail = column_formatters
    form_columns = ["name", "module", "criteria", "shared", "owner"]
    form_overrides = {"criteria": CriteriaField}
    form_choices = {"module": MODULE_CHOICES}
    form_args = {"criteria": {"label": "Conditions", "validators": [criteria_is_a_tree]}}
    form_ajax_refs = {"owner": {"fields": ["email", "name"], "page_size": 20}}
