"""Contacts, leads and companies."""

from __future__ import annotations

from markupsafe import Markup, escape

from models import ContactKind

from .base import SecureModelView, enum_choices

KIND_CHOICES = enum_choices(ContactKind)


def _company_link(view, context, model, name):
    # The company name links to its own record, so the list stays navigable.
    if model.company is None:
        return ""
    url = view.get_url("company.details_view", id=model.company_id)
    return Markup(f'<a href="{url}">{escape(model.company.name)}</a>')


class ContactView(SecureModelView):
    """Contacts and leads in one list; filters for the bulk work that follows."""

    column_list = [
        "id", "first_name", "last_name", "email", "kind", "status",
        "company", "owner", "email_opt_out", "created_at",
    ]  # fmt: skip
    # Only indexed columns sort: at a million contacts an unindexed sort reads them all.
    column_sortable_list = ["id", "last_name", ("email", "email_key"), "created_at"]
    column_searchable_list = ["first_name", "last_name", "email"]
    column_filters = [
        "kind", "status", "email_opt_out", "language", "city", "created_at",
        "company.name", "owner.email",
    ]  # fmt: skip
    column_labels = {
        "email_opt_out": "Opted out",
        "company.name": "Company",
        "owner.email": "Owner",
    }
    column_formatters = {"company": _company_link}
    column_details_exclude_list = ["email_key"]
    form_columns = [
        "kind", "first_name", "last_name", "email", "phone", "title", "language", "city",
        "status", "email_opt_out", "company", "owner",
    ]  # fmt: skip
    form_choices = {"kind": KIND_CHOICES}
    form_ajax_refs = {
        "company": {"fields": ["name"], "page_size": 20},
        "owner": {"fields": ["email", "name"], "page_size": 20},
    }


class CompanyView(SecureModelView):
    """Organisations; a contact's company is picked by name with autocomplete."""

    column_list = ["id", "name", "business_id", "city", "country", "industry", "size", "owner"]
    column_searchable_list = ["name", "business_id"]
    column_filters = ["city", "country", "industry", "size", "owner.email"]
    column_labels = {"owner.email": "Owner"}
    form_columns = ["name", "business_id", "city", "country", "industry", "size", "owner"]
    form_ajax_refs = {"owner": {"fields": ["email", "name"], "page_size": 20}}
