"""Contacts, leads and companies; the contact list can apply a saved filter."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import false, or_, select

from models import Contact, ContactKind, FilterModule, SavedFilter, db, related, utcnow
from models.contacts import contact_statuses
from models.criteria import matching_ids, validate
from models.labels import choices, label
from models.settings import installation_tz
from models.text import like_pattern, search_terms

from .base import Permission, SecureModelView, can
from .bulk import BulkActionsMixin
from .bulk.contacts import COMPANY_ACTIONS, CONTACT_ACTIONS
from .forms import blank_select, picker
from .related import RelatedPagesMixin, section, when

KIND_CHOICES = choices(ContactKind)
LANGUAGE_CHOICES = choices("language")  # a contact's language: named in the reader's


def _company_link(view, context, model, name):
    # The company name links to its own record, so the list stays navigable.
    if model.company is None:
        return ""
    url = view.get_url("company.details_view", id=model.company_id)
    return Markup(f'<a href="{url}">{escape(model.company.name)}</a>')


# Company filters select companies (their contacts are a campaign load), not list rows.
CONTACT_MODULES = (FilterModule.CONTACT, FilterModule.LEAD)


def usable_saved_filters():
    """Saved contact and lead filters the current user may apply: shared, or their own."""
    return (
        select(SavedFilter)
        .where(SavedFilter.module.in_(CONTACT_MODULES),
               or_(SavedFilter.shared.is_(True), SavedFilter.owner_id == current_user.id))
        .order_by(SavedFilter.name, SavedFilter.id)
    )


@dataclass
class ActiveFilter:
    """The saved filter a list request asked for, and why it cannot be applied (if so)."""

    requested: str
    saved: SavedFilter | None
    problems: list[str]


def active_saved_filter() -> ActiveFilter | None:
    """What ``?saved_filter=ID`` asks for (None when the list is not filtered)."""
    requested = request.args.get("saved_filter", "")
    if not requested:
        return None
    saved = None
    if requested.isdigit() and int(requested) < 2**31:  # ids are INTEGER in the database
        saved = db.session.scalar(usable_saved_filters().where(SavedFilter.id == int(requested)))
    if saved is None:
        return ActiveFilter(requested, None, ["no such contact or lead filter"])
    return ActiveFilter(requested, saved, validate(saved.criteria))


def restrict_to_saved_filter(query):
    """Only the contacts the active saved filter matches: one ``id IN (SELECT …)``."""
    active = active_saved_filter()
    if active is None:
        return query
    if active.problems:  # an unusable filter shows nothing rather than everything
        return query.filter(false())
    ids = matching_ids(active.saved.criteria, utcnow(), installation_tz()).subquery()
    query = query.filter(Contact.id.in_(select(ids.c.id)))
    if active.saved.module == FilterModule.LEAD:
        query = query.filter(Contact.kind == ContactKind.LEAD)
    return query


def contact_picture(contact: Contact) -> dict:
    """Everything the contact's page shows around it, each list bounded (models/related.py)."""
    now = utcnow()
    return {
        "campaigns": section("campaigns", lambda n, o: related.contact_campaigns(contact.id, n, o)),
        "groups": section("groups", lambda n, o: related.contact_groups(contact.id, n, o)),
        "planned": section("planned",
                           lambda n, o: related.planned_activities(contact.id, now, n, o)),
        "past": section("past", lambda n, o: related.past_activities(contact.id, now, n, o)),
        "emails": section("emails", lambda n, o: related.contact_emails(contact.id, n, o)),
        "history": section("history",
                           lambda n, o: related.record_history("contacts", contact.id, n, o)),
    }


def _status_choices(obj) -> list[tuple[str, object]]:
    statuses = contact_statuses()
    current = getattr(obj, "status", None)
    if current and current not in statuses:
        statuses.append(current)  # an edited contact keeps its own status
    return [(s, label(s, "contact_status")) for s in statuses]


class ContactView(BulkActionsMixin, RelatedPagesMixin, SecureModelView):
    """Contacts and leads in one list; filters for the bulk work that follows (the
    bulk actions act on the ticked rows or on all that match: webadmin/admin/bulk/)."""

    bulk_area = "contacts"
    bulk_actions = CONTACT_ACTIONS

    column_list = [
        "id", "first_name", "last_name", "email", "kind", "status",
        "company", "owner", "email_opt_out", "created_at",
    ]
    # Only indexed columns sort: at a million contacts an unindexed sort reads them all.
    column_sortable_list = ["id", "last_name", ("email", "email_key"), "created_at"]
    column_searchable_list = ["first_name", "last_name", "email"]
    column_filters = [
        "kind", "status", "email_opt_out", "language", "city", "created_at",
        "company.name", "owner.email",
    ]
    column_labels = {
        "email_opt_out": _l("Opted out"),
        "company.name": _l("Company"),
        "owner.email": _l("Owner"),
    }
    column_formatters = {
        "company": _company_link,
        "kind": lambda v, c, m, n: label(m.kind, ContactKind),
        "status": lambda v, c, m, n: label(m.status, "contact_status"),
        "language": lambda v, c, m, n: label(m.language, "language"),
        "created_at": lambda v, c, m, n: when(m.created_at),
        "updated_at": lambda v, c, m, n: when(m.updated_at),
    }
    column_formatters_detail = column_formatters
    column_details_exclude_list = ["email_key"]
    form_columns = [
        "kind", "first_name", "last_name", "email", "phone", "title", "language", "city",
        "status", "email_opt_out", "company", "owner",
    ]
    # Fields with known values are selects; the status list is filled per form (_status_choices).
    form_choices = {"kind": KIND_CHOICES, "language": LANGUAGE_CHOICES,
                    "status": [(s, s) for s in ("active",)]}
    form_args = {"language": blank_select(_l("(not known)"))}
    form_ajax_refs = {
        "company": picker(["name"], _l("Choose a company…")),
        "owner": picker(["email", "name"], _l("Choose a user…")),
    }
    list_template = "kohde/contacts/list.html"
    details_template = "kohde/contacts/details.html"

    @property
    def can_delete(self) -> bool:
        """Only admins delete contacts, one or many (the README's role matrix); for a user
        the delete buttons and the bulk delete are not there at all."""
        return can(Permission.BULK_DELETE_CONTACTS)

    def is_action_allowed(self, name: str) -> bool:  # noqa: D102 (the bulk delete too)
        if name == "delete" and not self.can_delete:
            return False
        return super().is_action_allowed(name)

    @expose("/delete/", methods=("POST",))
    def delete_view(self):
        """A user's posted delete is refused with a 403 page, not quietly redirected."""
        if not self.can_delete:
            abort(403, description=_("Only an admin can delete contacts."))
        return super().delete_view()

    def related_context(self, model) -> dict:
        """The contact's page: its campaigns, groups, activities, emails and history."""
        return {"picture": contact_picture(model)}

    def create_form(self, obj=None):  # noqa: D102 (statuses: the known and the stored ones)
        form = super().create_form(obj)
        form.status.choices = _status_choices(obj)
        return form

    def edit_form(self, obj=None):  # noqa: D102 (the same choices, the contact's own kept)
        form = super().edit_form(obj)
        form.status.choices = _status_choices(obj)
        return form

    def _apply_search(self, query, count_query, joins, count_joins, search):
        """Every word of the search box in the contact's folded names or email
        (Contact.search_text): any case, any script, with or without accents."""
        for term in search_terms(search):
            condition = Contact.search_text.like(like_pattern(term), escape="\\")
            query = query.filter(condition)
            if count_query is not None:
                count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins

    def get_query(self):
        """The list's rows, narrowed by ``?saved_filter=ID`` when given."""
        return restrict_to_saved_filter(super().get_query())

    def get_count_query(self):
        """The list's count, narrowed the same way as its rows."""
        return restrict_to_saved_filter(super().get_count_query())

    def saved_filter_choices(self) -> list[SavedFilter]:
        """The saved filters the list's filter menu offers."""
        return list(db.session.scalars(usable_saved_filters()))

    def active_saved_filter(self) -> ActiveFilter | None:
        """For the template: the saved filter in effect."""
        return active_saved_filter()


class CompanyView(BulkActionsMixin, RelatedPagesMixin, SecureModelView):
    """Organisations; a contact's company is picked by name with autocomplete."""

    bulk_area = "companies"
    bulk_actions = COMPANY_ACTIONS
    details_template = "kohde/contacts/company_details.html"

    column_list = ["id", "name", "business_id", "city", "country", "industry", "size", "owner"]
    column_searchable_list = ["name", "business_id"]
    column_filters = ["city", "country", "industry", "size", "owner.email"]
    column_labels = {"owner.email": _l("Owner")}
    form_columns = ["name", "business_id", "city", "country", "industry", "size", "owner"]
    form_ajax_refs = {"owner": picker(["email", "name"], _l("Choose a user…"))}

    def related_context(self, model) -> dict:
        """The company's page: its contacts and activities."""
        return {"contacts": section("contacts",
                                    lambda n, o: related.company_contacts(model.id, n, o)),
                "activities": section("activities",
                                      lambda n, o: related.company_activities(model.id, n, o))}
