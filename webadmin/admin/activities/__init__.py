"""Calendar activities: the list and pages show whom to call (the linked contacts) and the
campaign and company, as links."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape

from jobs.email.sender import start_senders
from models import ActivityStatus, ActivityType, Contact, Settings, clock, db, related
from models.labels import choices, label
from models.workflows import run_for as run_workflows

from ..base import SecureModelView
from ..bulk import BulkActionsMixin
from ..bulk.activities import ACTIVITY_ACTIONS
from ..forms import picker
from ..related import RelatedPagesMixin, section, when

CONTACTS_IN_LIST = 3  # the list shows the first few contacts of each activity, then "+N"


def local_time(view, context, model, name) -> str:
    """A stored UTC timestamp as people read it: in the installation's time zone."""
    return when(getattr(model, name))


def _link(view, endpoint: str, record_id, label) -> Markup:
    return Markup(f'<a href="{view.get_url(endpoint, id=record_id)}">{escape(label)}</a>')


def _campaign_link(view, context, model, name):
    return _link(view, "campaign.details_view", model.campaign_id, model.campaign) \
        if model.campaign is not None else ""


def _company_link(view, context, model, name):
    return _link(view, "company.details_view", model.company_id, model.company.name) \
        if model.company is not None else ""


def _contacts_in_list(view, context, model, name):
    # Filled once per list page by get_list (one query for every row's contacts).
    found = getattr(g, "activity_contacts", {}).get(model.id)
    if not found:
        return ""
    links = [_link(view, "contact.details_view", cid, label) for cid, label in found["contacts"]]
    rest = found["total"] - len(links)
    if rest > 0:
        url = view.get_url(".details_view", id=model.id)
        links.append(Markup(f'<a class="text-muted" href="{url}#contacts">+{rest}</a>'))
    return Markup(", ").join(links)


def next_full_hour(now: datetime) -> datetime:
    """The next full hour after ``now`` (a new activity's default start)."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class ActivityView(BulkActionsMixin, RelatedPagesMixin, SecureModelView):
    """Calls, meetings, tasks and emails of users, linked to contacts."""

    bulk_area = "activities"
    bulk_actions = ACTIVITY_ACTIONS

    column_list = [
        "number", "type", "subject", "contacts", "owner", "start_at", "end_at", "status",
        "company", "campaign",
    ]
    column_default_sort = ("start_at", True)
    column_searchable_list = ["subject", "number"]
    column_filters = ["type", "status", "start_at", "owner.email", "campaign.name", "company.name"]
    # Readable filter URLs (?flt0_owner_equals=…) that stay valid when filters are added.
    named_filter_urls = True
    column_labels = {"start_at": _l("Start"), "end_at": _l("End"), "owner.email": _l("Owner"),
                     "campaign.name": _l("Campaign"), "company.name": _l("Company"),
                     "contacts": _l("Contacts")}
    # Shown and edited in the installation's time zone (stored in UTC; forms.LocalDateTimeField).
    column_formatters = {
        "start_at": local_time, "end_at": local_time,
        "type": lambda v, c, m, n: label(m.type, ActivityType),
        "status": lambda v, c, m, n: label(m.status, ActivityStatus),
        "campaign": _campaign_link, "company": _company_link, "contacts": _contacts_in_list,
    }
    column_details_list = ["number", "type", "subject", "owner", "start_at", "end_at", "status",
                           "company", "campaign", "notes"]
    column_formatters_detail = {k: v for k, v in column_formatters.items() if k != "contacts"}
    form_columns = [
        "type", "subject", "number", "owner", "start_at", "end_at", "status", "contacts",
        "company", "campaign", "notes",
    ]
    form_choices = {"type": choices(ActivityType), "status": choices(ActivityStatus)}
    # Also makes the type and status filters drop-downs instead of free text.
    column_choices = form_choices
    form_ajax_refs = {
        "owner": picker(["email", "name"], _l("Choose a user…")),
        "contacts": picker(["email", "last_name"], _l("Choose contacts…")),
        "company": picker(["name"], _l("Choose a company…")),
        "campaign": picker(["name", "number"], _l("Choose a campaign…")),
    }
    details_template = "kohde/activities/details.html"

    def get_list(self, page, sort_column, sort_desc, search, filters, *args, **kwargs):
        """The list's page of activities, and their contacts in one more query."""
        count, rows = super().get_list(page, sort_column, sort_desc, search, filters,
                                       *args, **kwargs)
        rows = list(rows)
        g.activity_contacts = related.contacts_of_activities([r.id for r in rows],
                                                             CONTACTS_IN_LIST)
        return count, rows

    def related_context(self, model) -> dict:
        """The activity's page: whom it is with."""
        return {"contacts": section("contacts",
                                    lambda n, o: related.activity_contacts(model.id, n, o))}

    def create_form(self, obj=None):
        """A new activity is yours, at the next full hour for the settings' duration; from a
        contact's page (``?contact_id=``) it starts with that contact, its company and owner."""
        form = super().create_form(obj)
        if request.method == "GET":
            start = next_full_hour(clock.now())
            form.start_at.process_data(start)
            form.end_at.process_data(start + timedelta(
                minutes=Settings.current().activity_duration_minutes))
        raw = request.args.get("contact_id", "")
        if request.method == "GET" and raw.isascii() and raw.isdigit() and len(raw) < 10:
            contact = db.session.get(Contact, int(raw))
            if contact is not None:
                form.contacts.data = [contact]
                form.company.data = contact.company
                form.owner.data = contact.owner
        return form

    def after_model_change(self, form, model, is_created):
        """Seed 004: the workflows run on every save of an activity (its contacts join its
        campaign, which sends that campaign's email to the newly joined)."""
        runs = run_workflows([model.id], trigger="form", user_id=current_user.get_id() and
                             int(current_user.get_id()))
        db.session.commit()
        if any(r.queued for r in runs):
            start_senders()
