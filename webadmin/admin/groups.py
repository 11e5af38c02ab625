"""Target groups, their materialised members and saved filters."""

from __future__ import annotations

import random

from flask import flash, g, get_template_attribute, redirect, request, url_for
from flask_admin import expose
from flask_admin.model.template import BaseListRowAction
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import inspect as inspect_row
from wtforms import ValidationError

from jobs.groups import start_refresh_group
from models import Contact, FilterModule, SampleMode, TargetGroup, db, related
from models.charts import group_member_history
from models.criteria import validate
from models.criteria.sentence import sentence
from models.criteria.validation import loads
from models.groups.queries import explain_membership
from models.labels import choices

from .base import Permission, ReadOnlyModelView, SecureModelView, can
from .bulk import BulkActionsMixin
from .bulk.lists import GROUP_ACTIONS
from .campaigns import campaign_template_only, campaign_templates
from .charts import chart
from .criteria.builder import CriteriaField
from .forms import blank_select, picker
from .related import RelatedPagesMixin, section, when
from .schedules import automatic_email_needs_timing

SAMPLE_CHOICES = choices(SampleMode)
# What decides a group's members: saving a change to any of these refreshes the group.
SELECTION_COLUMNS = ("criteria", "sample_mode", "sample_size", "sample_percent", "sample_seed")
MODULE_CHOICES = choices(FilterModule)


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
        return Markup('<span class="text-muted">{}</span>').format(_("never"))
    return when(model.refreshed_at)


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


class TargetGroupView(BulkActionsMixin, RelatedPagesMixin, SecureModelView):
    """Named conditions over contacts; refresh stores the members."""

    bulk_area = "groups"
    bulk_actions = GROUP_ACTIONS

    column_list = ["id", "name", "member_count", "refreshed_at", "sample_mode", "owner"]
    column_searchable_list = ["name"]
    column_filters = ["sample_mode", "refreshed_at", "owner.email"]
    column_labels = {"member_count": _l("Members"), "owner.email": _l("Owner"),
                     "criteria": _l("Conditions"),
                     "refreshed_at": _l("Refreshed")}
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
        "criteria": {"label": _l("Conditions"), "validators": [criteria_is_a_tree]},
        "email_template": {"query_factory": campaign_templates,
                           "validators": [campaign_template_only],
                           **blank_select(_l("(no email)"))},
        "sample_mode": {"label": _l("Keep a sample"), "description": _l(
            "None: every match is a member. Systematic: every k-th match by id, spread "
            "evenly. Random: a random sample that stays the same for the same seed and "
            "matches.")},
        "sample_size": {"label": _l("Sample size"), "description": _l(
            "How many of the matches to keep, e.g. 500. Use this or the percent.")},
        "sample_percent": {"label": _l("Sample percent"), "description": _l(
            "Which share of the matches to keep, e.g. 10 for 10 %. Use this or the size.")},
        "sample_seed": {"label": _l("Random seed"), "description": _l(
            "Random samples only: the same number keeps the same sample on every refresh; "
            "empty: one is chosen when the group is saved.")},
        # On: a weekly "send group email" scheduled action at the template's send timing.
        "automatic_email": {"label": _l("Automatic email campaigns"),
                            "validators": [automatic_email_needs_timing]},
        "automatic_email_refresh_minutes": {
            "label": _l("Refresh the group N minutes before the automatic email"),
            "description": _l("Empty: no refresh; 0: right before sending; e.g. 15.")},
    }
    form_ajax_refs = {"owner": picker(["email", "name"], _l("Choose a user…"))}
    edit_template = "kohde/groups/edit.html"
    details_template = "kohde/groups/details.html"

    def related_context(self, model) -> dict:
        """The group's page: its stored members (paged), and a contact explained."""
        history = group_member_history(model.id)
        return {"members": section("members",
                                   lambda n, o: related.group_members(model.id, n, o), short=20),
                "explained": explained_contact(model),
                "history": chart("chart-group-members", _("Members over the last refreshes"),
                                 _("Refreshed"), _("Members"),
                                 [when(at) for at in history["categories"]], history["series"],
                                 {"members": _("Members")})}

    def create_form(self, obj=None):  # noqa: D102 (templates: admins only)
        return _without_template_for_users(super().create_form(obj))

    def edit_form(self, obj=None):
        """The edit form; the builder's live count knows which group it edits."""
        form = _without_template_for_users(super().edit_form(obj))
        form.criteria.group_id = obj.id if obj is not None else None
        return form

    def on_model_change(self, form, model, is_created):
        """A random sample gets its seed when saved (so refreshes keep the same sample), and
        whether the members must be stored again is noted for after the commit."""
        if model.sample_mode == SampleMode.RANDOM and model.sample_seed is None:
            model.sample_seed = random.randrange(1, 2**31)
        state = inspect_row(model).attrs
        g.group_needs_refresh = is_created or any(
            state[name].history.has_changes() for name in SELECTION_COLUMNS)

    def after_model_change(self, form, model, is_created):
        """Saving a new group, or new conditions or sample, stores its members at once: a
        refresh job (the page says so, and links to it)."""
        if not g.pop("group_needs_refresh", False) or validate(model.criteria, model.id):
            return
        run = start_refresh_group(model.id, started_by=current_user.id)
        url = url_for("jobrun.details_view", id=run.id)
        flash(Markup(_("Storing the members of %(name)s now: <a href=\"%(url)s\">the refresh "
                       "job</a>.", name=escape(model.name), url=url)), "info")

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


def _without_template_for_users(form):
    # Only admins attach or change templates: a user's form has no such field, so a posted
    # one is ignored (the README's role matrix).
    if not can(Permission.CHANGE_TEMPLATES) and hasattr(form, "email_template"):
        del form.email_template
    return form


class TargetGroupMemberView(ReadOnlyModelView):
    """Members as of each group's last refresh (written by the refresh job only)."""

    column_list = ["group", "contact", "added_at"]
    column_default_sort = ("added_at", True)
    column_filters = ["group.name", "added_at", "contact.email"]
    column_labels = {"group.name": _l("Group"), "contact.email": _l("Contact email")}
    column_formatters = {"added_at": lambda v, c, m, n: when(m.added_at)}
    column_searchable_list = ["contact.email"]


class SavedFilterView(SecureModelView):
    """Named conditions used ad hoc: list views, loads into campaigns, automations."""

    column_list = ["id", "name", "module", "shared", "owner", "updated_at"]
    column_searchable_list = ["name"]
    column_filters = ["module", "shared", "owner.email"]
    column_labels = {"owner.email": _l("Owner"), "criteria": _l("Conditions")}
    column_formatters = {"criteria": _criteria_words,
                         "updated_at": lambda v, c, m, n: when(m.updated_at)}
    column_formatters_detail = column_formatters
    form_columns = ["name", "module", "criteria", "shared", "owner"]
    form_overrides = {"criteria": CriteriaField}
    form_choices = {"module": MODULE_CHOICES}
    form_args = {"criteria": {"label": _l("Conditions"), "validators": [criteria_is_a_tree]}}
    form_ajax_refs = {"owner": picker(["email", "name"], _l("Choose a user…"))}
