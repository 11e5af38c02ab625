"""Workflows (admins define them): the rules, their on/off switch and the run log."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models import ActivityStatus, ActivityType
from models.labels import choices

from .base import ReadOnlyModelView, SecureModelView
from .forms import blank_select


class WorkflowView(SecureModelView):
    """When a saved activity matches, its contacts join its campaign (seed 004)."""

    admin_only = True
    new_rows_owned_by_you = False  # "owner" here is a condition on the activity
    column_list = ["id", "name", "active", "conditions"]
    column_formatters = {"conditions": lambda v, c, m, n: m.conditions_words}
    column_editable_list = ["active"]
    form_columns = ["name", "active", "activity_type", "activity_status", "owner", "campaign"]
    column_labels = {"conditions": _l("Conditions")}
    form_choices = {"activity_type": choices(ActivityType),
                    "activity_status": choices(ActivityStatus)}
    form_args = {"activity_type": blank_select(_l("any")),
                 "activity_status": blank_select(_l("any")),
                 "owner": {"label": _l("Activity owner (empty: anyone)"),
                           **blank_select(_l("anyone"))},
                 "campaign": {"label": _l("Activity campaign (empty: any campaign)"),
                              **blank_select(_l("any campaign"))}}

    def on_model_change(self, form, model, is_created):
        """Empty choices are "any"."""
        model.activity_type = model.activity_type or None
        model.activity_status = model.activity_status or None


class WorkflowRunView(ReadOnlyModelView):
    """The run log: each workflow applied to a save, with what it added and queued."""

    admin_only = True
    column_list = ["ran_at", "workflow", "trigger", "campaign", "activity_id", "source_job_id",
                   "activities", "added", "queued", "suppressed"]
    column_default_sort = ("ran_at", True)
    column_labels = {"activity_id": _l("Activity"), "source_job_id": _l("Job")}
