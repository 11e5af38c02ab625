"""Scheduled actions (admins only)."""

from __future__ import annotations

from croniter import croniter
from wtforms import ValidationError

from models import ActionKind, Frequency

from .base import SecureModelView, enum_choices


def cron_is_valid(form, field):
    """A cron expression must parse; only checked when the frequency is "cron"."""
    if form.frequency.data == Frequency.CRON and not croniter.is_valid(field.data or ""):
        raise ValidationError(f"not a valid cron expression: {field.data!r}")


class ScheduledActionView(SecureModelView):
    """What runs when: type, target, frequency, time of day, time zone, active."""

    admin_only = True
    column_list = [
        "id", "name", "kind", "target_group", "frequency", "time_of_day", "timezone", "active",
        "last_run_at", "next_run_at",
    ]  # fmt: skip
    column_filters = ["kind", "frequency", "active", "next_run_at"]
    column_searchable_list = ["name"]
    form_columns = [
        "name", "kind", "target_group", "campaign", "frequency", "cron", "time_of_day",
        "weekdays", "day_of_month", "timezone", "active",
    ]  # fmt: skip
    form_choices = {
        "kind": enum_choices(ActionKind),
        "frequency": enum_choices(Frequency),
    }
    form_args = {
        "cron": {"validators": [cron_is_valid], "description": "Used when frequency is cron"},
        "weekdays": {"description": "ISO weekdays for weekly actions, 1 = Monday, e.g. 1,3"},
    }
