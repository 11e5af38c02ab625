"""Installation settings and the audit trail (admins only)."""

from __future__ import annotations

from flask import redirect
from flask_admin import expose

from models import Settings, db

from .base import ReadOnlyModelView, SecureModelView


class SettingsView(SecureModelView):
    """The single settings row: the list opens its edit form directly."""

    admin_only = True
    can_create = False
    can_delete = False
    can_export = False
    column_list = ["timezone", "activity_duration_minutes", "activity_earliest_start",
                   "activity_latest_end", "working_days", "email_waiting_period_days"]  # fmt: skip
    form_args = {
        "working_days": {"description": "ISO weekdays, 1 = Monday … 7 = Sunday"},
        "email_waiting_period_days": {
            "description": "The same template is not sent to the same contact again within this"
        },
    }

    @expose("/")
    def index_view(self):
        """There is one row; show its form rather than a list of one."""
        row = Settings.get()
        db.session.commit()
        return redirect(self.get_url(".edit_view", id=row.id, url=self.get_url(".edit_view",
                                                                               id=row.id)))


class AuditView(ReadOnlyModelView):
    """Who changed what: every create, update and delete made through the ORM."""

    admin_only = True
    can_export = True
    column_list = ["at", "user", "action", "table_name", "record_id", "summary", "changes"]
    column_default_sort = ("at", True)
    column_filters = ["action", "table_name", "record_id", "at", "user.email"]
    column_labels = {"user.email": "User", "table_name": "Table"}
    column_formatters = {
        "changes": lambda v, c, m, n: ", ".join(sorted(m.changes or {}))[:120],
    }
