"""Target groups, their materialised members and saved filters."""

from __future__ import annotations

import json

from wtforms import ValidationError

from models import FilterModule, SampleMode

from .base import ReadOnlyModelView, SecureModelView, enum_choices
from .campaigns import campaign_templates

SAMPLE_CHOICES = enum_choices(SampleMode)
MODULE_CHOICES = enum_choices(FilterModule)


def criteria_is_a_tree(form, field):
    """A criteria value must be a JSON object whose root is all / any / not."""
    data = field.data
    if isinstance(data, str):
        try:
            data = json.loads(data or "{}")
        except ValueError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not set(data) & {"all", "any", "not"}:
        raise ValidationError('the root must be an object with "all", "any" or "not"')


class TargetGroupView(SecureModelView):
    """Named conditions over contacts; refresh stores the members."""

    column_list = ["id", "name", "member_count", "refreshed_at", "sample_mode", "owner"]
    column_searchable_list = ["name"]
    column_filters = ["sample_mode", "refreshed_at", "owner.email"]
    column_labels = {"member_count": "Members", "owner.email": "Owner"}
    form_columns = [
        "name", "description", "criteria", "sample_mode", "sample_size", "sample_percent",
        "sample_seed", "email_template", "automatic_email", "owner",
    ]  # fmt: skip
    form_choices = {"sample_mode": SAMPLE_CHOICES}
    form_args = {
        "criteria": {"validators": [criteria_is_a_tree]},
        "email_template": {"query_factory": campaign_templates},
    }
    form_ajax_refs = {"owner": {"fields": ["email", "name"], "page_size": 20}}


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
    column_labels = {"owner.email": "Owner"}
    form_columns = ["name", "module", "criteria", "shared", "owner"]
    form_choices = {"module": MODULE_CHOICES}
    form_args = {"criteria": {"validators": [criteria_is_a_tree]}}
    form_ajax_refs = {"owner": {"fields": ["email", "name"], "page_size": 20}}
