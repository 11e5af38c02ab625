"""Calendar activities."""

from __future__ import annotations

from flask_login import current_user

from jobs.email.sender import start_senders
from models import ActivityStatus, ActivityType, db
from models.settings import installation_tz
from models.workflows import run_for as run_workflows

from ..base import SecureModelView, enum_choices
from ..bulk import BulkActionsMixin
from ..bulk.activities import ACTIVITY_ACTIONS


def local_time(view, context, model, name) -> str:
    """A stored UTC timestamp as people read it: in the installation's time zone."""
    value = getattr(model, name)
    if value is None:
        return ""
    return value.astimezone(installation_tz()).strftime("%Y-%m-%d %H:%M")


class ActivityView(BulkActionsMixin, SecureModelView):
    """Calls, meetings, tasks and emails of users, linked to contacts."""

    bulk_area = "activities"
    bulk_actions = ACTIVITY_ACTIONS

    column_list = [
        "id", "number", "type", "subject", "owner", "start_at", "end_at", "status", "company",
        "campaign",
    ]
    column_default_sort = ("start_at", True)
    column_searchable_list = ["subject", "number"]
    column_filters = ["type", "status", "start_at", "owner.email", "campaign.name", "company.name"]
    # Readable filter URLs (?flt0_owner_equals=…) that stay valid when filters are added.
    named_filter_urls = True
    column_labels = {"start_at": "Start", "end_at": "End", "owner.email": "Owner",
                     "campaign.name": "Campaign", "company.name": "Company"}
    # Shown in the installation's time zone (stored in UTC); the form still edits UTC.
    column_formatters = {"start_at": local_time, "end_at": local_time}
    form_columns = [
        "type", "subject", "number", "owner", "start_at", "end_at", "status", "contacts",
        "company", "campaign", "notes",
    ]
    form_choices = {
        "type": enum_choices(ActivityType),
        "status": enum_choices(ActivityStatus),
    }
    # Also makes the type and status filters drop-downs instead of free text.
    column_choices = form_choices
    form_ajax_refs = {
        "owner": {"fields": ["email", "name"], "page_size": 20},
        "contacts": {"fields": ["email", "last_name"], "page_size": 20},
        "company": {"fields": ["name"], "page_size": 20},
        "campaign": {"fields": ["name", "number"], "page_size": 20},
    }

    def after_model_change(self, form, model, is_created):
        """Seed 004: the workflows run on every save of an activity (its contacts join its
        campaign, which sends that campaign's email to the newly joined)."""
        runs = run_workflows([model.id], trigger="form", user_id=current_user.get_id() and
                             int(current_user.get_id()))
        db.session.commit()
        if any(r.queued for r in runs):
            start_senders()
