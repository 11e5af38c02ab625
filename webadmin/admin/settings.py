"""Installation settings and the audit trail (admins only)."""

from __future__ import annotations

from flask import redirect, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

from models import Settings, db
from models.labels import label
from models.settings import (
    MAX_DURATION_MINUTES,
    MAX_MESSAGES_PER_SECOND,
    MAX_WAITING_DAYS,
    parse_working_days,
    timezone_problem,
    window_problem,
)

from ..i18n import number
from .audit_words import changed_fields, summary_words
from .base import ReadOnlyModelView, SecureModelView


def _valid_timezone(form, field):
    if problem := timezone_problem((field.data or "").strip()):
        raise ValidationError(problem[0].upper() + problem[1:] + ".")
    field.data = field.data.strip()


def _valid_working_days(form, field):
    try:
        field.data = ",".join(map(str, parse_working_days(field.data or "")))
    except ValueError as exc:
        raise ValidationError(str(exc)[0].upper() + str(exc)[1:] + ".") from None


def _between(low: int, high: int, unit):
    def check(form, field):
        if field.data is None or not low <= field.data <= high:
            raise ValidationError(_("A whole number of %(unit)s from %(low)s to %(high)s.",
                                    unit=unit, low=low, high=number(high)))

    return check


def _valid_window(form, field):
    duration = form.activity_duration_minutes.data if hasattr(form, "activity_duration_minutes") \
        else None
    problem = window_problem(form.activity_earliest_start.data, field.data, duration)
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:] + ".")


class SettingsView(SecureModelView):
    """The single settings row: the list opens its edit form directly."""

    admin_only = True
    can_create = False
    can_delete = False
    can_export = False
    column_list = ["timezone", "activity_duration_minutes", "activity_earliest_start",
                   "activity_latest_end", "working_days", "email_waiting_period_days"]
    # The rules are models.settings': the form names the field and what is allowed.
    form_args = {
        "timezone": {"description": _l("An IANA time zone, e.g. Europe/Helsinki, "
                                       "Europe/Stockholm, Europe/Budapest, UTC"),
                     "validators": [_valid_timezone]},
        "working_days": {"description": _l("ISO weekdays, 1 = Monday … 7 = Sunday, e.g. "
                                           "1,2,3,4,5"),
                         "validators": [_valid_working_days]},
        "activity_duration_minutes": {
            "validators": [_between(1, MAX_DURATION_MINUTES, _l("minutes"))]},
        "activity_latest_end": {"description": _l("After the earliest start, by at least one "
                                                  "activity's duration"),
                                "validators": [_valid_window]},
        "email_waiting_period_days": {
            "description": _l("The same template is not sent to the same contact again within "
                              "this many days (0: no waiting period)"),
            "validators": [_between(0, MAX_WAITING_DAYS, _l("days"))],
        },
        "email_messages_per_second": {
            "validators": [_between(1, MAX_MESSAGES_PER_SECOND, _l("messages per second"))]},
    }

    def get_one(self, id):
        """Row 1 always exists (made with defaults on first use); no other id does."""
        return Settings.get() if id == "1" else None

    def edit_form(self, obj=None):
        """The form, with each stored value that is not in use (its default is, see
        Settings.values) marked at its field, so the admin sees which one to fix and what
        is in effect meanwhile (the layout's banner lists them on every page)."""
        form = super().edit_form(obj)
        if request.method == "GET" and isinstance(obj, Settings):
            for name, said in obj.values().field_problems.items():
                if hasattr(form, name):
                    getattr(form, name).errors = [said]
        return form

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
    column_labels = {"user.email": _l("User"), "table_name": _l("Table")}
    column_formatters = {
        "action": lambda v, c, m, n: label(m.action, "audit_action"),
        "table_name": lambda v, c, m, n: label(m.table_name, "audit_table"),
        "summary": lambda v, c, m, n: summary_words(m.summary),
        "changes": lambda v, c, m, n: changed_fields(m.changes)[:160],
    }
